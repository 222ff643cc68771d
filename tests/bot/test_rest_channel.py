"""The REST door (``bot.channels.rest.RestInput``) against a real ``rasa run``.

Each hostile input gets its status and bilingual answer, and the next customer is still
answered; what reaches the tracker is cleaned and carries only the door's identity verdict.
"""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bot.channels.identity import sign_token
from bot.channels.widget_session import new_session_id
from tests.bot.door_server import IP_PER_MINUTE, DoorServer, Reply, http

pytestmark = pytest.mark.rasa_env


def sender() -> str:
    """A sender id of its own (the rate counters live as long as the server)."""
    return f"rest-{uuid.uuid4().hex[:12]}"


def say(server: DoorServer, body: Any = None, *, raw: bytes | None = None, **kw: Any) -> Reply:
    return http(f"{server.url}/webhooks/rest/webhook", body, raw=raw, **kw)


def answered(server: DoorServer) -> None:
    """Another customer's next message is answered normally."""
    reply = say(server, {"sender": sender(), "message": "你好"})
    assert reply.status == 200 and isinstance(reply.body, list) and reply.body


def refused(reply: Reply, status: int, error: str) -> dict[str, Any]:
    assert (reply.status, reply.body["error"]) == (status, error), reply.body
    assert " / " in reply.body["message"]  # zh / en
    return dict(reply.body)


def identity(
    server: DoorServer, customer: str, *, ttl: int = 3600, secret: str | None = None
) -> dict:
    expires = int(time.time()) + ttl
    token = sign_token(customer, expires, secret or server.identity_secret)
    return {"customer_id": customer, "expires_at": expires, "customer_token": token}


def test_a_plain_message_is_answered_at_the_same_url(door_server: DoorServer) -> None:
    assert http(f"{door_server.url}/webhooks/rest/").body == {"status": "ok"}
    answered(door_server)


def test_sizes_and_encodings(door_server: DoorServer) -> None:
    s = sender()
    body = refused(say(door_server, {"sender": s, "message": "x" * 2001}), 413, "too_long")
    assert body["limit"] == 2000 and "最多 2000 字" in body["message"]
    refused(say(door_server, {"sender": s, "message": "x" * 100_000}), 413, "too_large")
    blob = {"blob": "x" * 2_000_000}
    refused(say(door_server, {"sender": s, "message": "hi", "metadata": blob}), 413, "too_large")
    big = {"blob": "x" * 5000}
    refused(say(door_server, {"sender": s, "message": "hi", "metadata": big}), 413, "too_large")
    refused(say(door_server, raw=b'{"sender": "x", "message": "\xff\xfe"}'), 400, "bad_encoding")
    refused(say(door_server, raw=bytes(range(256))), 400, "bad_encoding")
    refused(say(door_server, raw=b"{not json"), 400, "bad_json")
    refused(say(door_server, raw=b""), 400, "bad_json")
    refused(say(door_server, {"message": "hi"}), 400, "bad_sender")
    refused(say(door_server, {"sender": "a\x00b", "message": "hi"}), 400, "bad_sender")
    refused(say(door_server, {"sender": s, "message": ""}), 400, "empty")
    refused(say(door_server, {"sender": s, "message": "\x00\x01 "}), 400, "empty")
    refused(say(door_server, {"sender": s, "message": {"$gt": ""}}), 400, "bad_message")
    refused(say(door_server, {"sender": s, "message": "hi", "metadata": [1]}), 400, "bad_metadata")
    assert door_server.user_events(s) == []
    answered(door_server)


def test_text_is_cleaned_before_rasa_sees_it(door_server: DoorServer) -> None:
    s = sender()
    raw = json.dumps(
        {
            "sender": s,
            "message": "\ud800订单\x00到哪了\x1b\r\n?",
            "metadata": {"note": "a\x00\ud800b"},
        }
    ).encode()
    assert say(door_server, raw=raw).status == 200
    emoji = say(door_server, {"sender": s, "message": "😀🙏🏽"})
    assert emoji.status == 200 and isinstance(emoji.body, list)
    html = "<script>alert(1)</script>' OR 1=1; --"
    assert say(door_server, {"sender": s, "message": html}).status == 200
    events = door_server.user_events(s)
    assert [e["text"] for e in events] == ["订单到哪了\n?", "😀🙏🏽", html]
    metadata = events[0]["metadata"]
    assert {k: v for k, v in metadata.items() if k not in ("model_id", "assistant_id")} == {
        "note": "ab"
    }
    assert all(e["input_channel"] == "rest" for e in events)


def test_identity_keys_never_reach_the_tracker(door_server: DoorServer) -> None:
    s = sender()
    cases = [
        identity(door_server, "cus_0001"),  # valid
        identity(door_server, "cus_0002", secret=door_server.demo_secret),  # demo secret
        {**identity(door_server, "cus_0001"), "customer_id": "cus_0003"},  # forged
        identity(door_server, "cus_0001", ttl=-5),  # expired
        {"verified_customer_id": "cus_0001", "customer_hash": "é"},  # forged verdict
        {"customer_id": "\udc80", "expires_at": 2**31, "customer_token": "\udc80"},  # malformed
    ]
    for metadata in cases:
        assert (
            say(door_server, {"sender": s, "message": "我的订单", "metadata": metadata}).status
            == 200
        )
    events = door_server.user_events(s)
    assert [e["metadata"].get("verified_customer_id") for e in events] == [
        "cus_0001", "cus_0002", None, None, None, None,
    ]  # fmt: skip
    raw = json.dumps(door_server.tracker(s))
    for secret_part in ("customer_token", "customer_hash", cases[0]["customer_token"]):
        assert secret_part not in raw
    answered(door_server)


def test_a_flooding_sender_is_refused_while_another_customer_is_answered(
    door_server: DoorServer,
) -> None:
    flood = sender()

    def one(i: int) -> Reply:
        return say(door_server, {"sender": flood, "message": f"flood {i}"})

    with ThreadPoolExecutor(max_workers=40) as pool:
        futures = [pool.submit(one, i) for i in range(120)]
        started = time.monotonic()
        answered(door_server)  # during the flood
        other_took = time.monotonic() - started
        replies = [f.result() for f in futures]
    statuses = [r.status for r in replies]
    assert set(statuses) <= {200, 429}
    assert statuses.count(429) >= 60 and statuses.count(200) >= 3
    limited = [r for r in replies if r.status == 429]
    assert all(int(r.headers["retry-after"]) >= 1 for r in limited)
    body = refused(limited[0], 429, "rate_limited")
    assert "稍等" in body["message"] and "too fast" in body["message"]
    assert other_took < 20
    answered(door_server)


def test_the_address_limit_uses_forwarded_for_only_from_a_trusted_proxy(
    door_server: DoorServer,
) -> None:
    client = {"X-Forwarded-For": "203.0.113.77"}
    statuses = [
        say(door_server, {"sender": sender(), "message": "hi"}, headers=client).status
        for _ in range(IP_PER_MINUTE + 2)
    ]
    assert statuses[:IP_PER_MINUTE] == [200] * IP_PER_MINUTE
    assert statuses[IP_PER_MINUTE:] == [429, 429]
    # Another client behind the same proxy, and the proxy itself (loopback), still pass.
    other = {"X-Forwarded-For": "203.0.113.78"}
    assert say(door_server, {"sender": sender(), "message": "hi"}, headers=other).status == 200
    answered(door_server)


def test_a_widget_session_cannot_be_written_to_over_rest(door_server: DoorServer) -> None:
    from tests.bot.test_widget_channel import Client, run, user_texts

    async def widget_session() -> str:
        client = Client(door_server)
        session = await client.start()
        await client.say("我的地址是秘密", "w1")
        await client.close()
        return session

    session = run(widget_session())
    body = refused(
        say(door_server, {"sender": session, "message": "hijack"}), 400, "reserved_sender"
    )
    assert "widget" in body["message"]
    refused(say(door_server, {"sender": new_session_id(), "message": "hi"}), 400, "reserved_sender")
    assert user_texts(door_server, session) == ["我的地址是秘密"]
    # Other ids, even hex-looking ones, are REST senders as before.
    for other in (session.upper(), session[:31], f"rest-{session}"):
        reply = say(door_server, {"sender": other, "message": "你好"})
        assert reply.status == 200 and reply.body, (other, reply.body)


# -- the founder's takeover messages (bot.channels.rest_pending) -------------------------


def founder(server: DoorServer, s: str, what: str, body: Any = None) -> None:
    """The console's call (the widget channel's founder route, as RasaBridge makes it)."""
    url = f"{server.url}/webhooks/widget/founder/{s}/{what}"
    reply = http(url, body or {}, token=server.founder_jwt())
    assert reply.status == 200, reply.body


def pending(server: DoorServer, query: str, headers: dict[str, str] | None = None) -> Reply:
    return http(f"{server.url}/webhooks/rest/pending?{query}", headers=headers)


def fetch(server: DoorServer, s: str, headers: dict[str, str] | None = None) -> list[str]:
    reply = pending(server, f"sender={s}", headers)
    assert reply.status == 200 and reply.headers["cache-control"] == "no-store", reply.body
    assert all(item["author"] == "founder" for item in reply.body)
    return [item["text"] for item in reply.body]


def identity_headers(metadata: dict[str, Any]) -> dict[str, str]:
    return {
        "X-Customer-Id": str(metadata["customer_id"]),
        "X-Customer-Expires-At": str(metadata["expires_at"]),
        "X-Customer-Token": str(metadata["customer_token"]),
    }


def test_takeover_replies_reach_the_rest_customer_once(door_server: DoorServer) -> None:
    s = sender()
    assert say(door_server, {"sender": s, "message": "你好"}).body  # the bot answers
    assert fetch(door_server, s) == []
    founder(door_server, s, "pause")
    # While the founder has the conversation the bot is silent, and the message is recorded.
    assert say(door_server, {"sender": s, "message": "在吗？"}).body == []
    assert door_server.user_events(s)[-1]["text"] == "在吗？"
    founder(door_server, s, "message", {"text": "您好，我是店主"})
    assert fetch(door_server, s) == ["您好，我是店主"]
    assert fetch(door_server, s) == []  # once
    founder(door_server, s, "message", {"text": "退款已经办好了"})
    founder(door_server, s, "message", {"text": "还有别的问题吗？"})
    reply = say(door_server, {"sender": s, "message": "谢谢"})
    assert [(m["author"], m["text"]) for m in reply.body] == [
        ("founder", "退款已经办好了"),
        ("founder", "还有别的问题吗？"),
    ]
    assert all(m["recipient_id"] == s and m["timestamp"] > 0 for m in reply.body)
    assert fetch(door_server, s) == []
    founder(door_server, s, "resume")
    back = say(door_server, {"sender": s, "message": "你好"}).body
    assert back and all("author" not in m for m in back)  # the bot again, no founder repeat
    # The delivery marks are tracker events only: no message in the history.
    marks = [e for e in door_server.tracker(s)["events"] if e["event"] == "agent"]
    assert len(marks) == 1 and marks[0]["metadata"]["delivered"] == "rest"


def test_a_founder_message_written_through_rasas_api_comes_first(door_server: DoorServer) -> None:
    """RasaBridge without the widget channel: Rasa's events API, same event."""
    s = sender()
    assert say(door_server, {"sender": s, "message": "你好"}).body
    event = {"event": "bot", "text": "I'm the founder", "metadata": {"author": "founder"}}
    url = f"{door_server.url}/conversations/{s}/tracker/events"
    assert http(url, [event], token=door_server.founder_jwt()).status == 200
    reply = say(door_server, {"sender": s, "message": "hello"}).body
    assert reply[0] == {**reply[0], "text": "I'm the founder", "author": "founder"}
    assert len(reply) > 1 and all("author" not in m for m in reply[1:])  # then the bot


def test_another_sender_never_sees_it(door_server: DoorServer) -> None:
    s, other = sender(), sender()
    assert say(door_server, {"sender": s, "message": "你好"}).status == 200
    assert say(door_server, {"sender": other, "message": "你好"}).status == 200
    founder(door_server, s, "message", {"text": f"只给 {s}"})
    assert fetch(door_server, other) == []
    assert all("author" not in m for m in say(door_server, {"sender": other, "message": "hi"}).body)
    assert fetch(door_server, s) == [f"只给 {s}"]


def test_a_verified_customers_conversation_needs_their_identity(door_server: DoorServer) -> None:
    s = sender()
    valid = identity(door_server, "cus_0001")
    assert say(door_server, {"sender": s, "message": "我的订单", "metadata": valid}).status == 200
    founder(door_server, s, "message", {"text": "您的订单明天到"})
    forged = {**valid, "customer_token": "0" * 64}
    expired = identity(door_server, "cus_0001", ttl=-5)
    other = identity(door_server, "cus_0002")
    for claim in (None, forged, expired, other):
        assert fetch(door_server, s, identity_headers(claim) if claim else None) == []
        body = {"sender": s, "message": "hi", "metadata": claim or {}}
        assert all("author" not in m for m in say(door_server, body).body)
        post = http(f"{door_server.url}/webhooks/rest/pending", {"sender": s, "metadata": claim})
        assert (post.status, post.body) == (200, [])
    # The customer, with a fresh token, still gets it, once.
    fresh = identity(door_server, "cus_0001")
    post = http(f"{door_server.url}/webhooks/rest/pending", {"sender": s, "metadata": fresh})
    assert [m["text"] for m in post.body] == ["您的订单明天到"]
    assert fetch(door_server, s, identity_headers(fresh)) == []


def test_hostile_pending_requests(door_server: DoorServer) -> None:
    s = sender()
    assert say(door_server, {"sender": s, "message": "你好"}).status == 200
    founder(door_server, s, "message", {"text": "secret for s"})
    for query, error in [
        ("", "bad_sender"),
        ("sender=", "bad_sender"),
        (f"sender={s}&sender={s}", "bad_sender"),
        ("sender=a%00b", "bad_sender"),
        ("sender=%20" + s, "bad_sender"),
        ("sender=" + "x" * 129, "bad_sender"),
        ("sender=%ff%fe", "bad_encoding"),
        ("sender=%ed%a0%80", "bad_encoding"),  # a lone surrogate in UTF-8
        (f"sender={new_session_id()}", "reserved_sender"),
        ("&".join(f"a{i}=1" for i in range(50)) + f"&sender={s}", "bad_sender"),
    ]:
        refused(pending(door_server, query), 400, error)
    for raw, error in [
        (b"\xff", "bad_encoding"),
        (b"[]", "bad_json"),
        (json.dumps({"sender": s, "metadata": [1]}).encode(), "bad_metadata"),
        (json.dumps({"sender": s, "metadata": "{not"}).encode(), "bad_metadata"),
        (json.dumps({"sender": {"$ne": ""}}).encode(), "bad_sender"),
    ]:
        refused(http(f"{door_server.url}/webhooks/rest/pending", raw=raw), 400, error)
    big = {"sender": s, "metadata": {"x": "y" * 20_000}}
    refused(http(f"{door_server.url}/webhooks/rest/pending", big), 413, "too_large")
    junk = {"X-Customer-Id": "cus_0001", "X-Customer-Expires-At": "9" * 40, "X-Customer-Token": "é"}
    assert pending(door_server, "sender=%27%20OR%201%3D1%3B%20--", junk).body == []
    assert pending(door_server, f"sender={sender()}").body == []  # unknown conversation
    assert fetch(door_server, s) == ["secret for s"]  # none of that consumed it


def test_a_fetch_and_a_message_racing_deliver_each_founder_message_once(
    door_server: DoorServer,
) -> None:
    s = sender()
    assert say(door_server, {"sender": s, "message": "你好"}).status == 200
    founder(door_server, s, "pause")
    founder(door_server, s, "message", {"text": "只说一次"})
    with ThreadPoolExecutor(max_workers=8) as pool:
        fetches = [pool.submit(pending, door_server, f"sender={s}") for _ in range(6)]
        message = pool.submit(say, door_server, {"sender": s, "message": "在吗"})
        replies = [f.result() for f in fetches] + [message.result()]
    assert all(r.status == 200 for r in replies), [r.body for r in replies]
    got = [m["text"] for r in replies for m in r.body]
    assert got == ["只说一次"]


def test_the_streamed_answer_starts_with_the_founder_message(door_server: DoorServer) -> None:
    s = sender()
    assert say(door_server, {"sender": s, "message": "你好"}).status == 200
    founder(door_server, s, "message", {"text": "先看这条"})
    reply = http(
        f"{door_server.url}/webhooks/rest/webhook?stream=true",
        raw=json.dumps({"sender": s, "message": "你好"}).encode(),
    )
    lines = [json.loads(line) for line in str(reply.body).splitlines() if line.strip()]
    assert reply.status == 200 and lines[0]["text"] == "先看这条"
    assert lines[0]["author"] == "founder" and len(lines) > 1
    assert fetch(door_server, s) == []


def test_a_flood_of_fetches_is_rate_limited_per_sender(door_server: DoorServer) -> None:
    s = sender()
    with ThreadPoolExecutor(max_workers=16) as pool:
        replies = list(pool.map(lambda _: pending(door_server, f"sender={s}"), range(130)))
    statuses = [r.status for r in replies]
    assert set(statuses) == {200, 429} and statuses.count(200) <= 120
    refused(next(r for r in replies if r.status == 429), 429, "rate_limited")
    assert fetch(door_server, sender()) == []  # another customer is not affected
