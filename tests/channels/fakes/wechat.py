"""A fake WeChat Official Account (微信公众号) API and server push, for the channel tests.

The API side answers ``GET /cgi-bin/token`` (``grant_type=client_credential``, app id +
secret -> an access token) and ``POST /cgi-bin/message/custom/send`` (the customer-service
API: token checked, ``touser``, ``msgtype`` text, content at most 2048 UTF-8 bytes, else
errcode 45002), with WeChat's ``errcode``/``errmsg`` bodies. :meth:`FakeWeChat.close_window`
makes sends to a user answer errcode 45015 (the 48-hour window is over).

The push side builds what WeChat POSTs in safe mode (``encrypt_type=aes``): the message XML
encrypted and signed by ``wechatpy`` (independent of the bot's WXBizMsgCrypt), and the GET
server verification (plain ``signature``). :meth:`FakeWeChat.passive_reply` decrypts an
encrypted passive reply with wechatpy. What WeChat shares with WeCom is in
:mod:`tests.channels.fakes.weixin`.
"""

from __future__ import annotations

import secrets
import time

import httpx
import xmltodict
from wechatpy.crypto import PrpCrypto, WeChatCrypto

from tests.channels.fakes.base import Call, FakePlatform, Reply
from tests.channels.fakes.weixin import MAX_CONTENT_BYTES as MAX_CONTENT_BYTES
from tests.channels.fakes.weixin import TOKEN_TTL_S, FakeWeixin, errcode_reply, sign

APP_ID = "wxfake0123456789ab"
APP_SECRET = "fake-wechat-secret-0123456789"
TOKEN = "fakeWeChatToken"
AES_KEY = "YmFyYmF6YmFyYmF6YmFyYmF6YmFyYmF6YmFyYmF6MDE"
ACCOUNT = "gh_fakeaccount01"


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


class FakeWeChat(FakeWeixin):
    """WeChat's API (token, customer-service send) and its pushes (see module docstring)."""

    name = "wechat"
    SEND_PATH = "/cgi-bin/message/custom/send"
    RECEIVE_ID = APP_ID
    AES_KEY = AES_KEY
    PRP_CRYPTO = PrpCrypto

    def __init__(self) -> None:
        """A fake with the token and message/custom/send routes."""
        super().__init__()
        self.closed: set[str] = set()
        self.crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
        self.add_route("GET", r"/cgi-bin/token", self._token)

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
    def close_window(self, user: str) -> None:
        """Sends to ``user`` answer errcode 45015 (no message from them for 48 hours)."""
        with self._errlock:
            self.closed.add(user)

    def reset(self) -> None:
        """Forgets calls, failures, errcodes and closed windows (tokens stay valid)."""
        super().reset()
        with self._errlock:
            self.closed.clear()

    def _token(self, call: Call) -> Reply:
        query = {key: values[0] for key, values in call.query.items()}
        if query.get("grant_type") != "client_credential" or query.get("appid") != APP_ID:
            return errcode_reply(40013, "invalid appid")
        if query.get("secret") != APP_SECRET:
            return errcode_reply(40125, "invalid appsecret")
        return Reply(json={"access_token": self.issue_token(), "expires_in": TOKEN_TTL_S})

    def refuse_send(self, body: dict[str, object]) -> Reply | None:
        """A user whose 48-hour window is over: errcode 45015."""
        if body.get("touser") in self.closed:
            return errcode_reply(45015, "response out of time limit")
        return None

    # -- pushes --------------------------------------------------------------------------------
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
