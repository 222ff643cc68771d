"""What the fake WeCom (企业微信) and WeChat (微信公众号) APIs share, for the channel tests.

Both platforms issue an ``access_token`` from a token endpoint and take text messages on a
send endpoint that checks the token (errcode 42001 when it is not one the fake issued), the
``msgtype``, an empty content (44004) and the documented 2048-byte content limit (45002),
answering ``errcode``/``errmsg`` bodies with HTTP 200. :class:`FakeWeixin` holds that part
and the callbacks' crypto (``wechatpy``: an independent implementation of WXBizMsgCrypt, which
cross-checks the bot's own); :mod:`wecom` and :mod:`wechat` add their token endpoint, their
own send checks (WeCom's ``agentid``, WeChat's 48-hour window) and their callback shapes.

Not a platform: no ``make_fake`` here.
"""

from __future__ import annotations

import base64
import secrets
import threading
from typing import Any, ClassVar

from wechatpy.utils import WeChatSigner

from tests.channels.fakes.base import Call, FakePlatform, Reply

#: The documented limit of a text message's content, in UTF-8 bytes.
MAX_CONTENT_BYTES = 2048
TOKEN_TTL_S = 7200
ERRCODE_TOKEN_EXPIRED = 42001


def sign(*parts: str) -> str:
    """The sha1 signature of the sorted parts, by wechatpy's signer (independent of the bot)."""
    signer = WeChatSigner()
    signer.add_data(*parts)
    return str(signer.signature)


def errcode_reply(errcode: int, errmsg: str) -> Reply:
    """An API answer with this ``errcode`` (HTTP 200, as the platforms answer errors)."""
    return Reply(json={"errcode": errcode, "errmsg": errmsg})


class FakeWeixin(FakePlatform):
    """The shared fake API (see the module docstring).

    Subclasses set :attr:`SEND_PATH`, :attr:`RECEIVE_ID`, :attr:`AES_KEY`, :attr:`PRP_CRYPTO`
    (wechatpy's class for the platform), route their token endpoint to a handler that calls
    :meth:`issue_token`, and may refuse a send in :meth:`refuse_send`.
    """

    SEND_PATH: ClassVar[str] = ""
    RECEIVE_ID: ClassVar[str] = ""
    AES_KEY: ClassVar[str] = ""
    PRP_CRYPTO: ClassVar[Any] = None

    def __init__(self) -> None:
        """A fake with the send route (the token route is the subclass's)."""
        super().__init__()
        self.tokens: set[str] = set()
        self.delivered: list[tuple[str, str]] = []
        self._errcodes: list[int] = []
        self._errlock = threading.Lock()
        self.add_route("POST", self.SEND_PATH, self._send)

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

    def issue_token(self) -> str:
        """A new valid access token."""
        token = secrets.token_urlsafe(24)
        with self._errlock:
            self.tokens.add(token)
        return token

    def refuse_send(self, body: dict[str, Any]) -> Reply | None:
        """The platform's own refusal of a send with a valid token (called under the lock)."""
        return None

    def accepted(self) -> Reply:
        """The answer of an accepted send."""
        return errcode_reply(0, "ok")

    def _send(self, call: Call) -> Reply:
        token = call.query.get("access_token", [""])[0]
        body = call.json if isinstance(call.json, dict) else {}
        with self._errlock:
            if token not in self.tokens:
                return errcode_reply(ERRCODE_TOKEN_EXPIRED, "access_token expired")
            if self._errcodes:
                return errcode_reply(self._errcodes.pop(0), "fake errcode")
            refused = self.refuse_send(body)
            if refused is not None:
                return refused
        if body.get("msgtype") != "text" or not body.get("touser"):
            return errcode_reply(40008, "invalid message type")
        content = (body.get("text") or {}).get("content") or ""
        if not content:
            return errcode_reply(44004, "empty content")
        if len(content.encode("utf-8")) > MAX_CONTENT_BYTES:
            return errcode_reply(45002, "content size out of limit")
        with self._errlock:
            self.delivered.append((str(body["touser"]), content))
        return self.accepted()

    def sent(self, user: str | None = None) -> list[dict[str, Any]]:
        """The send bodies (to ``user``, if given; every attempt), oldest first."""
        out = []
        for call in self.calls_to(self.SEND_PATH + "$"):
            body = call.json if isinstance(call.json, dict) else {}
            if user is None or body.get("touser") == user:
                out.append(body)
        return out

    def delivered_to(self, user: str) -> list[str]:
        """The texts accepted for ``user`` (successful sends only), oldest first."""
        with self._errlock:
            return [text for to, text in self.delivered if to == user]

    def sent_texts(self, user: str) -> list[str]:
        """The texts sent to ``user`` through the API (every attempt, failed ones too)."""
        return [(b.get("text") or {}).get("content", "") for b in self.sent(user)]

    # -- callbacks -----------------------------------------------------------------------------
    def encrypt(self, plaintext: str) -> str:
        """The plaintext encrypted by wechatpy for this corp / account."""
        key = base64.b64decode(self.AES_KEY + "=")
        return bytes(self.PRP_CRYPTO(key).encrypt(plaintext, self.RECEIVE_ID)).decode("ascii")
