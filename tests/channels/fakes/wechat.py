"""A fake WeChat Official Account (微信公众号) API and server push, for the channel tests.

The API side answers ``GET /cgi-bin/token`` (``grant_type=client_credential``, app id +
secret -> an access token) and ``POST /cgi-bin/message/custom/send`` (the customer-service
API: token checked, ``touser``, ``msgtype`` text, content at most 2048 UTF-8 bytes, else
errcode 45002), with WeChat's ``errcode``/``errmsg`` bodies. :meth:`FakeWeChat.close_window`
makes sends to a user answer errcode 45015 (the 48-hour window is over).

The push side builds what WeChat POSTs in safe mode (``encrypt_type=aes``): the message XML
encrypted and signed by ``wechatpy`` (independent of the bot's WXBizMsgCrypt), and the GET
server verification (plain ``signature``). :meth:`FakeWeChat.passive_reply` decrypts an
encrypted passive reply with wechatpy.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from typing import Any

import httpx
import xmltodict
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.utils import WeChatSigner

from tests.channels.fakes.base import Call, FakePlatform, Reply

APP_ID = "wxfake0123456789ab"
APP_SECRET = "fake-wechat-secret-0123456789"
TOKEN = "fakeWeChatToken"
AES_KEY = "YmFyYmF6YmFyYmF6YmFyYmF6YmFyYmF6YmFyYmF6MDE"
ACCOUNT = "gh_fakeaccount01"
MAX_CONTENT_BYTES = 2048
TOKEN_TTL_S = 7200


def sign(*parts: str) -> str:
    """WeChat's sha1 signature computed by wechatpy's signer (independent of the bot)."""
    signer = WeChatSigner()
    signer.add_data(*parts)
    return str(signer.signature)


def message_xml(user: str, text: str, msg_id: str | None, *, msg_type: str = "text") -> str:
    """The plaintext XML of a message a follower sends to the account."""
    content = f"<Content><![CDATA[{text}]]></Content>" if msg_type == "text" else ""
    msg = f"<MsgId>{msg_id}</MsgId>" if msg_id else ""
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<FromUserName><![CDATA[{user}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime>"
        f"<MsgType><![CDATA[{msg_type}]]></MsgType>{content}{msg}</xml>"
    )


def event_xml(user: str, event: str) -> str:
    """The plaintext XML of an event (``subscribe``...)."""
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<FromUserName><![CDATA[{user}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime>"
        f"<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event></xml>"
    )


class FakeWeChat(FakePlatform):
    """WeChat's API (token, customer-service send) and its pushes (see module docstring)."""

    name = "wechat"

    def __init__(self) -> None:
        """A fake with the token and message/custom/send routes."""
        super().__init__()
        self.tokens: set[str] = set()
        self.delivered: list[tuple[str, str]] = []
        self.closed: set[str] = set()
        self._errcodes: list[int] = []
        self._errlock = threading.Lock()
        self.crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
        self.add_route("GET", r"/cgi-bin/token", self._token)
        self.add_route("POST", r"/cgi-bin/message/custom/send", self._send)

    def env(self) -> dict[str, str]:
        """WECHAT_* variables, the API URL pointing at this fake."""
        return {
            "WECHAT_APP_ID": APP_ID,
            "WECHAT_APP_SECRET": APP_SECRET,
            "WECHAT_TOKEN": TOKEN,
            "WECHAT_AES_KEY": AES_KEY,
            "WECHAT_API_URL": self.url,
        }

    # -- API -------------------------------------------------------------------------------------
    def expire_tokens(self) -> None:
        """Every token issued so far is now expired (errcode 42001)."""
        with self._errlock:
            self.tokens.clear()

    def fail_errcode(self, errcode: int, n: int = 1) -> None:
        """The next ``n`` sends answer HTTP 200 with this ``errcode``."""
        with self._errlock:
            self._errcodes.extend([errcode] * n)

    def close_window(self, user: str) -> None:
        """Sends to ``user`` answer errcode 45015 (no message from them for 48 hours)."""
        with self._errlock:
            self.closed.add(user)

    def reset(self) -> None:
        """Forgets calls, failures, errcodes and closed windows (tokens stay valid)."""
        super().reset()
        with self._errlock:
            self._errcodes.clear()
            self.closed.clear()

    def _token(self, call: Call) -> Reply:
        query = {key: values[0] for key, values in call.query.items()}
        if query.get("grant_type") != "client_credential" or query.get("appid") != APP_ID:
            return Reply(json={"errcode": 40013, "errmsg": "invalid appid"})
        if query.get("secret") != APP_SECRET:
            return Reply(json={"errcode": 40125, "errmsg": "invalid appsecret"})
        token = secrets.token_urlsafe(24)
        with self._errlock:
            self.tokens.add(token)
        return Reply(json={"access_token": token, "expires_in": TOKEN_TTL_S})

    def _send(self, call: Call) -> Reply:
        token = call.query.get("access_token", [""])[0]
        body = call.json if isinstance(call.json, dict) else {}
        with self._errlock:
            if token not in self.tokens:
                return Reply(json={"errcode": 42001, "errmsg": "access_token expired"})
            if self._errcodes:
                return Reply(json={"errcode": self._errcodes.pop(0), "errmsg": "fake errcode"})
            if body.get("touser") in self.closed:
                return Reply(json={"errcode": 45015, "errmsg": "response out of time limit"})
        if body.get("msgtype") != "text" or not body.get("touser"):
            return Reply(json={"errcode": 40008, "errmsg": "invalid message type"})
        content = (body.get("text") or {}).get("content") or ""
        if not content:
            return Reply(json={"errcode": 44004, "errmsg": "empty content"})
        if len(content.encode("utf-8")) > MAX_CONTENT_BYTES:
            return Reply(json={"errcode": 45002, "errmsg": "content size out of limit"})
        with self._errlock:
            self.delivered.append((str(body["touser"]), content))
        return Reply(json={"errcode": 0, "errmsg": "ok"})

    def sent(self, user: str | None = None) -> list[dict[str, Any]]:
        """The customer-service send bodies (to ``user``, if given), oldest first."""
        out = []
        for call in self.calls_to(r"/cgi-bin/message/custom/send$"):
            body = call.json if isinstance(call.json, dict) else {}
            if user is None or body.get("touser") == user:
                out.append(body)
        return out

    def delivered_to(self, user: str) -> list[str]:
        """The texts accepted for ``user`` (successful sends only), oldest first."""
        with self._errlock:
            return [text for to, text in self.delivered if to == user]

    def sent_texts(self, user: str) -> list[str]:
        """The texts sent to ``user`` through the API (every attempt)."""
        return [(b.get("text") or {}).get("content", "") for b in self.sent(user)]

    # -- pushes --------------------------------------------------------------------------------
    def encrypt(self, plaintext: str) -> str:
        """The plaintext encrypted by wechatpy for this account."""
        key = base64.b64decode(AES_KEY + "=")
        return bytes(PrpCrypto(key).encrypt(plaintext, APP_ID)).decode("ascii")

    def push(
        self,
        rasa_url: str,
        plaintext: str,
        *,
        params: dict[str, str] | None = None,
        user: str = "",
        timeout: float = 60.0,
    ) -> httpx.Response:
        """Encrypts, signs and POSTs one push in safe mode (``params`` override ours)."""
        encrypted = self.encrypt(plaintext)
        ts = str(int(time.time()))
        nonce = str(secrets.randbelow(10**9))
        query = {
            "signature": sign(TOKEN, ts, nonce),
            "timestamp": ts,
            "nonce": nonce,
            "openid": user,
            "encrypt_type": "aes",
            "msg_signature": sign(TOKEN, ts, nonce, encrypted),
        }
        query.update(params or {})
        body = (
            f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        )
        return self.deliver(
            rasa_url, body, params=query, headers={"Content-Type": "text/xml"}, timeout=timeout
        )

    def push_text(self, rasa_url: str, user: str, text: str, msg_id: str) -> httpx.Response:
        """A follower's text message, as WeChat pushes it."""
        return self.push(rasa_url, message_xml(user, text, msg_id), user=user)

    def verify_server(self, rasa_url: str, echo: str, *, bad: bool = False) -> httpx.Response:
        """WeChat's GET server verification (plain signature, plain echostr)."""
        ts = str(int(time.time()))
        nonce = str(secrets.randbelow(10**9))
        signature = "0" * 40 if bad else sign(TOKEN, ts, nonce)
        params = {"signature": signature, "timestamp": ts, "nonce": nonce, "echostr": echo}
        return self.deliver(rasa_url, method="GET", params=params)

    def passive_reply(self, response: httpx.Response) -> dict[str, str] | None:
        """The decrypted passive reply of a push answer (None for "success" or empty).

        Raises:
            wechatpy.exceptions.InvalidSignatureException: If its signature is wrong.
        """
        text = response.text.strip()
        if not text or text == "success":
            return None
        outer = xmltodict.parse(text)["xml"]
        plain = self.crypto.decrypt_message(
            text, outer["MsgSignature"], str(outer["TimeStamp"]), outer["Nonce"]
        )
        return dict(xmltodict.parse(plain)["xml"])


def make_fake() -> FakePlatform:
    """The WeChat fake (``channel_stack.fakes["wechat"]``)."""
    return FakeWeChat()
