"""A fake Messenger Platform (Graph API ``/v19.0/me/messages``) on loopback.

The Send API is answered as Meta does: ``{"recipient_id", "message_id"}``, or an HTTP 4xx
with ``{"error": {"message", "type", "code", "fbtrace_id"}}`` (code 190 for a wrong token,
100 for a text over 2,000 characters, more than 13 quick replies or a title over 20
characters). The page token is taken from ``Authorization: Bearer`` or the documented
``?access_token=``. The webhook side builds ``page`` batches (messages, quick replies,
postbacks) signed with ``X-Hub-Signature-256`` (``sha256=`` + hex HMAC-SHA256 of the raw
body keyed with the app secret) and the ``hub.challenge`` verification GET.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any

import httpx

from tests.channels.fakes.base import Call, FakePlatform, Reply

VERSION = "v19.0"
PAGE_ID = "100000000000001"
MAX_TEXT_CHARS = 2000
MAX_QUICK_REPLIES = 13
QUICK_REPLY_TITLE_MAX_CHARS = 20
HEADER_SIGNATURE = "X-Hub-Signature-256"


def sign(app_secret: str, body: bytes) -> str:
    """Meta's ``X-Hub-Signature-256`` of a webhook body."""
    return "sha256=" + hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _graph_error(status: int, code: int, message: str, kind: str = "OAuthException") -> Reply:
    error = {"message": message, "type": kind, "code": code, "fbtrace_id": secrets.token_hex(6)}
    return Reply(status, {"error": error})


class FakeFacebook(FakePlatform):
    """The Send API, and the webhook's side."""

    name = "facebook"

    def __init__(self) -> None:
        """A fake with a random verify token, app secret and page token."""
        super().__init__()
        self.verify_token = secrets.token_urlsafe(16)
        self.app_secret = secrets.token_hex(16)
        self.page_token = "EAAG" + secrets.token_urlsafe(40)
        self.add_route("POST", rf"/{VERSION}/me/messages", self._send)

    def env(self) -> dict[str, str]:
        """The channel's variables, the API URL pointing at this fake."""
        return {
            "FACEBOOK_VERIFY_TOKEN": self.verify_token,
            "FACEBOOK_APP_SECRET": self.app_secret,
            "FACEBOOK_PAGE_ACCESS_TOKEN": self.page_token,
            "FACEBOOK_API_URL": f"{self.url}/{VERSION}",
        }

    # -- the API -------------------------------------------------------------------------
    def _token(self, call: Call) -> str:
        header = call.headers.get("authorization", "")
        if header.startswith("Bearer "):
            return header[len("Bearer ") :]
        return (call.query.get("access_token") or [""])[0]

    def _send(self, call: Call) -> Reply:
        if self._token(call) != self.page_token:
            return _graph_error(400, 190, "Invalid OAuth access token - Cannot parse access token")
        body = call.json if isinstance(call.json, dict) else {}
        recipient = body.get("recipient")
        psid = recipient.get("id") if isinstance(recipient, dict) else None
        if not isinstance(psid, str) or not psid:
            return _graph_error(400, 100, "(#100) The parameter recipient is required")
        if body.get("messaging_type") not in ("RESPONSE", "UPDATE", "MESSAGE_TAG"):
            return _graph_error(400, 100, "(#100) Param messaging_type must be one of ...")
        message = body.get("message")
        text = message.get("text") if isinstance(message, dict) else None
        if not isinstance(text, str) or not text:
            return _graph_error(400, 100, "(#100) Must send either message or state")
        if len(text) > MAX_TEXT_CHARS:
            return _graph_error(
                400, 100, "(#100) Length of param message[text] must be less than or equal to 2000"
            )
        quick = message.get("quick_replies") if isinstance(message, dict) else None
        if quick is not None:
            if not isinstance(quick, list) or len(quick) > MAX_QUICK_REPLIES:
                return _graph_error(
                    400, 100, "(#100) param message[quick_replies] must have at most 13 elements"
                )
            for item in quick:
                title = item.get("title", "") if isinstance(item, dict) else ""
                if not 1 <= len(title) <= QUICK_REPLY_TITLE_MAX_CHARS:
                    return _graph_error(
                        400, 100, "(#100) Title of quick reply must be at most 20 characters"
                    )
        mid = f"m_{secrets.token_urlsafe(24)}"
        return Reply(json={"recipient_id": psid, "message_id": mid})

    def rate_limit_next(self, n: int = 1) -> None:
        """The next ``n`` sends get Meta's page rate limit error (code 32)."""
        self.fail_next(
            n,
            400,
            json={
                "error": {
                    "message": "(#32) Page request limit reached",
                    "type": "OAuthException",
                    "code": 32,
                    "fbtrace_id": "fake",
                }
            },
            path="/me/messages",
        )

    # -- inspection ----------------------------------------------------------------------
    def sent(self, psid: str | None = None) -> list[dict[str, Any]]:
        """The bodies of every Send API call, failed ones too (to one person, if given)."""
        found = []
        for call in self.calls_to(r"/me/messages$"):
            body = call.json if isinstance(call.json, dict) else {}
            recipient = body.get("recipient")
            if psid is None or (isinstance(recipient, dict) and recipient.get("id") == psid):
                found.append(body)
        return found

    def sent_texts(self, psid: str) -> list[str]:
        """The texts sent to one person (each attempt), oldest first."""
        return [str(body.get("message", {}).get("text", "")) for body in self.sent(psid)]

    # -- the webhook side ----------------------------------------------------------------
    @staticmethod
    def mid() -> str:
        """A fresh message id."""
        return f"m_{secrets.token_urlsafe(30)}"

    def batch(self, *events: dict[str, Any]) -> dict[str, Any]:
        """A ``page`` webhook body with ``events`` in one entry."""
        now = int(time.time() * 1000)
        return {
            "object": "page",
            "entry": [{"id": PAGE_ID, "time": now, "messaging": list(events)}],
        }

    def message_event(
        self, text: str, psid: str, *, mid: str | None = None, quick_reply: str | None = None
    ) -> dict[str, Any]:
        """A ``messaging`` item: ``psid`` wrote ``text`` (a quick reply's, if given)."""
        message: dict[str, Any] = {"mid": mid or self.mid(), "text": text}
        if quick_reply is not None:
            message["quick_reply"] = {"payload": quick_reply}
        return {
            "sender": {"id": psid},
            "recipient": {"id": PAGE_ID},
            "timestamp": int(time.time() * 1000),
            "message": message,
        }

    def postback_event(self, payload: str, psid: str, title: str = "") -> dict[str, Any]:
        """A ``messaging`` item: ``psid`` pressed a postback button."""
        return {
            "sender": {"id": psid},
            "recipient": {"id": PAGE_ID},
            "timestamp": int(time.time() * 1000),
            "postback": {"mid": self.mid(), "title": title or payload, "payload": payload},
        }

    def post_batch(
        self,
        rasa_url: str,
        body: dict[str, Any] | bytes,
        *,
        secret: str | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """POSTs a webhook body to Rasa, signed with the app secret (or ``secret``;
        ``signature=""`` sends no signature header)."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        sent = {"Content-Type": "application/json"}
        given = sign(secret or self.app_secret, raw) if signature is None else signature
        if given:
            sent[HEADER_SIGNATURE] = given
        sent.update(headers or {})
        return self.deliver(rasa_url, raw, headers=sent)

    def verify_webhook(
        self, rasa_url: str, *, token: str | None = None, challenge: str = "1158201444"
    ) -> httpx.Response:
        """Meta's verification GET (``hub.mode``, ``hub.verify_token``, ``hub.challenge``)."""
        params = {
            "hub.mode": "subscribe",
            "hub.verify_token": self.verify_token if token is None else token,
            "hub.challenge": challenge,
        }
        return self.deliver(rasa_url, None, params=params, method="GET")


def make_fake() -> FakeFacebook:
    """A stopped fake Messenger Platform (``channel_stack`` starts it)."""
    return FakeFacebook()
