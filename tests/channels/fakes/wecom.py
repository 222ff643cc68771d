"""A fake WeCom (企业微信) API and callback sender, for the channel tests.

The API side answers ``GET /cgi-bin/gettoken`` (corp id + secret -> an access token with
``expires_in``) and ``POST /cgi-bin/message/send`` (token checked, ``agentid``, ``touser``,
``msgtype`` text and the documented 2048-byte content limit, errcode 44004/45002), with
WeCom's ``errcode``/``errmsg`` bodies. :meth:`FakeWeCom.expire_tokens` makes every issued
token answer errcode 42001 (expired); :meth:`FakeWeCom.fail_errcode` makes the next sends
answer an errcode (``-1`` system busy, ``45009`` frequency limit...).

The callback side builds what WeCom POSTs to the app's callback URL: the message XML
encrypted and signed by ``wechatpy`` (an independent implementation of WXBizMsgCrypt, which
cross-checks the bot's own), and the GET URL verification.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from typing import Any

import httpx
from wechatpy.enterprise.crypto import PrpCrypto, WeChatCrypto
from wechatpy.utils import WeChatSigner

from tests.channels.fakes.base import Call, FakePlatform, Reply

CORP_ID = "wwfake0123456789ab"
AGENT_ID = "1000002"
SECRET = "fake-wecom-secret-0123456789"
TOKEN = "fakeWeComToken"
AES_KEY = "Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyMDE"
#: WeCom's documented limit of a text message's content, in bytes.
MAX_CONTENT_BYTES = 2048
TOKEN_TTL_S = 7200


def sign(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    """WeCom's ``msg_signature`` computed by wechatpy's signer (independent of the bot)."""
    signer = WeChatSigner()
    signer.add_data(token, timestamp, nonce, encrypted)
    return str(signer.signature)


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


class FakeWeCom(FakePlatform):
    """WeCom's API (token, message send) and its callback deliveries (see module docstring)."""

    name = "wecom"

    def __init__(self) -> None:
        """A fake with the gettoken and message/send routes."""
        super().__init__()
        self.tokens: set[str] = set()
        self.delivered: list[tuple[str, str]] = []
        self._errcodes: list[int] = []
        self._errlock = threading.Lock()
        self.crypto = WeChatCrypto(TOKEN, AES_KEY, CORP_ID)
        self.add_route("GET", r"/cgi-bin/gettoken", self._gettoken)
        self.add_route("POST", r"/cgi-bin/message/send", self._send)

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
    def expire_tokens(self) -> None:
        """Every token issued so far is now expired (errcode 42001)."""
        with self._errlock:
            self.tokens.clear()

    def fail_errcode(self, errcode: int, n: int = 1) -> None:
        """The next ``n`` message sends answer HTTP 200 with this ``errcode``."""
        with self._errlock:
            self._errcodes.extend([errcode] * n)

    def reset(self) -> None:
        """Forgets calls, failures and pending errcodes (tokens stay valid)."""
        super().reset()
        with self._errlock:
            self._errcodes.clear()

    def _gettoken(self, call: Call) -> Reply:
        corp = call.query.get("corpid", [""])[0]
        secret = call.query.get("corpsecret", [""])[0]
        if corp != CORP_ID:
            return Reply(json={"errcode": 40013, "errmsg": "invalid corpid"})
        if secret != SECRET:
            return Reply(json={"errcode": 40001, "errmsg": "invalid credential"})
        token = secrets.token_urlsafe(24)
        with self._errlock:
            self.tokens.add(token)
        return Reply(
            json={"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": TOKEN_TTL_S}
        )

    def _send(self, call: Call) -> Reply:
        token = call.query.get("access_token", [""])[0]
        with self._errlock:
            if token not in self.tokens:
                return Reply(json={"errcode": 42001, "errmsg": "access_token expired"})
            if self._errcodes:
                errcode = self._errcodes.pop(0)
                return Reply(json={"errcode": errcode, "errmsg": "fake errcode"})
        body = call.json if isinstance(call.json, dict) else {}
        if str(body.get("agentid")) != AGENT_ID:
            return Reply(json={"errcode": 40056, "errmsg": "invalid agentid"})
        if body.get("msgtype") != "text" or not body.get("touser"):
            return Reply(json={"errcode": 40008, "errmsg": "invalid message type"})
        content = (body.get("text") or {}).get("content") or ""
        if not content:
            return Reply(json={"errcode": 44004, "errmsg": "empty content"})
        if len(content.encode("utf-8")) > MAX_CONTENT_BYTES:
            return Reply(json={"errcode": 45002, "errmsg": "content size out of limit"})
        with self._errlock:
            self.delivered.append((str(body["touser"]), content))
        return Reply(json={"errcode": 0, "errmsg": "ok", "msgid": secrets.token_hex(8)})

    def sent(self, user: str | None = None) -> list[dict[str, Any]]:
        """The accepted message/send bodies (to ``user``, if given), oldest first."""
        out = []
        for call in self.calls_to(r"/cgi-bin/message/send$"):
            body = call.json if isinstance(call.json, dict) else {}
            if user is None or body.get("touser") == user:
                out.append(body)
        return out

    def delivered_to(self, user: str) -> list[str]:
        """The texts accepted for ``user`` (successful sends only), oldest first."""
        with self._errlock:
            return [text for to, text in self.delivered if to == user]

    def sent_texts(self, user: str) -> list[str]:
        """The texts sent to ``user`` (every attempt, failed ones too)."""
        return [(b.get("text") or {}).get("content", "") for b in self.sent(user)]

    # -- callbacks -----------------------------------------------------------------------------
    def encrypt(self, plaintext: str) -> str:
        """The plaintext encrypted by wechatpy for this corp."""
        key = base64.b64decode(AES_KEY + "=")
        return bytes(PrpCrypto(key).encrypt(plaintext, CORP_ID)).decode("ascii")

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
