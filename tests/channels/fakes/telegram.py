"""A fake Telegram Bot API (``https://api.telegram.org/bot<token>/<method>``) on loopback.

It answers ``sendMessage`` as Telegram does (``{"ok": true, "result": Message}``, or
``{"ok": false, "error_code", "description"}`` for a wrong token, an empty or too long text
or invalid button data), ``answerCallbackQuery``, ``getMe`` and ``setWebhook``, and builds
webhook updates (``message`` and ``callback_query``) carrying the
``X-Telegram-Bot-Api-Secret-Token`` header Telegram adds when the webhook was set with a
``secret_token``.
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import time
from typing import Any

import httpx

from tests.channels.fakes.base import Call, FakePlatform, Reply

HEADER_SECRET = "X-Telegram-Bot-Api-Secret-Token"
#: Longest text, counted (as the Bot API counts entity offsets) in UTF-16 code units.
MAX_TEXT_CHARS = 4096
CALLBACK_DATA_MAX_BYTES = 64
BOT_USERNAME = "leafbean_test_bot"


def _refusal(code: int, description: str, **parameters: Any) -> Reply:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return Reply(code, body)


class FakeTelegram(FakePlatform):
    """The Bot API's methods the channel uses, and the webhook's side."""

    name = "telegram"

    def __init__(self) -> None:
        """A fake with a random bot token and webhook secret."""
        super().__init__()
        self.token = f"{secrets.randbelow(10**9)}:{secrets.token_urlsafe(24)}"
        self.secret = secrets.token_urlsafe(32)
        self._ids = itertools.count(int(time.time()) % 10**6 * 1000)
        self._id_lock = threading.Lock()
        self.add_route("POST", r"/bot[^/]+/sendMessage", self._send_message)
        self.add_route("POST", r"/bot[^/]+/answerCallbackQuery", self._ok_true)
        self.add_route("POST", r"/bot[^/]+/setWebhook", self._ok_true)
        self.add_route("*", r"/bot[^/]+/getMe", self._get_me)

    def env(self) -> dict[str, str]:
        """The channel's variables, the API URL pointing at this fake."""
        return {
            "TELEGRAM_ACCESS_TOKEN": self.token,
            "TELEGRAM_WEBHOOK_SECRET": self.secret,
            "TELEGRAM_BOT_USERNAME": BOT_USERNAME,
            "TELEGRAM_WEBHOOK_URL": "https://bot.example.test/webhooks/telegram/webhook",
            "TELEGRAM_API_URL": self.url,
        }

    # -- the API -------------------------------------------------------------------------
    def _authorized(self, call: Call) -> bool:
        return call.path.split("/")[1] == f"bot{self.token}"

    def _ok_true(self, call: Call) -> Reply:
        if not self._authorized(call):
            return _refusal(401, "Unauthorized")
        return Reply(json={"ok": True, "result": True})

    def _get_me(self, call: Call) -> Reply:
        if not self._authorized(call):
            return _refusal(401, "Unauthorized")
        user = {"id": 1, "is_bot": True, "first_name": "Leaf", "username": BOT_USERNAME}
        return Reply(json={"ok": True, "result": user})

    def _send_message(self, call: Call) -> Reply:
        if not self._authorized(call):
            return _refusal(401, "Unauthorized")
        body = call.json if isinstance(call.json, dict) else {}
        chat_id = body.get("chat_id")
        text = body.get("text")
        if chat_id in (None, ""):
            return _refusal(400, "Bad Request: chat_id is empty")
        if not isinstance(text, str) or not text.strip():
            return _refusal(400, "Bad Request: message text is empty")
        if len(text.encode("utf-16-le", "surrogatepass")) // 2 > MAX_TEXT_CHARS:
            return _refusal(400, "Bad Request: message is too long")
        markup = body.get("reply_markup")
        if markup is not None:
            rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
            if not isinstance(rows, list):
                return _refusal(400, "Bad Request: can't parse reply keyboard markup JSON object")
            for button in (b for row in rows for b in (row if isinstance(row, list) else [])):
                data = button.get("callback_data", "") if isinstance(button, dict) else ""
                if not 1 <= len(str(data).encode("utf-8")) <= CALLBACK_DATA_MAX_BYTES:
                    return _refusal(400, "Bad Request: BUTTON_DATA_INVALID")
        result = {
            "message_id": self.next_id(),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "text": text,
        }
        return Reply(json={"ok": True, "result": result})

    def rate_limit_next(self, n: int = 1, retry_after: int = 1) -> None:
        """The next ``n`` sends get Telegram's 429 with ``parameters.retry_after``."""
        self.fail_next(
            n,
            429,
            json={
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {retry_after}",
                "parameters": {"retry_after": retry_after},
            },
            path="sendMessage",
        )

    # -- inspection ----------------------------------------------------------------------
    def sent(self, chat_id: int | str | None = None) -> list[dict[str, Any]]:
        """The bodies of every ``sendMessage`` call, failed ones too (to one chat, if given)."""
        found = []
        for call in self.calls_to(r"/sendMessage$"):
            body = call.json if isinstance(call.json, dict) else {}
            if chat_id is None or str(body.get("chat_id")) == str(chat_id):
                found.append(body)
        return found

    def sent_texts(self, chat_id: int | str) -> list[str]:
        """The texts sent to a chat (each attempt, failed ones too), oldest first."""
        return [str(body.get("text", "")) for body in self.sent(chat_id)]

    # -- the webhook side ----------------------------------------------------------------
    def next_id(self) -> int:
        """A fresh id (update ids, message ids, user ids)."""
        with self._id_lock:
            return next(self._ids)

    def message_update(
        self, text: str, user_id: int, *, update_id: int | None = None, chat_type: str = "private"
    ) -> dict[str, Any]:
        """An ``Update`` with a private text message from ``user_id``."""
        user = {"id": user_id, "is_bot": False, "first_name": "Test", "language_code": "en"}
        return {
            "update_id": update_id if update_id is not None else self.next_id(),
            "message": {
                "message_id": self.next_id(),
                "from": user,
                "chat": {"id": user_id, "type": chat_type, "first_name": "Test"},
                "date": int(time.time()),
                "text": text,
            },
        }

    def callback_update(
        self, data: str, user_id: int, *, update_id: int | None = None
    ) -> dict[str, Any]:
        """An ``Update`` with a ``callback_query``: ``user_id`` pressed a button of ``data``."""
        user = {"id": user_id, "is_bot": False, "first_name": "Test"}
        return {
            "update_id": update_id if update_id is not None else self.next_id(),
            "callback_query": {
                "id": str(self.next_id()),
                "from": user,
                "chat_instance": "1",
                "data": data,
                "message": {
                    "message_id": self.next_id(),
                    "from": {"id": 1, "is_bot": True, "first_name": "Leaf"},
                    "chat": {"id": user_id, "type": "private"},
                    "date": int(time.time()),
                    "text": "…",
                },
            },
        }

    def post_update(
        self,
        rasa_url: str,
        update: dict[str, Any] | bytes | str,
        *,
        secret: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """POSTs an update to Rasa as Telegram does (the secret header: ours, or ``secret``;
        ``secret=""`` sends none)."""
        body = update if isinstance(update, bytes | str) else json.dumps(update)
        sent = {"Content-Type": "application/json"}
        token = self.secret if secret is None else secret
        if token:
            sent[HEADER_SECRET] = token
        sent.update(headers or {})
        return self.deliver(rasa_url, body, headers=sent)


def make_fake() -> FakeTelegram:
    """A stopped fake Telegram (``channel_stack`` starts it)."""
    return FakeTelegram()
