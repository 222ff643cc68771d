"""A fake WeCom (企业微信) API and callback sender, for the channel tests.

The API side answers ``GET /cgi-bin/gettoken`` (corp id + secret -> an access token with
``expires_in``) and ``POST /cgi-bin/message/send`` (token checked, ``agentid``, ``touser``,
``msgtype`` text and the documented 2048-byte content limit, errcode 44004/45002), with
WeCom's ``errcode``/``errmsg`` bodies. :meth:`FakeWeCom.expire_tokens` makes every issued
token answer errcode 42001 (expired); :meth:`FakeWeCom.fail_errcode` makes the next sends
answer an errcode (``-1`` system busy, ``45009`` frequency limit...).

The callback side builds what WeCom POSTs to the app's callback URL: the message XML
encrypted and signed by ``wechatpy`` (an independent implementation of WXBizMsgCrypt, which
cross-checks the bot's own), and the GET URL verification. What WeCom shares with WeChat is in
:mod:`tests.channels.fakes.weixin`.
"""

from __future__ import annotations

import secrets
import time

import httpx
from wechatpy.enterprise.crypto import PrpCrypto, WeChatCrypto

from tests.channels.fakes.base import Call, FakePlatform, Reply
from tests.channels.fakes.weixin import MAX_CONTENT_BYTES as MAX_CONTENT_BYTES
from tests.channels.fakes.weixin import TOKEN_TTL_S, FakeWeixin, errcode_reply, sign

CORP_ID = "wwfake0123456789ab"
AGENT_ID = "1000002"
SECRET = "fake-wecom-secret-0123456789"
TOKEN = "fakeWeComToken"
AES_KEY = "Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyMDE"


def message_xml(
    user: str,
    text: str,
    msg_id: str,
    *,
    msg_type: str = "text",
    agent_id: str = AGENT_ID,
    corp_id: str = CORP_ID,
    extra: str = "",
) -> str:
    """The plaintext XML of a message a WeCom user sends to the app."""
    content = f"<Content><![CDATA[{text}]]></Content>" if msg_type == "text" else ""
    return (
        f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName>"
        f"<FromUserName><![CDATA[{user}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime>"
        f"<MsgType><![CDATA[{msg_type}]]></MsgType>{content}{extra}"
        f"<MsgId>{msg_id}</MsgId><AgentID>{agent_id}</AgentID></xml>"
    )


class FakeWeCom(FakeWeixin):
    """WeCom's API (token, message send) and its callback deliveries (see module docstring)."""

    name = "wecom"
    SEND_PATH = "/cgi-bin/message/send"
    RECEIVE_ID = CORP_ID
    AES_KEY = AES_KEY
    PRP_CRYPTO = PrpCrypto

    def __init__(self) -> None:
        """A fake with the gettoken and message/send routes."""
        super().__init__()
        self.crypto = WeChatCrypto(TOKEN, AES_KEY, CORP_ID)
        self.add_route("GET", r"/cgi-bin/gettoken", self._gettoken)

    def env(self) -> dict[str, str]:
        """WECOM_* variables, the API URL pointing at this fake."""
        return {
            "WECOM_CORP_ID": CORP_ID,
            "WECOM_AGENT_ID": AGENT_ID,
            "WECOM_SECRET": SECRET,
            "WECOM_TOKEN": TOKEN,
            "WECOM_AES_KEY": AES_KEY,
            "WECOM_API_URL": self.url,
        }

    # -- API -------------------------------------------------------------------------------------
    def _gettoken(self, call: Call) -> Reply:
        corp = call.query.get("corpid", [""])[0]
        secret = call.query.get("corpsecret", [""])[0]
        if corp != CORP_ID:
            return errcode_reply(40013, "invalid corpid")
        if secret != SECRET:
            return errcode_reply(40001, "invalid credential")
        token = self.issue_token()
        return Reply(
            json={"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": TOKEN_TTL_S}
        )

    def refuse_send(self, body: dict[str, object]) -> Reply | None:
        """Another app's ``agentid``: errcode 40056."""
        if str(body.get("agentid")) != AGENT_ID:
            return errcode_reply(40056, "invalid agentid")
        return None

    def accepted(self) -> Reply:
        """An accepted send: errcode 0 and a ``msgid``."""
        return Reply(json={"errcode": 0, "errmsg": "ok", "msgid": secrets.token_hex(8)})

    # -- callbacks -----------------------------------------------------------------------------
    def signed_params(
        self, encrypted: str, *, timestamp: str | None = None, nonce: str | None = None
    ) -> dict[str, str]:
        """``msg_signature``, ``timestamp`` and ``nonce`` of a callback."""
        ts = timestamp or str(int(time.time()))
        nc = nonce or str(secrets.randbelow(10**9))
        return {"msg_signature": sign(TOKEN, ts, nc, encrypted), "timestamp": ts, "nonce": nc}

    def envelope(self, encrypted: str) -> str:
        """The outer XML WeCom POSTs."""
        return (
            f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt>"
            f"<AgentID><![CDATA[{AGENT_ID}]]></AgentID></xml>"
        )

    def post_xml(
        self, rasa_url: str, plaintext: str, *, params: dict[str, str] | None = None
    ) -> httpx.Response:
        """Encrypts, signs and POSTs one callback (``params`` override the signed ones)."""
        encrypted = self.encrypt(plaintext)
        query = self.signed_params(encrypted)
        query.update(params or {})
        return self.deliver(
            rasa_url,
            self.envelope(encrypted),
            params=query,
            headers={"Content-Type": "text/xml"},
        )

    def post_text(self, rasa_url: str, user: str, text: str, msg_id: str) -> httpx.Response:
        """A user's text message, as WeCom delivers it."""
        return self.post_xml(rasa_url, message_xml(user, text, msg_id))

    def verify_url(
        self, rasa_url: str, echo: str, *, bad_signature: bool = False
    ) -> httpx.Response:
        """WeCom's GET URL verification with an encrypted ``echostr``."""
        encrypted = self.encrypt(echo)
        query = self.signed_params(encrypted)
        if bad_signature:
            query["msg_signature"] = "0" * 40
        query["echostr"] = encrypted
        return self.deliver(rasa_url, method="GET", params=query)

    def decrypt_reply(self, xml: str, timestamp: str, nonce: str, signature: str) -> str:
        """A passive reply decrypted by wechatpy (its signature checked)."""
        return str(self.crypto.decrypt_message(xml, signature, timestamp, nonce))


def make_fake() -> FakePlatform:
    """The WeCom fake (``channel_stack.fakes["wecom"]``)."""
    return FakeWeCom()
