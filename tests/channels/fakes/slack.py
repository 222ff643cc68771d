"""A fake Slack Web API (``https://slack.com/api/<method>``) on loopback.

``chat.postMessage`` is answered as Slack does: HTTP 200 with ``{"ok": true, "ts", ...}``, or
HTTP 200 with ``{"ok": false, "error": ...}`` (``not_authed``, ``invalid_auth``,
``channel_not_found``, ``no_text``, ``msg_too_long``, ``invalid_blocks``), and HTTP 429 with
``Retry-After`` and ``{"ok": false, "error": "ratelimited"}`` when told to
(:meth:`FakeSlack.rate_limit_next`). The webhook side builds Events API envelopes and
interactivity payloads and signs them with Slack's v0 algorithm: ``v0=`` + hex
HMAC-SHA256 of ``v0:{timestamp}:{body}`` keyed with the signing secret.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
import threading
import time
from typing import Any
from urllib.parse import urlencode

import httpx

from tests.channels.fakes.base import Call, FakePlatform, Reply

TEAM = "T0FAKETEAM"
APP = "A0FAKEAPP"
BOT_USER = "U0LEAFBOT"
BOT_ID = "B0LEAFBOT"
MAX_TEXT_CHARS = 40_000
SECTION_MAX_CHARS = 3000
BUTTON_TITLE_MAX_CHARS = 75
BUTTONS_PER_BLOCK = 25


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's ``X-Slack-Signature`` of a request body."""
    base = b"v0:" + timestamp.encode("ascii") + b":" + body
    return "v0=" + hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()


def _refusal(error: str) -> Reply:
    return Reply(200, {"ok": False, "error": error})


def _blocks_error(blocks: Any) -> str | None:
    """Why Slack would refuse these blocks (None: it would not)."""
    if not isinstance(blocks, list) or len(blocks) > 50:
        return "invalid_blocks"
    for block in blocks:
        if not isinstance(block, dict):
            return "invalid_blocks"
        if block.get("type") == "section":
            text = block.get("text")
            if not isinstance(text, dict) or not 1 <= len(text.get("text", "")) <= 3000:
                return "invalid_blocks"
        elif block.get("type") == "actions":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= BUTTONS_PER_BLOCK:
                return "invalid_blocks"
            for element in elements:
                title = element.get("text", {}).get("text", "") if isinstance(element, dict) else ""
                if not 1 <= len(title) <= BUTTON_TITLE_MAX_CHARS:
                    return "invalid_blocks"
        else:
            return "invalid_blocks"
    return None


class FakeSlack(FakePlatform):
    """The Web API methods the channel uses, and the Events API's side."""

    name = "slack"

    def __init__(self) -> None:
        """A fake with a random bot token and signing secret."""
        super().__init__()
        self.token = f"xoxb-{secrets.token_hex(8)}-{secrets.token_hex(12)}"
        self.signing_secret = secrets.token_hex(16)
        self._ids = itertools.count(1)
        self._id_lock = threading.Lock()
        self.add_route("POST", r"/chat\.postMessage", self._post_message)
        self.add_route("POST", r"/auth\.test", self._auth_test)

    def env(self) -> dict[str, str]:
        """The channel's variables, the API URL pointing at this fake."""
        return {
            "SLACK_BOT_TOKEN": self.token,
            "SLACK_SIGNING_SECRET": self.signing_secret,
            "SLACK_API_URL": self.url,
        }

    # -- the API -------------------------------------------------------------------------
    def _auth(self, call: Call) -> str | None:
        header = call.headers.get("authorization", "")
        if not header:
            return "not_authed"
        if header != f"Bearer {self.token}":
            return "invalid_auth"
        return None

    def _auth_test(self, call: Call) -> Reply:
        error = self._auth(call)
        if error:
            return _refusal(error)
        return Reply(json={"ok": True, "team_id": TEAM, "user_id": BOT_USER, "bot_id": BOT_ID})

    def _post_message(self, call: Call) -> Reply:
        error = self._auth(call)
        if error:
            return _refusal(error)
        body = call.json if isinstance(call.json, dict) else {}
        channel = body.get("channel")
        text = body.get("text")
        if not isinstance(channel, str) or not channel:
            return _refusal("channel_not_found")
        if not (isinstance(text, str) and text.strip()) and not body.get("blocks"):
            return _refusal("no_text")
        if isinstance(text, str) and len(text) > MAX_TEXT_CHARS:
            return _refusal("msg_too_long")
        if "blocks" in body:
            problem = _blocks_error(body["blocks"])
            if problem:
                return _refusal(problem)
        ts = f"{int(time.time())}.{self.next_id():06d}"
        message = {"type": "message", "user": BOT_USER, "bot_id": BOT_ID, "text": text, "ts": ts}
        return Reply(json={"ok": True, "channel": channel, "ts": ts, "message": message})

    def rate_limit_next(self, n: int = 1, retry_after: int = 1) -> None:
        """The next ``n`` posts get HTTP 429 ``ratelimited`` with ``Retry-After``."""
        self.fail_next(
            n,
            429,
            json={"ok": False, "error": "ratelimited"},
            headers={"Retry-After": str(retry_after)},
            path=r"chat\.postMessage",
        )

    # -- inspection ----------------------------------------------------------------------
    def posted(self, channel: str | None = None) -> list[dict[str, Any]]:
        """The bodies of every ``chat.postMessage`` call, failed ones too."""
        found = []
        for call in self.calls_to(r"/chat\.postMessage$"):
            body = call.json if isinstance(call.json, dict) else {}
            if channel is None or body.get("channel") == channel:
                found.append(body)
        return found

    # -- the webhook side ----------------------------------------------------------------
    def next_id(self) -> int:
        """A fresh number (event ids, message timestamps)."""
        with self._id_lock:
            return next(self._ids)

    def event_id(self) -> str:
        """A fresh ``event_id``."""
        return f"Ev{secrets.token_hex(5).upper()}{self.next_id()}"

    def envelope(self, event: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
        """An ``event_callback`` envelope around ``event``, as the Events API sends it."""
        return {
            "token": "deprecated-verification-token",
            "team_id": TEAM,
            "api_app_id": APP,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or self.event_id(),
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "team_id": TEAM,
                    "user_id": BOT_USER,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
        }

    def direct_message(
        self, text: str, user: str, *, channel: str | None = None, event_id: str | None = None
    ) -> dict[str, Any]:
        """An envelope of a direct message from ``user`` to the bot."""
        event = {
            "type": "message",
            "channel_type": "im",
            "channel": channel or f"D{user}",
            "user": user,
            "text": text,
            "ts": f"{int(time.time())}.{self.next_id():06d}",
            "event_ts": f"{int(time.time())}.000000",
        }
        return self.envelope(event, event_id=event_id)

    def mention(self, text: str, user: str, channel: str = "C0GENERAL") -> dict[str, Any]:
        """An envelope of an ``app_mention`` in a channel (``<@bot> text``)."""
        event = {
            "type": "app_mention",
            "channel": channel,
            "user": user,
            "text": f"<@{BOT_USER}> {text}",
            "ts": f"{int(time.time())}.{self.next_id():06d}",
        }
        return self.envelope(event)

    def block_action(self, value: str, user: str, channel: str | None = None) -> bytes:
        """The form body of an interactivity payload: ``user`` pressed a button of ``value``."""
        payload = {
            "type": "block_actions",
            "user": {"id": user, "team_id": TEAM},
            "api_app_id": APP,
            "team": {"id": TEAM},
            "channel": {"id": channel or f"D{user}"},
            "container": {"type": "message", "message_ts": "1.000001", "channel_id": channel},
            "trigger_id": f"{self.next_id()}.{secrets.randbelow(10**9)}.{secrets.token_hex(8)}",
            "actions": [
                {
                    "type": "button",
                    "action_id": "button-0",
                    "block_id": "b",
                    "value": value,
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        return urlencode({"payload": json.dumps(payload)}).encode("ascii")

    def signed_headers(
        self, body: bytes, *, timestamp: int | None = None, secret: str | None = None
    ) -> dict[str, str]:
        """``X-Slack-Request-Timestamp`` and ``X-Slack-Signature`` of ``body``."""
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        return {
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": sign(secret or self.signing_secret, stamp, body),
        }

    def post_event(
        self,
        rasa_url: str,
        envelope: dict[str, Any] | bytes,
        *,
        retry_num: int | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
        headers: dict[str, str] | None = None,
        form: bool = False,
    ) -> httpx.Response:
        """POSTs a signed event (or, ``form=True``, an interactivity form body) to Rasa."""
        body = envelope if isinstance(envelope, bytes) else json.dumps(envelope).encode("utf-8")
        sent = {"Content-Type": "application/x-www-form-urlencoded" if form else "application/json"}
        sent.update(self.signed_headers(body, timestamp=timestamp, secret=secret))
        if retry_num is not None:
            sent["X-Slack-Retry-Num"] = str(retry_num)
            sent["X-Slack-Retry-Reason"] = "http_timeout"
        sent.update(headers or {})
        return self.deliver(rasa_url, body, headers=sent)


def make_fake() -> FakeSlack:
    """A stopped fake Slack (``channel_stack`` starts it)."""
    return FakeSlack()
