"""The messaging base's webhook flow (bot/channels/messaging/base.py, conversation.py).

In this process: the trained model's real agent (SQLite tracker store), Rasa's channel
registration on a Sanic server, the Telegram channel (a platform of the base) talking to a
local HTTP server that records ``sendMessage`` calls as Telegram would answer them. Covers
refused requests (nothing stored, one throttled warning, no body in the log), the body cap,
a redelivery processed once, the metadata of a message (``channel_address``, message id, no
identity), a paused conversation left silent, the answer not waiting for slow sends, a
client that hangs up, a polite refusal of an over-long message, and the pure pieces
(conversation ids, numbered replies, the latest buttons).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from rasa.core.agent import load_agent
from rasa.core.channels.channel import register
from rasa.core.utils import AvailableEndpoints
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    ConversationPaused,
    UserUttered,
)
from rasa.utils.endpoints import EndpointConfig
from sanic import Sanic

from bot.channels.limits import too_long_message
from bot.channels.messaging.conversation import latest_buttons, number_of, sender_id_of
from bot.channels.messaging.telegram import HEADER_SECRET, TelegramInput
from tests.bot.door_server import model

TIMEOUT_S = 60.0
#: Without an action server a first message gets the bot's apology (a response of the domain).
THANKS = "谢谢"


class TelegramApi:
    """Telegram's ``sendMessage`` on loopback; records bodies; may answer slowly."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.delay_s = 0.0
        self.token = f"{secrets.randbelow(10**9)}:{secrets.token_urlsafe(16)}"
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                time.sleep(api.delay_s)
                api.sent.append(body)
                data = json.dumps({"ok": True, "result": {"message_id": len(api.sent)}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def texts(self, chat_id: int) -> list[str]:
        return [b["text"] for b in list(self.sent) if b.get("chat_id") == str(chat_id)]


class Served:
    """A Sanic server with the Telegram channel and the real agent, on its own loop."""

    def __init__(self, workdir: Path) -> None:
        self.api = TelegramApi()
        self.secret = secrets.token_urlsafe(24)
        self.channel = TelegramInput(self.api.token, self.secret, api_url=self.api.url)
        self.tracker_db = workdir / "tracker.db"
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        endpoints = AvailableEndpoints(
            tracker_store=EndpointConfig(type="SQL", dialect="sqlite", db=str(self.tracker_db)),
            nlg=EndpointConfig(type="bot.nlg.ScriptAwareNLG"),
        )
        self.agent = self.run(load_agent(model_path=str(model()), endpoints=endpoints))
        app = Sanic(f"messaging_flow_{secrets.token_hex(4)}")
        app.ctx.agent = self.agent
        register([self.channel], app, route="/webhooks/")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.server = self.run(
            app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
        )
        self.run(self.server.startup())
        self.run(self.server.after_start())
        self.url = f"http://127.0.0.1:{port}/webhooks/telegram/webhook"
        self._ids = iter(range(10**6, 10**7))

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(TIMEOUT_S)

    def stop(self) -> None:
        self.server.close()
        self.api.server.shutdown()
        self.loop.call_soon_threadsafe(self.loop.stop)

    def update(self, user: int, text: str, update_id: int | None = None) -> dict[str, Any]:
        sender = {"id": user, "is_bot": False, "first_name": "T"}
        return {
            "update_id": update_id if update_id is not None else next(self._ids),
            "message": {
                "message_id": next(self._ids),
                "from": sender,
                "chat": {"id": user, "type": "private"},
                "date": int(time.time()),
                "text": text,
            },
        }

    def post(
        self, body: Any, secret: str | None = None, timeout: float = TIMEOUT_S
    ) -> requests.Response:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if secret != "":
            headers[HEADER_SECRET] = self.secret if secret is None else secret
        return requests.post(self.url, data=data, headers=headers, timeout=timeout)

    def events(self, sender_id: str) -> list[Any]:
        tracker = self.run(self.agent.tracker_store.retrieve_full_tracker(sender_id))
        return [] if tracker is None else list(tracker.events)

    def bot_texts(self, sender_id: str) -> list[str]:
        return [e.text for e in self.events(sender_id) if isinstance(e, BotUttered) and e.text]

    def answered(self, user: int) -> list[str]:
        """Waits until every bot message of the conversation was sent; returns the texts."""

        def done() -> list[str] | None:
            bot = self.bot_texts(f"telegram:{user}")
            return bot if bot and self.api.texts(user) == bot else None

        return list(_wait(done, "the replies"))

    def user_events(self, sender_id: str) -> list[UserUttered]:
        return [e for e in self.events(sender_id) if isinstance(e, UserUttered)]

    def deliveries(self) -> int:
        import sqlite3

        with sqlite3.connect(self.tracker_db) as db:
            try:
                return int(db.execute("SELECT COUNT(*) FROM channel_deliveries").fetchone()[0])
            except sqlite3.OperationalError:
                return 0


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = Served(tmp_path_factory.mktemp("messaging_flow"))
    yield server
    server.stop()


def _user() -> int:
    return 10**9 + secrets.randbelow(10**9)


def _wait(check: Any, what: str, timeout: float = TIMEOUT_S) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_refused_requests_store_nothing_and_are_logged_once_without_their_body(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    user = _user()
    before = served.deliveries()
    with caplog.at_level(logging.WARNING, logger="bot.channels.messaging.base"):
        answers = [
            served.post(served.update(user, f"secret words {i}"), secret="forged").status_code
            for i in range(20)
        ]
        answers.append(served.post(served.update(user, "secret words"), secret="").status_code)
    assert answers == [403] * 20 + [401]
    assert served.user_events(f"telegram:{user}") == []
    assert served.deliveries() == before
    lines = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(lines) == 1, lines
    assert "secret words" not in caplog.text
    assert served.api.texts(user) == []


def test_a_body_over_the_cap_is_refused_unread(served: Served) -> None:
    user = _user()
    update = served.update(user, "x" * 300_000)
    assert served.post(update).status_code == 413
    assert served.user_events(f"telegram:{user}") == []


def test_a_message_is_stored_with_its_address_and_answered(served: Served) -> None:
    user = _user()
    update = served.update(user, THANKS)
    answer = served.post(update)
    assert answer.status_code == 200
    served.answered(user)
    [event] = served.user_events(f"telegram:{user}")
    assert event.text == THANKS
    assert event.input_channel == "telegram"
    assert event.message_id == f"telegram:{update['update_id']}"
    assert event.metadata["channel_address"] == {"chat_id": str(user)}
    assert "verified_customer_id" not in event.metadata  # only a binding gives one


def test_a_redelivery_is_processed_and_answered_once(served: Served) -> None:
    user = _user()
    update = served.update(user, THANKS)
    assert served.post(update).status_code == 200
    replies = served.answered(user)
    with_threads = [threading.Thread(target=served.post, args=(update,)) for _ in range(4)]
    for thread in with_threads:
        thread.start()
    for thread in with_threads:
        thread.join()
    time.sleep(1.0)
    assert len(served.user_events(f"telegram:{user}")) == 1
    assert served.api.texts(user) == replies


def test_a_paused_conversation_records_the_message_and_sends_nothing(served: Served) -> None:
    user = _user()
    sender = f"telegram:{user}"
    served.post(served.update(user, THANKS))
    replies = served.answered(user)

    async def pause() -> None:
        store = served.agent.tracker_store
        tracker = await store.retrieve(sender)
        tracker.update(ConversationPaused())
        await store.save(tracker)

    served.run(pause())
    assert served.post(served.update(user, THANKS)).status_code == 200
    _wait(lambda: len(served.user_events(sender)) == 2, "the paused message in the tracker")
    time.sleep(1.5)
    assert served.api.texts(user) == replies


def test_the_answer_does_not_wait_for_slow_sends(served: Served) -> None:
    user = _user()
    served.api.delay_s = 2.0
    try:
        started = time.monotonic()
        assert served.post(served.update(user, THANKS)).status_code == 200
        answered = time.monotonic() - started
        _wait(lambda: served.api.texts(user), "the slow reply")
        assert answered < 2.0 <= time.monotonic() - started
    finally:
        served.api.delay_s = 0.0


def test_a_client_that_hangs_up_still_gets_its_message_processed(served: Served) -> None:
    user = _user()
    with pytest.raises(requests.exceptions.ReadTimeout):
        served.post(served.update(user, THANKS), timeout=0.01)
    assert served.answered(user)
    assert len(served.user_events(f"telegram:{user}")) == 1


def test_an_over_long_message_gets_one_polite_refusal(served: Served) -> None:
    user = _user()
    limit = served.channel.limits.max_message_chars
    for _ in range(3):
        assert served.post(served.update(user, "长" * (limit + 1))).status_code == 200
    assert _wait(lambda: served.api.texts(user), "the refusal") == [too_long_message(limit)]
    time.sleep(0.5)
    assert len(served.api.texts(user)) == 1  # at most once a minute
    assert served.user_events(f"telegram:{user}") == []


def test_control_characters_and_lone_surrogates_never_reach_the_tracker(served: Served) -> None:
    user = _user()
    body = json.dumps(served.update(user, "谢\x00谢\x07\ud800")).encode()
    assert served.post(body).status_code == 200
    event = _wait(lambda: served.user_events(f"telegram:{user}"), "the message")[0]
    assert event.text == THANKS


def test_conversation_ids() -> None:
    assert sender_id_of("telegram", "12345") == "telegram:12345"
    assert sender_id_of("wecom", "Zhang.San@corp") == "wecom:Zhang.San@corp"
    odd = sender_id_of("slack", "用户 one")
    assert odd.startswith("slack:h") and len(odd) == len("slack:h") + 40
    assert sender_id_of("slack", "用户 one") == odd != sender_id_of("slack", "用户 two")
    assert sender_id_of("feishu", "u" * 200).startswith("feishu:h")
    assert sender_id_of("feishu", "\ud800").startswith("feishu:h")


@pytest.mark.parametrize(
    ("text", "number"),
    [("1", 1), (" 2 ", 2), ("１", 1), ("一", 1), ("三。", 3), ("十", 10), ("2.", 2), ("12", 12)],
)
def test_numbered_replies(text: str, number: int) -> None:
    assert number_of(text) == number


@pytest.mark.parametrize("text", ["", "hello", "123", "1 2", "一二", "0x1", "²"])
def test_not_numbered_replies(text: str) -> None:
    assert number_of(text) is None


def test_the_latest_buttons_are_those_of_the_bots_last_turn() -> None:
    buttons = [{"title": "转人工", "payload": "/human_handoff"}, {"title": "订单", "payload": "/o"}]
    events = [
        UserUttered("hi"),
        ActionExecuted("utter_fallback"),
        BotUttered("抱歉", {"buttons": buttons}),
        BotUttered("founder says hi", {}, metadata={"author": "founder"}),
    ]
    assert latest_buttons(events) == [("转人工", "/human_handoff"), ("订单", "/o")]
    assert latest_buttons([*events, UserUttered("1")]) == []
    assert latest_buttons([]) == []
