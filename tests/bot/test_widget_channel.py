"""The widget channel (``bot.channels.widget``) in the Rasa environment.

The pure parts (what the history may show, the de-duplication memory) are tested directly;
the rest against a real ``rasa run`` with the trained model, only the widget channel, a
SQLite tracker store and no action server, driven by python-socketio's client.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("rasa")

import socketio  # noqa: E402
from rasa.shared.core.events import (  # noqa: E402
    ActionExecuted,
    BotUttered,
    SlotSet,
    UserUttered,
)

from bot.channels.widget import (  # noqa: E402
    RecentIds,
    history_item,
    is_safe_url,
    is_session_id,
    new_session_id,
)

pytestmark = pytest.mark.rasa_env
REPO = Path(__file__).resolve().parents[2]
RASA_BIN = REPO / ".venv-rasa" / "bin" / "rasa"
START_TIMEOUT_S = 120


# -- pure functions -----------------------------------------------------------------------
def test_session_ids_are_server_issued_hex() -> None:
    session = new_session_id()
    assert is_session_id(session) and len(session) == 32
    assert new_session_id() != session
    for bad in (None, "", "abc", "e2e-sender", "A" * 32, session + "0", "../" + session[3:]):
        assert not is_session_id(bad)


def test_only_http_urls_are_safe() -> None:
    assert is_safe_url("https://example.com/a.png")
    assert is_safe_url("http://127.0.0.1:8000/x")
    for bad in ("javascript:alert(1)", "data:image/png;base64,xx", "//evil.com", "ftp://x", 3):
        assert not is_safe_url(bad)


def test_history_shows_texts_buttons_images_and_times_but_no_metadata() -> None:
    user = UserUttered(
        "我的订单到哪了",
        metadata={"customer_id": "cus_0001", "customer_hash": "f" * 64, "client_id": "m1"},
        timestamp=100.0,
    )
    assert history_item(user) == {
        "role": "user",
        "text": "我的订单到哪了",
        "timestamp": 100.0,
        "client_id": "m1",
    }
    button = UserUttered("/human_handoff", metadata={"display_text": "转人工"}, timestamp=101.0)
    assert history_item(button)["text"] == "转人工"
    typed = UserUttered("hello", metadata={"display_text": "spoofed"}, timestamp=102.0)
    assert history_item(typed)["text"] == "hello"

    bot = BotUttered(
        "Hi",
        {"buttons": [{"title": "Talk to a person", "payload": "/human_handoff"}, {"x": 1}],
         "image": "javascript:alert(1)"},
        metadata={"utter_action": "utter_greet"},
        timestamp=103.0,
    )  # fmt: skip
    assert history_item(bot) == {
        "role": "bot",
        "text": "Hi",
        "timestamp": 103.0,
        "buttons": [{"title": "Talk to a person", "payload": "/human_handoff"}],
    }
    founder = BotUttered(
        "<b>hi</b>", {"image": "https://example.com/t.png"}, {"author": "founder"}, 104.0
    )
    assert history_item(founder) == {
        "role": "founder",
        "text": "<b>hi</b>",
        "timestamp": 104.0,
        "image": "https://example.com/t.png",
    }
    assert history_item(ActionExecuted("action_listen")) is None
    assert history_item(SlotSet("customer_id", "cus_0001")) is None
    assert history_item(BotUttered(None)) is None


def test_recent_ids_are_bounded() -> None:
    ids = RecentIds(max_sessions=2, max_per_session=2)
    ids.add("s1", "a", 1.0)
    ids.add("s1", "b", 2.0)
    ids.add("s1", "c", 3.0)
    assert ids.seen("s1", "a") is None and ids.seen("s1", "c") == 3.0
    ids.add("s2", "a", 4.0)
    ids.add("s3", "a", 5.0)
    assert ids.seen("s1", "c") is None  # least recently used session dropped
    assert ids.seen("s3", "a") == 5.0


# -- against a real Rasa server ------------------------------------------------------------
@dataclass(frozen=True)
class Server:
    """A running ``rasa run`` with the widget channel."""

    url: str
    token: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _model() -> Path:
    if os.environ.get("MODEL"):
        return Path(os.environ["MODEL"])
    models = sorted((REPO / "models").glob("leafbean-*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not models:
        pytest.fail("No trained model: run `make train` first.")
    return models[-1]


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def _post(url: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        url, data=json.dumps(body or {}).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``rasa run`` with only the widget channel, a SQLite tracker store, no action server."""
    workdir = tmp_path_factory.mktemp("widget_channel")
    credentials = workdir / "credentials.yml"
    credentials.write_text(
        "bot.channels.widget.WidgetInput:\n  socketio_path: /widget/socket.io\n"
        "  max_message_chars: 50\n",
        encoding="utf-8",
    )
    endpoints = workdir / "endpoints.yml"
    endpoints.write_text(
        f"tracker_store:\n  type: SQL\n  dialect: sqlite\n  db: {workdir / 'tracker.db'}\n"
        f"action_endpoint:\n  url: http://127.0.0.1:{_free_port()}/webhook\n",
        encoding="utf-8",
    )
    port, token = _free_port(), secrets.token_hex(8)
    env = dict(
        os.environ, PYTHONPATH=str(REPO), RASA_AUTH_TOKEN=token, RASA_TELEMETRY_ENABLED="false"
    )
    log = (workdir / "rasa.log").open("wb")
    process = subprocess.Popen(
        [
            str(RASA_BIN), "run", "--model", str(_model()), "--enable-api", "--port", str(port),
            "--credentials", str(credentials), "--endpoints", str(endpoints),
        ],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while True:
            if process.poll() is not None:
                pytest.fail((workdir / "rasa.log").read_text(errors="replace")[-3000:])
            try:
                if _get(f"{url}/status")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("rasa run did not start")
            time.sleep(0.5)
        yield Server(url, token)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


class Client:
    """A widget-like socket.io client that records every event it receives."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.sio = socketio.AsyncClient()
        self.events: list[tuple[str, Any]] = []
        self.session_id: str | None = None
        self._confirmed = asyncio.Event()

        @self.sio.on("*")
        async def record(event: str, data: Any = None) -> None:
            self.events.append((event, data))
            if event == "session_confirm":
                self.session_id = data
                self._confirmed.set()

    async def start(self, session_id: str | None = None) -> str:
        await self.sio.connect(
            self.server.url, socketio_path="/widget/socket.io", transports=["polling"]
        )
        self._confirmed.clear()
        await self.sio.emit("session_request", {"session_id": session_id})
        await asyncio.wait_for(self._confirmed.wait(), 10)
        assert self.session_id is not None
        return self.session_id

    async def say(self, text: str, client_id: str | None, **extra: Any) -> dict[str, Any]:
        payload = {"session_id": self.session_id, "message": text, "client_id": client_id}
        payload.update(extra)
        return dict(await self.sio.call("user_uttered", payload, timeout=30))

    async def close(self) -> None:
        """Disconnects without waiting for the pending long-poll (up to 25 s) to end."""
        for namespace in self.sio.namespaces:
            await self.sio._send_packet(
                self.sio.packet_class(socketio.packet.DISCONNECT, namespace=namespace)
            )
        await self.sio.eio.disconnect(abort=True)
        if self.sio.eio.http is not None:
            await self.sio.eio.http.close()

    def named(self, event: str) -> list[Any]:
        return [data for name, data in self.events if name == event]


def run(coroutine: Any) -> Any:
    """Runs a coroutine to completion (no pytest-asyncio in the Rasa environment)."""
    return asyncio.run(coroutine)


def user_texts(server: Server, session_id: str) -> list[str]:
    status, body = _get(f"{server.url}/webhooks/widget/history/{session_id}")
    assert status == 200
    return [m["text"] for m in body["messages"] if m["role"] == "user"]


def test_a_malformed_session_id_gets_a_fresh_one_and_a_good_one_is_kept(server: Server) -> None:
    async def scenario() -> None:
        client = Client(server)
        fresh = await client.start("not-a-session")
        assert is_session_id(fresh)
        await client.close()
        again = Client(server)
        assert await again.start(fresh) == fresh
        await asyncio.sleep(0.3)
        assert again.named("bot_state") == [{"paused": False}]
        await again.close()

    run(scenario())


def test_a_resent_client_id_is_processed_once_even_concurrently(server: Server) -> None:
    async def scenario() -> None:
        client = Client(server)
        session = await client.start()
        first = await client.say("hello", "m1")
        assert first["ok"] and not first.get("duplicate")
        again = await client.say("hello", "m1")
        assert again == {**first, "duplicate": True}
        both = await asyncio.gather(client.say("thanks", "m2"), client.say("thanks", "m2"))
        assert sorted(bool(a.get("duplicate")) for a in both) == [False, True]
        await client.say("bye", "m3")
        await asyncio.sleep(0.3)
        assert user_texts(server, session) == ["hello", "thanks", "bye"]
        # The bot answered each message once, with author and timestamp.
        replies = client.named("bot_uttered")
        assert replies and all(r["author"] == "bot" and r["timestamp"] > 0 for r in replies)
        typing = client.named("typing")
        assert typing.count({"on": True, "author": "bot"}) == 3
        assert typing.count({"on": False, "author": "bot"}) == 3
        await client.close()

    run(scenario())


def test_duplicates_are_recognised_from_the_tracker_after_a_restart_of_memory(
    server: Server,
) -> None:
    async def scenario() -> None:
        client = Client(server)
        session = await client.start()
        await client.say("hello", "k1")
        await client.close()
        # A new connection of the same session (e.g. another tab) resends it.
        other = Client(server)
        await other.start(session)
        ack = await other.say("hello", "k1")
        assert ack["ok"] and ack["duplicate"]
        assert user_texts(server, session) == ["hello"]
        await other.close()

    run(scenario())


def test_bad_messages_are_refused(server: Server) -> None:
    async def scenario() -> None:
        client = Client(server)
        session = await client.start()
        too_long = await client.say("x" * 51, "a1")
        assert too_long == {"ok": False, "error": "too_long", "limit": 50, "client_id": "a1"}
        assert (await client.say("   ", "a2"))["error"] == "empty"
        assert (await client.say("hi", "bad id!"))["error"] == "bad_client_id"
        stranger = new_session_id()
        ack = dict(
            await client.sio.call(
                "user_uttered", {"session_id": stranger, "message": "hi", "client_id": "a3"}
            )
        )
        assert ack == {"ok": False, "error": "no_session"}
        assert user_texts(server, session) == []
        assert _get(f"{server.url}/webhooks/widget/history/{stranger}")[1]["messages"] == []
        await client.close()

    run(scenario())


def test_history_is_only_of_that_session_and_hides_metadata(server: Server) -> None:
    async def scenario() -> tuple[str, str]:
        a, b = Client(server), Client(server)
        session_a, session_b = await a.start(), await b.start()
        secret_hash = "ab" * 32
        await a.say(
            "hello from a", "x1", metadata={"customer_id": "cus_1", "customer_hash": secret_hash}
        )
        await b.say("hello from b", "x1")
        await a.close()
        await b.close()
        return session_a, session_b

    session_a, session_b = run(scenario())
    status, body = _get(f"{server.url}/webhooks/widget/history/{session_a}")
    assert status == 200 and body["session_id"] == session_a and body["paused"] is False
    assert [m["text"] for m in body["messages"] if m["role"] == "user"] == ["hello from a"]
    assert all(set(m) <= {"role", "text", "timestamp", "buttons", "image", "client_id"}
               for m in body["messages"])  # fmt: skip
    raw = json.dumps(body)
    assert "ab" * 32 not in raw and "cus_1" not in raw and "hello from b" not in raw
    assert _get(f"{server.url}/webhooks/widget/history/e2e-sender")[0] == 404


def test_founder_routes_need_the_token(server: Server) -> None:
    session = new_session_id()
    url = f"{server.url}/webhooks/widget/founder/{session}/pause"
    assert _post(url)[0] == 401
    assert _post(url, token="wrong")[0] == 401
    assert _post(url, token=server.token)[0] == 404  # unknown conversation, nothing created
    assert _get(f"{server.url}/webhooks/widget/history/{session}")[1]["messages"] == []


def test_founder_takes_over_pauses_the_bot_and_hands_back(server: Server) -> None:
    async def scenario() -> None:
        customer, second_tab = Client(server), Client(server)
        session = await customer.start()
        await customer.say("I want a person", "f1")
        await second_tab.start(session)
        base = f"{server.url}/webhooks/widget/founder/{session}"
        assert _post(f"{base}/pause", token=server.token) == (200, {"ok": True, "paused": True})
        assert _post(f"{base}/typing", {"on": True}, token=server.token)[0] == 200
        status, body = _post(f"{base}/message", {"text": "Hi, it's Ye."}, token=server.token)
        assert status == 200
        assert _post(f"{base}/message", {"text": " "}, token=server.token)[0] == 400
        bad_image = {"text": "x", "image": "javascript:alert(1)"}
        assert _post(f"{base}/message", bad_image, token=server.token)[0] == 400
        await asyncio.sleep(0.3)
        for tab in (customer, second_tab):
            assert {"paused": True} in tab.named("bot_state")
            assert {"on": True, "author": "founder"} in tab.named("typing")
            assert {
                "text": "Hi, it's Ye.",
                "author": "founder",
                "timestamp": body["timestamp"],
            } in (tab.named("bot_uttered"))
        # While paused the bot neither types nor answers; the message is still recorded.
        bot_before = len(customer.named("bot_uttered"))
        await customer.say("thanks!", "f2")
        await asyncio.sleep(0.3)
        assert len(customer.named("bot_uttered")) == bot_before
        assert {"on": True, "author": "bot"} not in customer.named("typing")[-2:]
        assert second_tab.named("user_echo")[-1]["text"] == "thanks!"
        history = _get(f"{server.url}/webhooks/widget/history/{session}")[1]
        assert history["paused"] is True
        assert [m["role"] for m in history["messages"]][-2:] == ["founder", "user"]
        # The tracker has the founder's message as BotUttered with author metadata.
        tracker = _get(f"{server.url}/conversations/{session}/tracker")[1]
        founder_events = [
            e for e in tracker["events"]
            if e["event"] == "bot" and (e.get("metadata") or {}).get("author") == "founder"
        ]  # fmt: skip
        assert [e["text"] for e in founder_events] == ["Hi, it's Ye."]
        assert _post(f"{base}/resume", token=server.token)[0] == 200
        await asyncio.sleep(0.3)
        assert customer.named("bot_state")[-1] == {"paused": False}
        replies_before = len(customer.named("bot_uttered"))
        await customer.say("hello again", "f3")
        assert len(customer.named("bot_uttered")) > replies_before  # the bot is back
        await customer.close()
        await second_tab.close()

    run(scenario())
