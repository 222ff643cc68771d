"""A fake Feishu / Lark Open Platform (``https://open.feishu.cn/open-apis/...``) on loopback.

It answers ``auth/v3/tenant_access_token/internal`` (``{"code": 0, "tenant_access_token",
"expire"}``; code 10014 for a wrong app secret), ``im/v1/messages/{message_id}/reply`` and
``im/v1/messages?receive_id_type=...`` (``{"code": 0, "data": {"message_id"}}``; code 99991663
for a token it did not issue, 230001 for a malformed message, 230025 for a body over the
documented 150 KB / 30 KB), and builds event subscription v2 deliveries: ``im.message.receive_v1``
and ``card.action.trigger`` events, encrypted (AES-256-CBC, key SHA-256 of the encrypt key,
random IV first) and signed (``X-Lark-Signature`` = SHA-256 hex of timestamp + nonce + encrypt
key + body) as Feishu does. The crypto is written here again with ``cryptography`` (main
environment), independently of the bot's ``feishu_protocol``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import time
from typing import Any

import httpx
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tests.channels.fakes.base import Call, Reply
from tests.channels.fakes.token_api import FakeTokenAPI

TEXT_MAX_BODY_BYTES = 150 * 1024
CARD_MAX_BODY_BYTES = 30 * 1024
TOKEN_INVALID = 99991663


def encrypt_body(encrypt_key: str, plaintext: str, iv: bytes | None = None) -> str:
    """``{"encrypt": ...}``'s value: base64(IV + AES-256-CBC(PKCS#7(plaintext)))."""
    iv = iv if iv is not None else os.urandom(16)
    key = hashlib.sha256(encrypt_key.encode("utf-8")).digest()
    padder = padding.PKCS7(128).padder()
    data = padder.update(plaintext.encode("utf-8")) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return base64.b64encode(iv + encryptor.update(data) + encryptor.finalize()).decode()


def decrypt_body(encrypt_key: str, encrypted: str) -> str:
    """The inverse of :func:`encrypt_body` (checks the documented example)."""
    raw = base64.b64decode(encrypted)
    key = hashlib.sha256(encrypt_key.encode("utf-8")).digest()
    decryptor = Cipher(algorithms.AES(key), modes.CBC(raw[:16])).decryptor()
    padded = decryptor.update(raw[16:]) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return (unpadder.update(padded) + unpadder.finalize()).decode("utf-8")


def sign_body(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    """``X-Lark-Signature``: SHA-256 hex of timestamp + nonce + encrypt key + body."""
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode("utf-8") + body).hexdigest()


def _error(code: int, msg: str, status: int = 400) -> Reply:
    return Reply(status, {"code": code, "msg": msg})


class FakeFeishu(FakeTokenAPI):
    """The Open Platform calls the channel makes, and the event subscription's side.

    The targets of :attr:`accepted` messages are the message replied to or the
    ``receive_id``; each also has the ``message_id`` Feishu gave it.
    """

    name = "feishu"

    def __init__(self) -> None:
        """A fake app with random credentials."""
        super().__init__()
        self.app_id = "cli_" + secrets.token_hex(8)
        self.app_secret = secrets.token_urlsafe(24)
        self.verification_token = secrets.token_urlsafe(16)
        self.encrypt_key = secrets.token_urlsafe(24)
        self.add_route("POST", r"/open-apis/auth/v3/tenant_access_token/internal", self._token)
        self.add_route("POST", r"/open-apis/im/v1/messages/[^/]+/reply", self._send)
        self.add_route("POST", r"/open-apis/im/v1/messages", self._send)

    def env(self) -> dict[str, str]:
        """The channel's variables, the API URL pointing at this fake."""
        return {
            "FEISHU_APP_ID": self.app_id,
            "FEISHU_APP_SECRET": self.app_secret,
            "FEISHU_VERIFICATION_TOKEN": self.verification_token,
            "FEISHU_ENCRYPT_KEY": self.encrypt_key,
            "FEISHU_API_URL": self.url,
        }

    # -- the API -------------------------------------------------------------------------
    def _token(self, call: Call) -> Reply:
        body = call.json if isinstance(call.json, dict) else {}
        if body.get("app_id") != self.app_id or body.get("app_secret") != self.app_secret:
            return _error(10014, "app secret invalid")
        token = self.issue(f"t-{secrets.token_hex(12)}")
        return Reply(json={"code": 0, "msg": "ok", "tenant_access_token": token, "expire": 7200})

    def _send(self, call: Call) -> Reply:
        auth = call.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not self.token_valid(auth[7:]):
            return _error(TOKEN_INVALID, "Invalid access token for authorization.")
        body = call.json if isinstance(call.json, dict) else {}
        kind, content = body.get("msg_type"), body.get("content")
        if kind not in ("text", "interactive") or not isinstance(content, str):
            return _error(230001, "invalid msg_type or content")
        if not call.path.endswith("/reply"):
            if call.query.get("receive_id_type", [""])[0] not in ("open_id", "chat_id"):
                return _error(230001, "invalid receive_id_type")
            if not body.get("receive_id"):
                return _error(230001, "receive_id is empty")
        limit = TEXT_MAX_BODY_BYTES if kind == "text" else CARD_MAX_BODY_BYTES
        if len(call.body) > limit:
            return _error(230025, "The length of the message content reaches its limit.")
        try:
            decoded = json.loads(content)
        except ValueError:
            return _error(230001, "content is not JSON")
        if kind == "text" and not (isinstance(decoded, dict) and decoded.get("text")):
            return _error(230001, "text is empty")
        message_id = f"om_fake{self.next_id():08d}"
        target = call.path.split("/")[-2] if call.path.endswith("/reply") else body["receive_id"]
        self.accept([target], call, message_id=message_id)
        return Reply(json={"code": 0, "msg": "success", "data": {"message_id": message_id}})

    def rate_limit_next(self, n: int = 1) -> None:
        """The next ``n`` message sends get Feishu's rate limit (HTTP 429, code 99991400)."""
        self.fail_next(
            n,
            429,
            json={"code": 99991400, "msg": "request trigger frequency limit"},
            headers={"x-ogw-ratelimit-reset": "1"},
            path=r"/im/v1/messages",
        )

    # -- what the bot sent ---------------------------------------------------------------
    def sends(self) -> list[Call]:
        """The message calls (reply or create), oldest first, refused ones too."""
        return self.calls_to(r"/open-apis/im/v1/messages")

    @staticmethod
    def text_of(call: Call) -> str:
        """The text of a message call: a text's ``text``, a card's ``div`` contents."""
        body = call.json if isinstance(call.json, dict) else {}
        content = json.loads(body.get("content") or "{}")
        if body.get("msg_type") == "text":
            return str(content.get("text", ""))
        return "\n".join(
            element["text"]["content"]
            for element in content.get("elements", [])
            if element.get("tag") == "div"
        )

    @staticmethod
    def buttons_of(call: Call) -> list[tuple[str, dict[str, Any]]]:
        """The ``(title, value)`` of a card's buttons (none for a text)."""
        body = call.json if isinstance(call.json, dict) else {}
        if body.get("msg_type") != "interactive":
            return []
        content = json.loads(body["content"])
        return [
            (action["text"]["content"], action["value"])
            for element in content.get("elements", [])
            if element.get("tag") == "action"
            for action in element.get("actions", [])
        ]

    # -- deliveries ----------------------------------------------------------------------
    def _header(self, event_type: str, event_id: str | None) -> dict[str, Any]:
        """The ``header`` of an event subscription v2 delivery."""
        return {
            "event_id": event_id or secrets.token_hex(16),
            "token": self.verification_token,
            "create_time": str(int(time.time() * 1000)),
            "event_type": event_type,
            "tenant_key": "tenant_fake",
            "app_id": self.app_id,
        }

    def message_event(
        self,
        text: str,
        open_id: str,
        *,
        chat_type: str = "p2p",
        chat_id: str | None = None,
        event_id: str | None = None,
        message_id: str | None = None,
        mentions: list[dict[str, Any]] | None = None,
        message_type: str = "text",
        content: str | None = None,
    ) -> dict[str, Any]:
        """An ``im.message.receive_v1`` event (schema 2.0) from a user."""
        return {
            "schema": "2.0",
            "header": self._header("im.message.receive_v1", event_id),
            "event": {
                "sender": {
                    "sender_id": {"open_id": open_id, "union_id": "on_x", "user_id": None},
                    "sender_type": "user",
                    "tenant_key": "tenant_fake",
                },
                "message": {
                    "message_id": message_id or f"om_{secrets.token_hex(16)}",
                    "create_time": str(int(time.time() * 1000)),
                    "chat_id": chat_id or f"oc_{hashlib.md5(open_id.encode()).hexdigest()}",
                    "chat_type": chat_type,
                    "message_type": message_type,
                    "content": content
                    if content is not None
                    else json.dumps({"text": text}, ensure_ascii=False),
                    "mentions": mentions or [],
                },
            },
        }

    def card_event(
        self,
        payload: str,
        open_id: str,
        message_id: str,
        *,
        event_id: str | None = None,
        chat_id: str | None = None,
        value: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A ``card.action.trigger`` event: the user pressed a button of our card.

        The event's ``context`` names the message and chat of the card (``open_chat_id``: the
        user's private chat unless ``chat_id``), never the chat's type.
        """
        return {
            "schema": "2.0",
            "header": self._header("card.action.trigger", event_id),
            "event": {
                "operator": {"open_id": open_id, "tenant_key": "tenant_fake"},
                "token": "c-" + secrets.token_hex(8),
                "action": {"tag": "button", "value": {"payload": payload, **(value or {})}},
                "host": "im_message",
                "context": {
                    "open_message_id": message_id,
                    "open_chat_id": chat_id or f"oc_{hashlib.md5(open_id.encode()).hexdigest()}",
                },
            },
        }

    def signed_headers(
        self, body: bytes, *, timestamp: str | None = None, key: str | None = None
    ) -> dict[str, str]:
        """The signature headers Feishu adds to a delivery."""
        timestamp = timestamp or str(int(time.time()))
        nonce = secrets.token_hex(8)
        return {
            "Content-Type": "application/json; charset=utf-8",
            "X-Lark-Request-Timestamp": timestamp,
            "X-Lark-Request-Nonce": nonce,
            "X-Lark-Signature": sign_body(timestamp, nonce, key or self.encrypt_key, body),
        }

    def encrypted(self, payload: dict[str, Any]) -> bytes:
        """The body ``{"encrypt": ...}`` of a payload."""
        plaintext = json.dumps(payload, ensure_ascii=False)
        return json.dumps({"encrypt": encrypt_body(self.encrypt_key, plaintext)}).encode()

    def deliver_event(
        self, rasa_url: str, payload: dict[str, Any], *, encrypt: bool = True, **kwargs: Any
    ) -> httpx.Response:
        """POSTs an event as Feishu does: encrypted (by default) and signed."""
        body = self.encrypted(payload) if encrypt else json.dumps(payload).encode()
        return self.deliver(rasa_url, body, headers=self.signed_headers(body), **kwargs)


def make_fake() -> FakeFeishu:
    """The fake for ``channel_stack``."""
    return FakeFeishu()
