"""WeCom (企业微信): a self-built app's callback channel (``/webhooks/wecom/webhook``).

* GET is WeCom's URL verification: ``msg_signature`` signs the encrypted ``echostr``; the
  answer is the decrypted echostr in plain text (403 on a bad signature).
* POST carries an encrypted XML message: ``msg_signature`` (sha1 of token, timestamp, nonce
  and ``Encrypt``) is checked in constant time, the timestamp must be within
  :data:`MAX_CLOCK_SKEW_S` of our clock, the body is parsed by :mod:`wxxml` (no DTD, no
  entities) and decrypted by :mod:`wxcrypto` (the corp id inside must be ours).
* Text messages go to the bot, idempotent on ``MsgId`` (WeCom retries three times when it
  gets no answer within 5 s). Other message types get a bilingual "text only" answer as an
  encrypted passive reply; events (``enter_agent``...) are acknowledged and ignored.
* Replies go through ``cgi-bin/message/send`` (``touser``, ``agentid``, text of at most
  2048 UTF-8 bytes); the access token from ``cgi-bin/gettoken`` is cached until shortly
  before ``expires_in`` and renewed once on errcode 40014/42001. Buttons become numbered
  options ("1. ..."; answering "1" picks the first).

The crypto is our own (``wxcrypto``, cross-checked against wechatpy by the tests): the SDKs
bring blocking HTTP clients into Rasa's event loop. Rasa environment only.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from typing import Any, ClassVar

from rasa.core.channels.channel import InputChannel
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.messaging.base import Inbound, MessagingInput, OutMessage, PlatformError
from bot.channels.messaging.outbound import numbered_lines
from bot.channels.messaging.wxapi import AccessTokenCache, call_api, split_utf8, utf8_len
from bot.channels.messaging.wxcrypto import WXBizMsgCrypt, WXCryptoError
from bot.channels.messaging.wxxml import XMLFormatError, parse_xml, render_xml

logger = logging.getLogger(__name__)

CHANNEL_NAME = "wecom"
ENV_CORP_ID = "WECOM_CORP_ID"
ENV_AGENT_ID = "WECOM_AGENT_ID"
ENV_SECRET = "WECOM_SECRET"
ENV_TOKEN = "WECOM_TOKEN"
ENV_AES_KEY = "WECOM_AES_KEY"
ENV_API_URL = "WECOM_API_URL"
DEFAULT_API_URL = "https://qyapi.weixin.qq.com"
#: Documented limit of a text message's content (message/send and passive replies).
MAX_CONTENT_BYTES = 2048
#: Seconds the webhook waits for the bot before its empty 200 (WeCom gives up after 5 s):
#: a failure within it gets a 500, so WeCom delivers the message again.
ACK_WAIT_S = 3.0
#: Seconds a callback's timestamp may differ from our clock (replays of old requests).
MAX_CLOCK_SKEW_S = 600
#: Request attribute holding the decrypted message between verify() and parse().
CTX_PLAIN = "wx_plain"
TEXT_ONLY = (
    "目前只能处理文字消息，请用文字告诉我您的问题。 / "
    "I can only read text messages for now: please type your question."
)
PLAIN = "text/plain; charset=utf-8"
XML = "application/xml; charset=utf-8"


def credential(credentials: dict[str, Any] | None, key: str, env: str) -> str:
    """``credentials[key]`` when set, else the environment variable ``env`` (stripped)."""
    value = (credentials or {}).get(key)
    if value is None or str(value).strip() == "":
        value = os.environ.get(env, "")
    return str(value).strip()


def fresh(timestamp: str | None, now: float, skew: float = MAX_CLOCK_SKEW_S) -> bool:
    """Whether a callback timestamp (seconds, digits only) is within ``skew`` of ``now``."""
    if not timestamp or not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        return False
    return abs(int(timestamp) - now) <= skew


def refusal(status: int, reason: str) -> HTTPResponse:
    """A short plain-text refusal (never echoes the request)."""
    return response.text(reason, status=status, content_type=PLAIN)


class WeComInput(MessagingInput):
    """The WeCom self-built app channel (see the module docstring).

    Args:
        corp_id: The corp id (企业ID), also the receive id inside encrypted messages.
        agent_id: The app's AgentId.
        secret: The app's Secret (for ``gettoken``).
        token: The callback Token.
        aes_key: The callback EncodingAESKey (43 characters).
        api_url: The API base URL.
    """

    ENV: ClassVar[tuple[str, ...]] = (ENV_CORP_ID, ENV_AGENT_ID, ENV_SECRET, ENV_TOKEN, ENV_AES_KEY)
    MAX_CHARS: ClassVar[int] = MAX_CONTENT_BYTES
    ACK_WITHIN_S: ClassVar[float] = ACK_WAIT_S
    NUMBERED_BUTTONS: ClassVar[bool] = True

    def __init__(
        self,
        corp_id: str,
        agent_id: str,
        secret: str,
        token: str,
        aes_key: str,
        api_url: str = DEFAULT_API_URL,
    ) -> None:
        super().__init__()
        if not agent_id.isdigit():
            raise ValueError(f"{ENV_AGENT_ID} must be the app's numeric AgentId")
        try:
            self.crypt = WXBizMsgCrypt(token, aes_key, corp_id)
        except ValueError:
            raise ValueError(f"{ENV_AES_KEY} must be the 43-character EncodingAESKey") from None
        self.corp_id = corp_id
        self.agent_id = int(agent_id)
        self._secret = secret
        self.api_url = api_url.rstrip("/")
        self.tokens = AccessTokenCache(self._fetch_token)
        self.clock = time.time

    @classmethod
    def name(cls) -> str:
        """The channel's name: ``wecom``."""
        return CHANNEL_NAME

    @classmethod
    def text_length(cls, text: str) -> int:
        """WeCom measures text in UTF-8 bytes (:attr:`MAX_CHARS` is 2048 bytes)."""
        return utf8_len(text)

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        """Builds the channel from bot/credentials.yml (falling back to the environment)."""
        return cls(
            credential(credentials, "corp_id", ENV_CORP_ID),
            credential(credentials, "agent_id", ENV_AGENT_ID),
            credential(credentials, "secret", ENV_SECRET),
            credential(credentials, "token", ENV_TOKEN),
            credential(credentials, "aes_key", ENV_AES_KEY),
            os.environ.get(ENV_API_URL, "").strip() or DEFAULT_API_URL,
        )

    # -- inbound -------------------------------------------------------------------------------
    def _signed(self, request: Request) -> tuple[str, str, str] | HTTPResponse:
        args = request.args
        signature = args.get("msg_signature")
        timestamp = args.get("timestamp")
        nonce = args.get("nonce")
        if not signature or not timestamp or not nonce:
            return refusal(401, "missing signature")
        if not fresh(timestamp, self.clock()) or len(nonce) > 64:
            return refusal(403, "stale or malformed timestamp")
        return signature, timestamp, nonce

    async def handshake(self, request: Request) -> HTTPResponse | None:
        """WeCom's URL verification (GET): the decrypted ``echostr`` in plain text."""
        if request.method != "GET":
            return None
        signed = self._signed(request)
        if isinstance(signed, HTTPResponse):
            return signed
        # A "+" that reached us unencoded was turned into a space by the query parser.
        echostr = (request.args.get("echostr") or "").replace(" ", "+")
        try:
            plain = self.crypt.decrypt_signed(*signed, echostr)
        except WXCryptoError:
            return refusal(403, "bad signature")
        return response.text(plain.decode("utf-8", "replace"), content_type=PLAIN)

    def verify(self, request: Request) -> HTTPResponse | None:
        """Checks ``msg_signature``, the timestamp and the corp id; keeps the plaintext."""
        signed = self._signed(request)
        if isinstance(signed, HTTPResponse):
            return signed
        try:
            encrypted = parse_xml(request.body or b"").get("Encrypt")
        except XMLFormatError:
            return refusal(400, "malformed XML")
        if not isinstance(encrypted, str) or not encrypted:
            return refusal(400, "no Encrypt element")
        try:
            plain = self.crypt.decrypt_signed(*signed, encrypted)
        except WXCryptoError:
            return refusal(403, "bad signature")
        setattr(request.ctx, CTX_PLAIN, plain)
        return None

    def parse(self, request: Request) -> list[Inbound] | HTTPResponse:
        """The text message inside, or an answer without processing (events, other types)."""
        try:
            message = parse_xml(getattr(request.ctx, CTX_PLAIN, b""))
        except XMLFormatError:
            return refusal(400, "malformed message")
        user = message.get("FromUserName")
        msg_type = message.get("MsgType")
        if not isinstance(user, str) or not user or len(user) > 256:
            return refusal(400, "no sender")
        if msg_type == "event":
            return []
        if msg_type != "text":
            return self.passive(request, user, TEXT_ONLY)
        text = message.get("Content")
        if not isinstance(text, str):
            return refusal(400, "no content")
        msg_id = message.get("MsgId")
        if not isinstance(msg_id, str) or not msg_id or len(msg_id) > 64:
            msg_id = f"{user}:{message.get('CreateTime', '')}"
        return [Inbound(msg_id, user, text, {"touser": user})]

    def passive(self, request: Request, user: str, text: str) -> HTTPResponse:
        """An encrypted passive reply to the callback (a text answered in the HTTP answer)."""
        timestamp = str(int(self.clock()))
        nonce = request.args.get("nonce") or str(secrets.randbelow(10**9))
        reply = render_xml(
            {
                "ToUserName": user,
                "FromUserName": self.corp_id,
                "CreateTime": int(timestamp),
                "MsgType": "text",
                "Content": text,
            }
        )
        fields = self.crypt.encrypt_reply(reply, timestamp, nonce)
        return response.text(render_xml(dict(fields)), content_type=XML)

    def acknowledge(self, request: Request, passive: OutMessage | None) -> HTTPResponse:
        """The 200 answer: empty (replies go through the API)."""
        return response.text("", content_type=PLAIN)

    # -- outbound ------------------------------------------------------------------------------
    async def _fetch_token(self) -> tuple[str, float]:
        body = await call_api(
            "GET",
            f"{self.api_url}/cgi-bin/gettoken",
            params={"corpid": self.corp_id, "corpsecret": self._secret},
            what="gettoken",
        )
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise PlatformError("gettoken: no access_token", retryable=True)
        return token, float(body.get("expires_in") or 7200)

    async def _send_text(self, user: str, text: str) -> None:
        payload = {
            "touser": user,
            "msgtype": "text",
            "agentid": self.agent_id,
            "text": {"content": text},
            "safe": 0,
        }

        async def attempt(token: str) -> dict[str, Any]:
            return await call_api(
                "POST",
                f"{self.api_url}/cgi-bin/message/send",
                params={"access_token": token},
                payload=payload,
                what="message/send",
            )

        answer = await self.tokens.call(attempt)
        if answer.get("invaliduser"):
            raise PlatformError("message/send: invalid user", retryable=False)

    async def send(self, address: dict[str, Any], message: OutMessage) -> None:
        """Sends one text (numbered buttons already in it) to the user of ``address``.

        The base splits replies to 2048 UTF-8 bytes (:meth:`text_length`), so this is one API
        call; only a direct send of a longer text (an image link appended...) takes several.

        Raises:
            PlatformError: The API failed (retryable or not).
        """
        user = address.get("touser")
        if not isinstance(user, str) or not user:
            raise PlatformError("no touser in the address", retryable=False)
        text = render_text(message)
        if not text.strip():
            return
        pieces = (
            split_utf8(text, MAX_CONTENT_BYTES) if utf8_len(text) > MAX_CONTENT_BYTES else [text]
        )
        for piece in pieces:
            await self._send_text(user, piece)


def render_text(message: OutMessage) -> str:
    """The message's text, its image link and any buttons left as numbered lines.

    The base renders buttons as numbered lines before ``send``; a message that still has
    buttons (a direct send) gets them here, so they are never lost.
    """
    parts = [part for part in (message.text, message.image or "") if part]
    if message.buttons:
        parts.append(numbered_lines(message.buttons))
    return "\n".join(parts)
