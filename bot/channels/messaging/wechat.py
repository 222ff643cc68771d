"""WeChat Official Account (微信公众号), safe mode: ``/webhooks/wechat/webhook``.

* GET is the server verification: ``signature`` = sha1 of the sorted token, timestamp and
  nonce; the answer is ``echostr`` as it came (403 on a bad signature or a stale timestamp).
* POST must be in safe mode (``encrypt_type=aes``): ``msg_signature`` signs the encrypted
  body and is checked in constant time, the timestamp must be within
  :data:`MAX_CLOCK_SKEW_S`, the body is parsed by :mod:`wxxml` (no DTD, no entities) and
  decrypted by :mod:`wxcrypto` (the app id inside must be ours). Plaintext and compatible
  mode are refused (403): their ``signature`` covers only the timestamp and nonce, not the
  body, so one signature seen once would authenticate any forged message.
* Text messages go to the bot, idempotent on ``MsgId`` (WeChat retries three times when it
  gets no answer within 5 s). A ``subscribe`` event becomes the text ``/greet`` (a welcome);
  other events are acknowledged and ignored; other message types get a bilingual "text only"
  passive reply.
* ``PASSIVE_REPLY``: when the bot answers within :data:`ACK_WITHIN_S` (4 s), its first
  message rides on the HTTP answer as an encrypted passive reply and the rest go through the
  customer-service API (``cgi-bin/message/custom/send``); later, the answer is ``success``
  and every message goes through the API. The access token (``cgi-bin/token``) is cached and
  renewed once on errcode 40001/40014/42001. Outside the 48-hour window WeChat answers
  errcode 45015: logged by the base, not retried. Buttons become numbered options.

Rasa environment only.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import time
from typing import Any, ClassVar

from rasa.core.channels.channel import InputChannel
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.messaging.base import Inbound, MessagingInput, OutMessage, PlatformError
from bot.channels.messaging.wecom import (
    MAX_CLOCK_SKEW_S,
    MAX_CONTENT_BYTES,
    PLAIN,
    TEXT_ONLY,
    XML,
    credential,
    fresh,
    refusal,
    render_text,
)
from bot.channels.messaging.wxapi import AccessTokenCache, call_api, split_utf8, utf8_len
from bot.channels.messaging.wxcrypto import WXBizMsgCrypt, WXCryptoError, signature_matches
from bot.channels.messaging.wxxml import XMLFormatError, parse_xml, render_xml

logger = logging.getLogger(__name__)

CHANNEL_NAME = "wechat"
ENV_APP_ID = "WECHAT_APP_ID"
ENV_APP_SECRET = "WECHAT_APP_SECRET"
ENV_TOKEN = "WECHAT_TOKEN"
ENV_AES_KEY = "WECHAT_AES_KEY"
ENV_API_URL = "WECHAT_API_URL"
DEFAULT_API_URL = "https://api.weixin.qq.com"
#: Seconds the webhook waits for the bot before answering: WeChat gives up after 5 s.
PASSIVE_WINDOW_S = 4.0
#: The text a ``subscribe`` event becomes (the greet intent: a welcome).
SUBSCRIBE_TEXT = "/greet"
#: The answer WeChat documents for "received, no passive reply".
SUCCESS = "success"
ENCRYPT_TYPE_AES = "aes"
#: Request attributes holding state between verify(), parse() and acknowledge().
CTX_PLAIN = "wx_plain"
CTX_REPLY_TO = "wx_reply_to"
#: What WeChat's echostr looks like (it is echoed back: nothing else is).
ECHOSTR_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")


class WeChatInput(MessagingInput):
    """The WeChat Official Account channel (see the module docstring).

    Args:
        app_id: The AppID, also the receive id inside encrypted messages.
        app_secret: The AppSecret (for ``cgi-bin/token``).
        token: The server configuration's Token.
        aes_key: The EncodingAESKey (43 characters).
        api_url: The API base URL.
    """

    ENV: ClassVar[tuple[str, ...]] = (ENV_APP_ID, ENV_APP_SECRET, ENV_TOKEN, ENV_AES_KEY)
    MAX_CHARS: ClassVar[int] = MAX_CONTENT_BYTES
    ACK_WITHIN_S: ClassVar[float] = PASSIVE_WINDOW_S
    NUMBERED_BUTTONS: ClassVar[bool] = True
    PASSIVE_REPLY: ClassVar[bool] = True

    def __init__(
        self,
        app_id: str,
        app_secret: str,
        token: str,
        aes_key: str,
        api_url: str = DEFAULT_API_URL,
    ) -> None:
        super().__init__()
        try:
            self.crypt = WXBizMsgCrypt(token, aes_key, app_id)
        except ValueError:
            raise ValueError(f"{ENV_AES_KEY} must be the 43-character EncodingAESKey") from None
        self.app_id = app_id
        self._secret = app_secret
        self.api_url = api_url.rstrip("/")
        self.tokens = AccessTokenCache(self._fetch_token)
        self.clock = time.time

    @classmethod
    def name(cls) -> str:
        """The channel's name: ``wechat``."""
        return CHANNEL_NAME

    @classmethod
    def text_length(cls, text: str) -> int:
        """Text is measured in UTF-8 bytes (:attr:`MAX_CHARS` is 2048 bytes)."""
        return utf8_len(text)

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        """Builds the channel from bot/credentials.yml (falling back to the environment)."""
        return cls(
            credential(credentials, "app_id", ENV_APP_ID),
            credential(credentials, "app_secret", ENV_APP_SECRET),
            credential(credentials, "token", ENV_TOKEN),
            credential(credentials, "aes_key", ENV_AES_KEY),
            os.environ.get(ENV_API_URL, "").strip() or DEFAULT_API_URL,
        )

    # -- inbound -------------------------------------------------------------------------------
    def _timestamp_nonce(self, request: Request) -> tuple[str, str] | HTTPResponse:
        timestamp = request.args.get("timestamp")
        nonce = request.args.get("nonce")
        if not timestamp or not nonce:
            return refusal(401, "missing signature")
        if not fresh(timestamp, self.clock(), MAX_CLOCK_SKEW_S) or len(nonce) > 64:
            return refusal(403, "stale or malformed timestamp")
        return timestamp, nonce

    async def handshake(self, request: Request) -> HTTPResponse | None:
        """The server verification (GET): ``echostr`` back when ``signature`` is right."""
        if request.method != "GET":
            return None
        checked = self._timestamp_nonce(request)
        if isinstance(checked, HTTPResponse):
            return checked
        expected = self.crypt.signature(*checked)
        if not signature_matches(expected, request.args.get("signature")):
            return refusal(403, "bad signature")
        echostr = request.args.get("echostr") or ""
        if not ECHOSTR_RE.match(echostr):
            return refusal(400, "malformed echostr")
        return response.text(echostr, content_type=PLAIN)

    def verify(self, request: Request) -> HTTPResponse | None:
        """Safe mode only: checks ``msg_signature``, the timestamp and the app id."""
        if request.args.get("encrypt_type") != ENCRYPT_TYPE_AES:
            return refusal(403, "safe mode (encrypt_type=aes) required")
        signature = request.args.get("msg_signature")
        if not signature:
            return refusal(401, "missing signature")
        checked = self._timestamp_nonce(request)
        if isinstance(checked, HTTPResponse):
            return checked
        try:
            encrypted = parse_xml(request.body or b"").get("Encrypt")
        except XMLFormatError:
            return refusal(400, "malformed XML")
        if not isinstance(encrypted, str) or not encrypted:
            return refusal(400, "no Encrypt element")
        try:
            plain = self.crypt.decrypt_signed(signature, *checked, encrypted)
        except WXCryptoError:
            return refusal(403, "bad signature")
        setattr(request.ctx, CTX_PLAIN, plain)
        return None

    def parse(self, request: Request) -> list[Inbound] | HTTPResponse:
        """The text message (or subscribe event) inside, or an answer without processing."""
        try:
            message = parse_xml(getattr(request.ctx, CTX_PLAIN, b""))
        except XMLFormatError:
            return refusal(400, "malformed message")
        user = message.get("FromUserName")
        account = message.get("ToUserName")
        if not isinstance(user, str) or not user or len(user) > 128:
            return refusal(400, "no sender")
        if not isinstance(account, str) or not account or len(account) > 128:
            return refusal(400, "no account")
        setattr(request.ctx, CTX_REPLY_TO, (user, account))
        created = str(message.get("CreateTime", ""))[:20]
        msg_type = message.get("MsgType")
        address = {"touser": user}
        if msg_type == "event":
            if str(message.get("Event", "")).lower() != "subscribe":
                return []
            return [Inbound(f"{user}:{created}:subscribe", user, SUBSCRIBE_TEXT, address)]
        if msg_type != "text":
            return self._passive_response(request, TEXT_ONLY)
        text = message.get("Content")
        if not isinstance(text, str):
            return refusal(400, "no content")
        msg_id = message.get("MsgId")
        if not isinstance(msg_id, str) or not msg_id or len(msg_id) > 64:
            msg_id = f"{user}:{created}"
        return [Inbound(msg_id, user, text, address)]

    def _passive_response(self, request: Request, text: str) -> HTTPResponse:
        reply_to = getattr(request.ctx, CTX_REPLY_TO, None)
        if reply_to is None or not text.strip():
            return response.text(SUCCESS, content_type=PLAIN)
        user, account = reply_to
        timestamp = str(int(self.clock()))
        nonce = str(secrets.randbelow(10**9))
        reply = render_xml(
            {
                "ToUserName": user,
                "FromUserName": account,
                "CreateTime": int(timestamp),
                "MsgType": "text",
                "Content": text,
            }
        )
        fields = self.crypt.encrypt_reply(reply, timestamp, nonce)
        return response.text(render_xml(dict(fields)), content_type=XML)

    def acknowledge(self, request: Request, passive: OutMessage | None) -> HTTPResponse:
        """``success``, or the first reply as an encrypted passive reply."""
        if passive is None:
            return response.text(SUCCESS, content_type=PLAIN)
        text = render_text(passive)
        if utf8_len(text) > MAX_CONTENT_BYTES:
            text = split_utf8(text, MAX_CONTENT_BYTES)[0]
        return self._passive_response(request, text)

    # -- outbound ------------------------------------------------------------------------------
    async def _fetch_token(self) -> tuple[str, float]:
        body = await call_api(
            "GET",
            f"{self.api_url}/cgi-bin/token",
            params={
                "grant_type": "client_credential",
                "appid": self.app_id,
                "secret": self._secret,
            },
            what="token",
        )
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise PlatformError("token: no access_token", retryable=True)
        return token, float(body.get("expires_in") or 7200)

    async def _send_text(self, user: str, text: str) -> None:
        payload = {"touser": user, "msgtype": "text", "text": {"content": text}}

        async def attempt(token: str) -> dict[str, Any]:
            return await call_api(
                "POST",
                f"{self.api_url}/cgi-bin/message/custom/send",
                params={"access_token": token},
                payload=payload,
                what="message/custom/send",
            )

        await self.tokens.call(attempt)

    async def send(self, address: dict[str, Any], message: OutMessage) -> None:
        """Sends one text through the customer-service API (45015: not retryable).

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
