"""WeCom (企业微信): a self-built app's callback channel (``/webhooks/wecom/webhook``).

* GET is WeCom's URL verification: ``msg_signature`` signs the encrypted ``echostr``; the
  answer is the decrypted echostr in plain text (403 on a bad signature).
* POST carries an encrypted XML message: ``msg_signature`` (sha1 of token, timestamp, nonce
  and ``Encrypt``) is checked in constant time, the timestamp must be within
  :data:`MAX_CLOCK_SKEW_S` of our clock, the body is parsed by :mod:`wxxml` (no DTD, no
  entities) and decrypted by :mod:`wxcrypto` (the corp id inside must be ours); what WeCom
  shares with WeChat is in :mod:`wxchannel`.
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
import secrets
from typing import Any, ClassVar

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.messaging.base import Inbound, OutMessage, PlatformError
from bot.channels.messaging.wxchannel import (
    MAX_CLOCK_SKEW_S,
    MAX_CONTENT_BYTES,
    PLAIN,
    TEXT_ONLY,
    WeixinInput,
    refusal,
)
from bot.channels.messaging.wxcrypto import WXCryptoError

logger = logging.getLogger(__name__)

__all__ = ["MAX_CLOCK_SKEW_S", "MAX_CONTENT_BYTES", "TEXT_ONLY", "WeComInput"]

CHANNEL_NAME = "wecom"
ENV_CORP_ID = "WECOM_CORP_ID"
ENV_AGENT_ID = "WECOM_AGENT_ID"
ENV_SECRET = "WECOM_SECRET"
ENV_TOKEN = "WECOM_TOKEN"
ENV_AES_KEY = "WECOM_AES_KEY"
ENV_API_URL = "WECOM_API_URL"
DEFAULT_API_URL = "https://qyapi.weixin.qq.com"
#: Seconds the webhook waits for the bot before its empty 200 (WeCom gives up after 5 s):
#: a failure within it gets a 500, so WeCom delivers the message again.
ACK_WAIT_S = 3.0


class WeComInput(WeixinInput):
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
    ARGUMENTS = ("corp_id", "agent_id", "secret", "token", "aes_key", "api_url")
    DEFAULTS = {"api_url": DEFAULT_API_URL}
    ACK_WITHIN_S: ClassVar[float] = ACK_WAIT_S
    TOKEN_PATH: ClassVar[str] = "/cgi-bin/gettoken"
    SEND_PATH: ClassVar[str] = "/cgi-bin/message/send"
    ENV_AES_KEY: ClassVar[str] = ENV_AES_KEY
    #: Longest ``FromUserName`` (a member's UserID) accepted.
    MAX_USER_CHARS: ClassVar[int] = 256

    def __init__(
        self,
        corp_id: str,
        agent_id: str,
        secret: str,
        token: str,
        aes_key: str,
        api_url: str = DEFAULT_API_URL,
    ) -> None:
        if not agent_id.isdigit():
            raise ValueError(f"{ENV_AGENT_ID} must be the app's numeric AgentId")
        super().__init__(token, aes_key, corp_id, secret, api_url)
        self.corp_id = corp_id
        self.agent_id = int(agent_id)

    @classmethod
    def name(cls) -> str:
        """The channel's name: ``wecom``."""
        return CHANNEL_NAME

    # -- inbound -------------------------------------------------------------------------------
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

    def parse(self, request: Request) -> list[Inbound] | HTTPResponse:
        """The text message inside, or an answer without processing (events, other types)."""
        read = self._message(request)
        if isinstance(read, HTTPResponse):
            return read
        message, user = read
        msg_type = message.get("MsgType")
        if msg_type == "event":
            return []
        if msg_type != "text":
            return self.passive(request, user, TEXT_ONLY)
        return self._text_inbound(message, user)

    def passive(self, request: Request, user: str, text: str) -> HTTPResponse:
        """An encrypted passive reply to the callback (a text answered in the HTTP answer)."""
        nonce = request.args.get("nonce") or str(secrets.randbelow(10**9))
        return self._encrypted_reply(user, self.corp_id, text, nonce)

    def acknowledge(self, request: Request, passive: OutMessage | None) -> HTTPResponse:
        """The 200 answer: empty (replies go through the API)."""
        return response.text("", content_type=PLAIN)

    # -- outbound ------------------------------------------------------------------------------
    def token_params(self) -> dict[str, str]:
        """``gettoken``'s query: the corp id and the app's secret."""
        return {"corpid": self.corp_id, "corpsecret": self._secret}

    def message_body(self, user: str, text: str) -> dict[str, Any]:
        """``message/send``'s body: the text to the member, from the app."""
        return {
            "touser": user,
            "msgtype": "text",
            "agentid": self.agent_id,
            "text": {"content": text},
            "safe": 0,
        }

    def check_sent(self, answer: dict[str, Any]) -> None:
        """An answer naming ``invaliduser``: the member cannot be reached (not retryable)."""
        if answer.get("invaliduser"):
            raise PlatformError("message/send: invalid user", retryable=False)
