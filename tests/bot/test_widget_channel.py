"""The widget channel (``bot.channels.widget``) against a real ``rasa run``.

What the history may show is tested directly; the rest against the shared door server
(``tests/bot/door_server.py``: the repository's credentials, a JWT-protected API), driven by
python-socketio's client: session tokens and their rotation, a stolen session id, the origin
check, the door's limits and identity rule on socket.io, de-duplication and the founder's
takeover with a JWT.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

pytest.importorskip("rasa")

import socketio  # noqa: E402
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered  # noqa: E402

from bot.channels.identity import sign_token  # noqa: E402
from bot.channels.widget_routes import history_item, is_safe_url  # noqa: E402
from bot.channels.widget_session import is_session_id, new_session_id  # noqa: E402
from tests.bot.door_server import (  # noqa: E402
    IP_PER_MINUTE,
    SITE_ORIGIN,
    TOKEN_GRACE_S,
    DoorServer,
    Reply,
    http,
)

pytestmark = pytest.mark.rasa_env


# -- pure functions -----------------------------------------------------------------------
def test_only_http_urls_are_safe() -> None:
    assert is_safe_url("https://example.com/a.png")
    assert is_safe_url("http://127.0.0.1:8000/x")
    for bad in ("javascript:alert(1)", "data:image/png;base64,xx", "//evil.com", "ftp://x", 3):
        assert not is_safe_url(bad)


def test_history_shows_texts_buttons_images_and_times_but_no_metadata() -> None:
    user = UserUttered(
        "我的订单到哪了",
        metadata={"verified_customer_id": "cus_0001", "client_id": "m1"},
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


# -- against a real Rasa server ------------------------------------------------------------
class Client:
    """A widget-like socket.io client that records every event it receives."""

    def __init__(self, server: DoorServer, origin: str | None = SITE_ORIGIN) -> None:
        self.server = server
        self.origin = origin
        self.sio = socketio.AsyncClient()
        self.events: list[tuple[str, Any]] = []
        self.session_id: str | None = None
        self.token: str | None = None
        self._history = asyncio.Event()

        @self.sio.on("*")
        async def record(event: str, data: Any = None) -> None:
            self.events.append((event, data))
            if event == "session_confirm":
                self.session_id, self.token = data["session_id"], data["session_token"]
            if event == "history":
                self._history.set()

    async def start(self, session_id: str | None = None, token: str | None = None) -> str:
        """Connects and asks for a session; returns the confirmed session id."""
        headers = {"Origin": self.origin} if self.origin else {}
        await self.sio.connect(
            self.server.url,
            socketio_path="/widget/socket.io",
            transports=["polling"],
            headers=headers,
        )
        self._history.clear()
        await self.sio.emit("session_request", {"session_id": session_id, "session_token": token})
        await asyncio.wait_for(self._history.wait(), 10)
        assert self.session_id is not None
        return self.session_id

    async def say(self, text: Any, client_id: str | None, **extra: Any) -> dict[str, Any]:
        payload = {"session_id": self.session_id, "message": text, "client_id": client_id}
        payload.update(extra)
        return dict(await self.sio.call("user_uttered", payload, timeout=60))

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

    def history_texts(self) -> list[str]:
        """The user texts of the last ``history`` event."""
        return [m["text"] for m in self.named("history")[-1]["messages"] if m["role"] == "user"]


def without_rasa_keys(metadata: dict[str, Any]) -> dict[str, Any]:
    """Message metadata without what Rasa adds itself (model and assistant ids)."""
    return {k: v for k, v in metadata.items() if k not in ("model_id", "assistant_id")}


def run(coroutine: Any) -> Any:
    """Runs a coroutine to completion (no pytest-asyncio in the Rasa environment)."""
    return asyncio.run(coroutine)


def history(server: DoorServer, session_id: str, token: str | None, **headers: str) -> Reply:
    return http(f"{server.url}/webhooks/widget/history/{session_id}", token=token, headers=headers)


def user_texts(server: DoorServer, session_id: str) -> list[str]:
    reply = history(server, session_id, server.founder_jwt())
    assert reply.status == 200, reply.body
    return [m["text"] for m in reply.body["messages"] if m["role"] == "user"]


def test_a_session_continues_only_with_its_token(door_server: DoorServer) -> None:
    async def scenario() -> None:
        first = Client(door_server)
        session = await first.start()
        token = first.token
        assert is_session_id(session) and token and token.startswith("v1.")
        await first.say("hello", "t1")
        await first.close()
        # The same browser comes back: same session, its history, a new token.
        again = Client(door_server)
        assert await again.start(session, token) == session
        assert again.token != token
        assert again.history_texts() == ["hello"]
        assert again.named("bot_state") == [{"paused": False}]
        # Someone who knows only the id, or forges a token, gets a fresh, empty session.
        for forged in (None, "", "v1.1.x." + "0" * 64, token[:-2] + "00"):  # type: ignore[index]
            stranger = Client(door_server)
            got = await stranger.start(session, forged)
            assert got != session and is_session_id(got)
            assert stranger.named("history")[-1]["messages"] == []
            await stranger.close()
        malformed = Client(door_server)
        assert is_session_id(await malformed.start("not-a-session", token))
        await malformed.close()
        await again.close()

    run(scenario())


def test_a_stolen_token_stops_working_once_the_owner_reconnected(door_server: DoorServer) -> None:
    async def scenario() -> tuple[str, str, str]:
        owner = Client(door_server)
        session = await owner.start()
        stolen = owner.token
        await owner.say("my address is secret", "s1")
        await owner.close()
        back = Client(door_server)
        await back.start(session, stolen)  # rotation: the owner now holds a newer token
        await asyncio.sleep(TOKEN_GRACE_S + 1)
        thief = Client(door_server)
        assert await thief.start(session, stolen) != session
        assert thief.named("history")[-1]["messages"] == []
        await thief.close()
        await back.close()
        assert stolen and back.token
        return session, stolen, back.token

    session, stolen, current = run(scenario())
    assert history(door_server, session, stolen).status == 401
    assert history(door_server, session, None).status == 401
    ok = history(door_server, session, current)
    assert ok.status == 200
    assert [m["text"] for m in ok.body["messages"] if m["role"] == "user"] == [
        "my address is secret"
    ]


def test_history_answers_only_the_site_origins(door_server: DoorServer) -> None:
    async def scenario() -> tuple[str, str]:
        client = Client(door_server)
        session = await client.start()
        await client.say("hi", "o1")
        await client.close()
        assert client.token
        return session, client.token

    session, token = run(scenario())
    allowed = history(door_server, session, token, Origin=SITE_ORIGIN)
    assert allowed.status == 200
    assert allowed.headers["access-control-allow-origin"] == SITE_ORIGIN
    assert allowed.headers["vary"] == "Origin"
    evil = history(door_server, session, token, Origin="http://evil.example")
    assert evil.status == 403 and "access-control-allow-origin" not in evil.headers
    assert evil.headers["vary"] == "Origin"
    server_side = history(door_server, session, token)
    assert server_side.status == 200 and "access-control-allow-origin" not in server_side.headers
    assert history(door_server, session, door_server.founder_jwt()).status == 200
    assert history(door_server, session, door_server.founder_jwt(role="user")).status == 401
    assert history(door_server, "e2e-sender", token).status == 404
    assert history(door_server, new_session_id(), token).status == 401


def test_history_requests_count_against_the_client_address(door_server: DoorServer) -> None:
    client = {"X-Forwarded-For": "203.0.113.90"}
    session = new_session_id()
    statuses = [
        history(door_server, session, None, **client).status for _ in range(IP_PER_MINUTE + 1)
    ]
    assert statuses == [401] * IP_PER_MINUTE + [429]
    limited = history(door_server, session, None, **client)
    assert limited.status == 429 and int(limited.headers["retry-after"]) >= 1
    assert history(door_server, session, None).status == 401  # loopback: not limited


def test_browsers_of_other_sites_cannot_connect(door_server: DoorServer) -> None:
    async def scenario() -> None:
        evil = Client(door_server, origin="http://evil.example")
        with pytest.raises(socketio.exceptions.ConnectionError):
            await evil.start()
        no_browser = Client(door_server, origin=None)
        assert is_session_id(await no_browser.start())
        await no_browser.close()

    run(scenario())


def test_a_resent_client_id_is_processed_once_even_concurrently(door_server: DoorServer) -> None:
    async def scenario() -> None:
        client = Client(door_server)
        session = await client.start()
        first = await client.say("hello", "m1")
        assert first["ok"] and not first.get("duplicate")
        again = await client.say("hello", "m1")
        assert again == {**first, "duplicate": True}
        both = await asyncio.gather(client.say("thanks", "m2"), client.say("thanks", "m2"))
        assert sorted(bool(a.get("duplicate")) for a in both) == [False, True]
        await client.say("bye", "m3")
        await asyncio.sleep(0.3)
        assert user_texts(door_server, session) == ["hello", "thanks", "bye"]
        replies = client.named("bot_uttered")
        assert replies and all(r["author"] == "bot" and r["timestamp"] > 0 for r in replies)
        typing = client.named("typing")
        assert typing.count({"on": True, "author": "bot"}) == 3
        assert typing.count({"on": False, "author": "bot"}) == 3
        await client.close()
        # Another tab of the same session resends it: recognised from the tracker too.
        other = Client(door_server)
        await other.start(session, client.token)
        ack = await other.say("hello", "m1")
        assert ack["ok"] and ack["duplicate"]
        await other.close()

    run(scenario())


def test_hostile_messages_get_polite_refusals(door_server: DoorServer) -> None:
    async def scenario() -> str:
        client = Client(door_server)
        session = await client.start()
        too_long = await client.say("x" * 2001, "a1")
        assert too_long["ok"] is False and too_long["error"] == "too_long"
        assert too_long["limit"] == 2000 and too_long["client_id"] == "a1"
        assert "最多 2000 字" in too_long["message"] and "too long" in too_long["message"]
        assert (await client.say("y" * 30_000, "a2"))["error"] == "too_long"
        for empty in ("   ", "\x00\x01", "", None):
            assert (await client.say(empty, "a3"))["error"] == "empty"
        assert (await client.say({"$gt": ""}, "a3"))["error"] == "bad_message"
        big = await client.say("hi", "a4", metadata={"blob": "x" * 30_000})
        assert big["error"] == "too_large" and " / " in big["message"]
        assert (await client.say("hi", "a5", metadata=[1]))["error"] == "bad_metadata"
        assert (await client.say("hi", "bad id!"))["error"] == "bad_client_id"
        stranger = new_session_id()
        ack = dict(
            await client.sio.call(
                "user_uttered", {"session_id": stranger, "message": "hi", "client_id": "a6"}
            )
        )
        assert ack == {"ok": False, "error": "no_session"}
        assert (await client.say("\ud800订单\x00到了\x1b吗", "a7"))["ok"]
        assert (await client.say("😀🙏🏽", "a8"))["ok"]
        await client.close()
        return session

    session = run(scenario())
    assert user_texts(door_server, session) == ["订单到了吗", "😀🙏🏽"]


def test_identity_is_verified_once_and_never_stored(door_server: DoorServer) -> None:
    expires = int(time.time()) + 3600
    token = sign_token("cus_0001", expires, door_server.identity_secret)
    valid = {"customer_id": "cus_0001", "expires_at": expires, "customer_token": token}

    async def scenario() -> str:
        client = Client(door_server)
        session = await client.start()
        await client.say("我的订单", "i1", metadata=valid)
        await client.say("我的订单", "i2", metadata={**valid, "customer_id": "cus_0002"})
        await client.say("我的订单", "i3", metadata={"verified_customer_id": "cus_0009"})
        await client.say("/human_handoff", "i4", metadata={**valid, "display_text": "转人工"})
        await client.close()
        return session

    session = run(scenario())
    events = door_server.user_events(session)
    assert [e["metadata"].get("verified_customer_id") for e in events] == [
        "cus_0001", None, None, "cus_0001",
    ]  # fmt: skip
    assert without_rasa_keys(events[0]["metadata"]) == {
        "verified_customer_id": "cus_0001",
        "client_id": "i1",
    }
    assert events[3]["metadata"]["display_text"] == "转人工"
    raw = json.dumps(door_server.tracker(session))
    assert token not in raw and "customer_token" not in raw and "cus_0009" not in raw


def test_a_flooding_session_is_refused_while_another_is_answered(door_server: DoorServer) -> None:
    async def scenario() -> None:
        flood, customer = Client(door_server), Client(door_server)
        await flood.start()
        await customer.start()
        calls = []
        for i in range(30):
            calls.append(asyncio.ensure_future(flood.say(f"flood {i}", f"f{i}")))
            if i % 8 == 7:  # engine.io takes at most 16 packets per polling request
                await asyncio.sleep(0.05)
        acks = asyncio.gather(*calls)
        started = time.monotonic()
        answer = await customer.say("你好", "c1")
        took = time.monotonic() - started
        results = await acks
        assert answer["ok"] and took < 20
        limited = [a for a in results if not a["ok"]]
        assert len(limited) >= 20 and sum(a["ok"] for a in results) >= 3
        assert all(a["error"] == "rate_limited" and a["retry_after"] >= 1 for a in limited)
        assert "稍等" in limited[0]["message"] and "too fast" in limited[0]["message"]
        await flood.close()
        await customer.close()

    run(scenario())


def test_founder_routes_need_an_admin_jwt(door_server: DoorServer) -> None:
    session = new_session_id()
    url = f"{door_server.url}/webhooks/widget/founder/{session}/pause"
    assert http(url, {}).status == 401
    assert http(url, {}, token="wrong").status == 401
    other = "another-secret-that-is-long-enough-for-hs256"
    assert http(url, {}, token=door_server.founder_jwt(secret=other)).status == 401
    assert http(url, {}, token=door_server.founder_jwt(exp_in=-30)).status == 401
    assert http(url, {}, token=door_server.founder_jwt(role="user")).status == 403
    # An admin reaches the route: unknown conversation, and nothing was created.
    assert http(url, {}, token=door_server.founder_jwt()).status == 404
    assert user_texts(door_server, session) == []


def test_founder_takes_over_pauses_the_bot_and_hands_back(door_server: DoorServer) -> None:
    jwt_token = door_server.founder_jwt()

    def post(path: str, body: Any = None) -> Reply:
        return http(
            f"{door_server.url}/webhooks/widget/founder/{path}", body or {}, token=jwt_token
        )

    async def scenario() -> None:
        customer, second_tab = Client(door_server), Client(door_server)
        session = await customer.start()
        await customer.say("I want a person", "f1")
        await second_tab.start(session, customer.token)
        reply = post(f"{session}/pause")
        assert (reply.status, reply.body) == (200, {"ok": True, "paused": True})
        assert post(f"{session}/typing", {"on": True}).status == 200
        said = post(f"{session}/message", {"text": "Hi, it's Ye.\x00"})
        assert said.status == 200
        assert post(f"{session}/message", {"text": " "}).status == 400
        assert (
            post(f"{session}/message", {"text": "x", "image": "javascript:alert(1)"}).status == 400
        )
        await asyncio.sleep(0.3)
        for tab in (customer, second_tab):
            assert {"paused": True} in tab.named("bot_state")
            assert {"on": True, "author": "founder"} in tab.named("typing")
            expected = {
                "text": "Hi, it's Ye.",
                "author": "founder",
                "timestamp": said.body["timestamp"],
            }
            assert expected in tab.named("bot_uttered")
        # While paused the bot neither types nor answers; the message is still recorded.
        bot_before = len(customer.named("bot_uttered"))
        await customer.say("thanks!", "f2")
        await asyncio.sleep(0.3)
        assert len(customer.named("bot_uttered")) == bot_before
        assert {"on": True, "author": "bot"} not in customer.named("typing")[-2:]
        assert second_tab.named("user_echo")[-1]["text"] == "thanks!"
        body = history(door_server, session, jwt_token).body
        assert body["paused"] is True
        assert [m["role"] for m in body["messages"]][-2:] == ["founder", "user"]
        founder_events = [
            e for e in door_server.tracker(session)["events"]
            if e["event"] == "bot" and (e.get("metadata") or {}).get("author") == "founder"
        ]  # fmt: skip
        assert [e["text"] for e in founder_events] == ["Hi, it's Ye."]
        assert post(f"{session}/resume").status == 200
        await asyncio.sleep(0.3)
        assert customer.named("bot_state")[-1] == {"paused": False}
        replies_before = len(customer.named("bot_uttered"))
        await customer.say("hello again", "f3")
        assert len(customer.named("bot_uttered")) > replies_before  # the bot is back
        await customer.close()
        await second_tab.close()

    run(scenario())
