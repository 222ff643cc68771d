"""What the WeCom (企业微信) and WeChat Official Account (微信公众号) channels share.

Both platforms deliver AES-encrypted XML callbacks signed with ``msg_signature`` (the same
:mod:`wxcrypto` scheme, the receive id being the corp id or the app id), answer with the same
encrypted passive-reply envelope, and send text through an ``errcode`` API with a cached
access token (:mod:`wxapi`). :class:`WeixinInput` holds those parts:

* the callback's ``msg_signature``, ``timestamp`` and ``nonce`` (401 missing; 403 more than
  :data:`MAX_CLOCK_SKEW_S` from our clock or an oversized nonce), the ``Encrypt`` element
  parsed by :mod:`wxxml` (no DTD, no entities) and decrypted (403 on a bad signature or
  another receive id), the plaintext kept on the request for :meth:`MessagingInput.parse`;
* the text message inside (idempotent on ``MsgId``, else sender and ``CreateTime``);
* an encrypted passive reply (a text answered in the HTTP answer);
* ``send``: the text (numbered buttons already in it, an image as its link) in pieces of at
  most :data:`MAX_CONTENT_BYTES` UTF-8 bytes, one API call each, with the platform's token.

What differs (URL verification, safe-mode checks, events, the send endpoint and its body)
stays in :mod:`wecom` and :mod:`wechat`. Rasa environment only.
"""

from __future__ import annotations

import logging
import time
from typing import Any, ClassVar

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.messaging.base import Inbound, MessagingInput, OutMessage, PlatformError
from bot.channels.messaging.http import AccessTokenCache
from bot.channels.messaging.outbound import numbered_lines
from bot.channels.messaging.platform import with_image
from bot.channels.messaging.wxapi import call_api, split_utf8, utf8_len
from bot.channels.messaging.wxcrypto import WXBizMsgCrypt, WXCryptoError
from bot.channels.messaging.wxxml import XMLFormatError, parse_xml, render_xml

logger = logging.getLogger(__name__)

#: Documented limit of a text message's content (API sends and passive replies).
MAX_CONTENT_BYTES = 2048
#: Seconds a callback's timestamp may differ from our clock (replays of old requests).
MAX_CLOCK_SKEW_S = 600
#: Longest nonce, ``MsgId`` and ``CreateTime`` accepted.
MAX_NONCE_CHARS = 64
MAX_MSG_ID_CHARS = 64
MAX_CREATE_TIME_CHARS = 20
#: Request attribute holding the decrypted message between verify() and parse().
CTX_PLAIN = "wx_plain"
TEXT_ONLY = (
    "目前只能处理文字消息，请用文字告诉我您的问题。 / "
    "I can only read text messages for now: please type your question."
)
PLAIN = "text/plain; charset=utf-8"
XML = "application/xml; charset=utf-8"
DEFAULT_TOKEN_LIFETIME_S = 7200.0
API_PREFIX = "/cgi-bin/"


def fresh(timestamp: str | None, now: float, skew: float = MAX_CLOCK_SKEW_S) -> bool:
    """Whether a callback timestamp (seconds, digits only) is within ``skew`` of ``now``."""
    if not timestamp or not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        return False
    return abs(int(timestamp) - now) <= skew


def refusal(status: int, reason: str) -> HTTPResponse:
    """A short plain-text refusal (never echoes the request)."""
    return response.text(reason, status=status, content_type=PLAIN)


def render_text(message: OutMessage) -> str:
    """The message's text, its image link and any buttons left as numbered lines.

    The base renders buttons as numbered lines before ``send``; a message that still has
    buttons (a direct send) gets them here, so they are never lost.
    """
    text = with_image(message.text, message.image)
    if message.buttons:
        lines = numbered_lines(message.buttons)
        text = f"{text}\n{lines}" if text else lines
    return text


class WeixinInput(MessagingInput):
    """The shared part of the WeCom and WeChat channels (see the module docstring).

    A subclass sets :attr:`TOKEN_PATH`, :attr:`SEND_PATH`, :attr:`ENV_AES_KEY`, and says
    which query parameters fetch a token (:meth:`token_params`) and what the send body is
    (:meth:`message_body`).

    Args:
        token: The callback Token.
        aes_key: The callback EncodingAESKey (43 characters).
        receive_id: The corp id / app id inside encrypted messages.
        secret: The secret that fetches access tokens.
        api_url: The API base URL.
    """

    MAX_CHARS: ClassVar[int] = MAX_CONTENT_BYTES
    NUMBERED_BUTTONS: ClassVar[bool] = True
    TOKEN_PATH: ClassVar[str] = ""
    SEND_PATH: ClassVar[str] = ""
    ENV_AES_KEY: ClassVar[str] = ""
    #: Longest ``FromUserName`` accepted.
    MAX_USER_CHARS: ClassVar[int] = 128

    def __init__(
        self, token: str, aes_key: str, receive_id: str, secret: str, api_url: str
    ) -> None:
        super().__init__()
        try:
            self.crypt = WXBizMsgCrypt(token, aes_key, receive_id)
        except ValueError:
            raise ValueError(
                f"{self.ENV_AES_KEY} must be the 43-character EncodingAESKey"
            ) from None
        self._secret = secret
        self.api_url = api_url.rstrip("/")
        self.tokens = AccessTokenCache(self._fetch_token)
        self.clock = time.time

    @classmethod
    def text_length(cls, text: str) -> int:
        """Both platforms measure text in UTF-8 bytes (:attr:`MAX_CHARS` is 2048 bytes)."""
        return utf8_len(text)

    # -- inbound -------------------------------------------------------------------------------
    def _timestamp_nonce(self, request: Request) -> tuple[str, str] | HTTPResponse:
        """The callback's timestamp and nonce, or the refusal (401 missing, 403 stale)."""
        timestamp = request.args.get("timestamp")
        nonce = request.args.get("nonce")
        if not timestamp or not nonce:
            return refusal(401, "missing signature")
        if not fresh(timestamp, self.clock()) or len(nonce) > MAX_NONCE_CHARS:
            return refusal(403, "stale or malformed timestamp")
        return timestamp, nonce

    def _signed(self, request: Request) -> tuple[str, str, str] | HTTPResponse:
        """The callback's ``msg_signature``, timestamp and nonce, or the refusal."""
        signature = request.args.get("msg_signature")
        if not signature:
            return refusal(401, "missing signature")
        checked = self._timestamp_nonce(request)
        if isinstance(checked, HTTPResponse):
            return checked
        return (signature, *checked)

    def _decrypt_body(
        self, request: Request, signature: str, timestamp: str, nonce: str
    ) -> HTTPResponse | None:
        """Decrypts the body's ``Encrypt`` (kept on the request); None, or the refusal."""
        try:
            encrypted = parse_xml(request.body or b"").get("Encrypt")
        except XMLFormatError:
            return refusal(400, "malformed XML")
        if not isinstance(encrypted, str) or not encrypted:
            return refusal(400, "no Encrypt element")
        try:
            plain = self.crypt.decrypt_signed(signature, timestamp, nonce, encrypted)
        except WXCryptoError:
            return refusal(403, "bad signature")
        setattr(request.ctx, CTX_PLAIN, plain)
        return None

    def verify(self, request: Request) -> HTTPResponse | None:
        """Checks ``msg_signature``, the timestamp and the receive id; keeps the plaintext."""
        signed = self._signed(request)
        if isinstance(signed, HTTPResponse):
            return signed
        return self._decrypt_body(request, *signed)

    def _message(self, request: Request) -> tuple[dict[str, Any], str] | HTTPResponse:
        """The decrypted message's fields and its sender (``FromUserName``), or a 400."""
        try:
            message = parse_xml(getattr(request.ctx, CTX_PLAIN, b""))
        except XMLFormatError:
            return refusal(400, "malformed message")
        user = message.get("FromUserName")
        if not isinstance(user, str) or not user or len(user) > self.MAX_USER_CHARS:
            return refusal(400, "no sender")
        return message, user

    @staticmethod
    def _text_inbound(message: dict[str, Any], user: str) -> list[Inbound] | HTTPResponse:
        """The text message of ``user`` (keyed on ``MsgId``, else sender and time)."""
        text = message.get("Content")
        if not isinstance(text, str):
            return refusal(400, "no content")
        msg_id = message.get("MsgId")
        if not isinstance(msg_id, str) or not msg_id or len(msg_id) > MAX_MSG_ID_CHARS:
            msg_id = f"{user}:{created_of(message)}"
        return [Inbound(msg_id, user, text, {"touser": user})]

    def _encrypted_reply(self, user: str, account: str, text: str, nonce: str) -> HTTPResponse:
        """An encrypted passive reply: ``text`` from ``account`` to ``user``."""
        timestamp = str(int(self.clock()))
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

    # -- outbound ------------------------------------------------------------------------------
    def token_params(self) -> dict[str, str]:
        """The query of :attr:`TOKEN_PATH` (the app's id and secret)."""
        raise NotImplementedError

    def message_body(self, user: str, text: str) -> dict[str, Any]:
        """The JSON body of :attr:`SEND_PATH` for one text."""
        return {"touser": user, "msgtype": "text", "text": {"content": text}}

    def check_sent(self, answer: dict[str, Any]) -> None:
        """Raises :class:`PlatformError` when a successful answer still says it failed."""

    async def _fetch_token(self) -> tuple[str, float]:
        what = self.TOKEN_PATH.removeprefix(API_PREFIX)
        body = await call_api(
            "GET", self.api_url + self.TOKEN_PATH, params=self.token_params(), what=what
        )
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise PlatformError(f"{what}: no access_token", retryable=True)
        return token, float(body.get("expires_in") or DEFAULT_TOKEN_LIFETIME_S)

    async def _send_text(self, user: str, text: str) -> None:
        payload = self.message_body(user, text)

        async def attempt(token: str) -> dict[str, Any]:
            return await call_api(
                "POST",
                self.api_url + self.SEND_PATH,
                params={"access_token": token},
                payload=payload,
                what=self.SEND_PATH.removeprefix(API_PREFIX),
            )

        self.check_sent(await self.tokens.call(attempt))

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


def created_of(message: dict[str, Any]) -> str:
    """The message's ``CreateTime`` as text (cut to :data:`MAX_CREATE_TIME_CHARS`)."""
    return str(message.get("CreateTime", ""))[:MAX_CREATE_TIME_CHARS]
