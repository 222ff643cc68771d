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
import re
import secrets
from typing import ClassVar

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.messaging.base import Inbound, OutMessage
from bot.channels.messaging.wxapi import split_utf8, utf8_len
from bot.channels.messaging.wxchannel import (
    MAX_CONTENT_BYTES,
    PLAIN,
    TEXT_ONLY,
    WeixinInput,
    created_of,
    refusal,
    render_text,
)
from bot.channels.messaging.wxcrypto import signature_matches

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
#: Request attribute holding the reply's (user, account) between parse() and acknowledge().
CTX_REPLY_TO = "wx_reply_to"
#: What WeChat's echostr looks like (it is echoed back: nothing else is).
ECHOSTR_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")


class WeChatInput(WeixinInput):
    """The WeChat Official Account channel (see the module docstring).

    Args:
        app_id: The AppID, also the receive id inside encrypted messages.
        app_secret: The AppSecret (for ``cgi-bin/token``).
        token: The server configuration's Token.
        aes_key: The EncodingAESKey (43 characters).
        api_url: The API base URL.
    """

    ENV: ClassVar[tuple[str, ...]] = (ENV_APP_ID, ENV_APP_SECRET, ENV_TOKEN, ENV_AES_KEY)
    ARGUMENTS = ("app_id", "app_secret", "token", "aes_key", "api_url")
    DEFAULTS = {"api_url": DEFAULT_API_URL}
    ACK_WITHIN_S: ClassVar[float] = PASSIVE_WINDOW_S
    PASSIVE_REPLY: ClassVar[bool] = True
    TOKEN_PATH: ClassVar[str] = "/cgi-bin/token"
    SEND_PATH: ClassVar[str] = "/cgi-bin/message/custom/send"
    ENV_AES_KEY: ClassVar[str] = ENV_AES_KEY

    def __init__(
        self,
        app_id: str,
        app_secret: str,
        token: str,
        aes_key: str,
        api_url: str = DEFAULT_API_URL,
    ) -> None:
        super().__init__(token, aes_key, app_id, app_secret, api_url)
        self.app_id = app_id

    @classmethod
    def name(cls) -> str:
        """The channel's name: ``wechat``."""
        return CHANNEL_NAME

    # -- inbound -------------------------------------------------------------------------------
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
        return super().verify(request)

    def parse(self, request: Request) -> list[Inbound] | HTTPResponse:
        """The text message (or subscribe event) inside, or an answer without processing."""
        read = self._message(request)
        if isinstance(read, HTTPResponse):
            return read
        message, user = read
        account = message.get("ToUserName")
        if not isinstance(account, str) or not account or len(account) > self.MAX_USER_CHARS:
            return refusal(400, "no account")
        setattr(request.ctx, CTX_REPLY_TO, (user, account))
        msg_type = message.get("MsgType")
        if msg_type == "event":
            if str(message.get("Event", "")).lower() != "subscribe":
                return []
            created = created_of(message)
            return [Inbound(f"{user}:{created}:subscribe", user, SUBSCRIBE_TEXT, {"touser": user})]
        if msg_type != "text":
            return self._passive_response(request, TEXT_ONLY)
        return self._text_inbound(message, user)

    def _passive_response(self, request: Request, text: str) -> HTTPResponse:
        reply_to = getattr(request.ctx, CTX_REPLY_TO, None)
        if reply_to is None or not text.strip():
            return response.text(SUCCESS, content_type=PLAIN)
        user, account = reply_to
        return self._encrypted_reply(user, account, text, str(secrets.randbelow(10**9)))

    def acknowledge(self, request: Request, passive: OutMessage | None) -> HTTPResponse:
        """``success``, or the first reply as an encrypted passive reply."""
        if passive is None:
            return response.text(SUCCESS, content_type=PLAIN)
        text = render_text(passive)
        if utf8_len(text) > MAX_CONTENT_BYTES:
            text = split_utf8(text, MAX_CONTENT_BYTES)[0]
        return self._passive_response(request, text)

    # -- outbound ------------------------------------------------------------------------------
    def token_params(self) -> dict[str, str]:
        """``cgi-bin/token``'s query: the app id and secret."""
        return {"grant_type": "client_credential", "appid": self.app_id, "secret": self._secret}
