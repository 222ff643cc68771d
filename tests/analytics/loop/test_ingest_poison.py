"""Poison-proof ingest on SQLite and PostgreSQL: an event that cannot be processed is
dead-lettered and the rest is stored; values no store takes are cleaned first; each message
is attributed to the customer verified on it."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select

from analytics.loop.ingest import dead_letter
from analytics.loop.ingest.clean import MAX_TEXT_CHARS
from analytics.loop.ingest.mapping import event_key
from analytics.loop.ingest.sql_source import SqlEventPoller
from analytics.loop.ingest.synthetic import ensure_sql_broker_table, identity, turn_events
from analytics.loop.ingest.writer import Incoming, IngestWriter
from analytics.loop.live_risk import get_live_risk
from analytics.store.db import make_sessionmaker
from analytics.store.models import Conversation, Customer, DeadLetter
from tests.analytics.conftest import REFERENCE
from tests.services import stored_messages

T0 = REFERENCE.timestamp() - 7200.0
SECRET_PHRASE = "my secret words 13812345678"


def _dead(store: Engine, source: str) -> list[DeadLetter]:
    with make_sessionmaker(store)() as session:
        query = select(DeadLetter).where(DeadLetter.source == source).order_by(DeadLetter.id)
        return list(session.scalars(query))


def _customer_ids(store: Engine, *externals: str) -> list[int]:
    with make_sessionmaker(store)() as session:
        return [
            session.scalars(select(Customer.id).where(Customer.external_id == e)).one()
            for e in externals
        ]


def _conversation(store: Engine, sender: str) -> Conversation:
    with make_sessionmaker(store)() as session:
        return session.scalars(select(Conversation).where(Conversation.sender_id == sender)).one()


def _poison_rows(sender: str) -> list[str]:
    """Bodies that are not events a worker can store (each one kills a naive worker)."""
    user = turn_events(sender, SECRET_PHRASE, "greet", T0 + 3)[0]
    return [
        '{"event": "user", "sender_id": "' + sender + '", "text": "' + SECRET_PHRASE,  # cut JSON
        "[" * 100_000 + "]" * 100_000,  # nested too deeply to decode
        json.dumps({**user, "timestamp": 1e300}),  # an impossible timestamp
        json.dumps({**user, "sender_id": {"not": "a string"}}),  # a wrong type
        json.dumps(["an", "array"]),  # not an object
    ]


def test_poison_between_good_events_is_dead_lettered_and_passed(
    store: Engine, tmp_path: Path
) -> None:
    sender = f"p-between-{store.dialect.name}"
    before = turn_events(sender, "我的订单到哪了", "order_status", T0)
    after = turn_events(sender, "谢谢", "thank", T0 + 10)
    bodies = [json.dumps(e) for e in before] + _poison_rows(sender)
    bodies += [json.dumps(e) for e in after]
    events_engine = create_engine(f"sqlite:///{tmp_path / 'events.db'}")
    ensure_sql_broker_table(events_engine)
    with events_engine.begin() as conn:
        for body in bodies:
            conn.exec_driver_sql(
                "INSERT INTO events (sender_id, data) VALUES (?, ?)", (sender, body)
            )
    writer = IngestWriter(make_sessionmaker(store))
    poller = SqlEventPoller(writer, store, tmp_path / "events.db", batch_size=100)
    try:
        poller.run(max_idle=0.3)
        assert poller.position() == len(bodies)
        assert poller.stats.dead_letters == 5
    finally:
        poller.close()
    msgs = stored_messages(store, sender)
    assert [m.text for m in msgs] == ["我的订单到哪了", "OK", "谢谢", "OK"]
    dead = _dead(store, poller.source)
    assert [d.position for d in dead] == list(range(7, 12))
    assert "JSONDecodeError" in dead[0].error and "RecursionError" in dead[1].error
    assert dead[2].event_key is not None and dead[2].sender_id == sender
    for row in dead:
        assert "13812345678" not in row.payload and len(row.payload) <= 8192
    assert "[PHONE]" in dead[0].payload

    again = SqlEventPoller(writer, store, tmp_path / "events.db", batch_size=100)
    try:
        assert again.run(max_idle=0.3).events == 0
        # Even a full re-read of the same rows stores nothing twice.
        with events_engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT id, data FROM events ORDER BY id").all()
        replay = writer.ingest(
            [Incoming(data, event_id) for event_id, data in rows], source=again.source
        )
    finally:
        again.close()
        events_engine.dispose()
    assert (replay.messages, replay.duplicates, replay.dead_letters) == (0, 4, 5)
    assert len(stored_messages(store, sender)) == 4
    assert len(_dead(store, poller.source)) == 5


def test_value_the_store_refuses_is_dead_lettered_alone(
    store: Engine, writer: IngestWriter
) -> None:
    """A 300-character sender id: PostgreSQL refuses it (``varchar(255)``), the real error
    takes the per-event path and only that turn is dead-lettered; SQLite stores it."""
    good = f"p-refused-{store.dialect.name}"
    long_sender = "x" * 300
    token = {"customer_id": "cus_0001", "customer_token": "f" * 64, "expires_at": 2**31}
    events = turn_events(good, "hello", "greet", T0 + 20)
    events += turn_events(long_sender, SECRET_PHRASE, "greet", T0 + 21, metadata=token)
    events += turn_events(good, "bye", "goodbye", T0 + 22)
    source = f"refused-{store.dialect.name}"
    result = writer.write(events, source=source)
    assert [m.text for m in stored_messages(store, good)] == ["hello", "OK", "bye", "OK"]
    dead = _dead(store, source)
    if store.dialect.name == "sqlite":
        assert result.dead_letters == 0 and dead == []
        assert len(stored_messages(store, long_sender)) == 2
        return
    assert result.dead_letters == 2 and result.messages == 4
    assert [d.event_key for d in dead] == [
        event_key(long_sender, "user", T0 + 21),
        event_key(long_sender, "bot", T0 + 21 + 0.04),
    ]
    assert "DataError" in dead[0].error and "255" in dead[0].error
    assert "13812345678" not in dead[0].payload and "[PHONE]" in dead[0].payload
    assert "f" * 64 not in dead[0].payload and "customer_token" not in dead[0].payload
    with make_sessionmaker(store)() as session:
        assert dead_letter.count(session) >= 2
        assert {d.id for d in dead} <= {d.id for d in dead_letter.recent(session, limit=50)}


def test_nul_control_characters_and_lone_surrogates_are_cleaned(
    store: Engine, writer: IngestWriter
) -> None:
    """These used to stop the worker (PostgreSQL refuses NUL; nothing encodes a lone
    surrogate); now they are cleaned and stored, and nothing is dead-lettered."""
    sender = f"p-clean-{store.dialect.name}"
    user = turn_events(sender, "x", "greet", T0 + 30)[0]
    user["text"] = "a\x00b\x07c\ud800d\n\te\x1b"
    user["parse_data"]["intent"]["name"] = "gr\x00eet"
    user["parse_data"]["entities"] = [
        {"entity": "product\x00", "value": "龙井\udfff", "confidence_entity": float("nan")}
    ]
    body = json.dumps(user)  # JSON escapes: \u0000, \ud800 (what Rasa would publish)
    assert "\\u0000" in body and "\\ud800" in body
    result = writer.ingest([Incoming(body)], source=f"clean-{store.dialect.name}")
    assert result.dead_letters == 0 and result.messages == 1
    (msg,) = stored_messages(store, sender)
    assert msg.text == "abc\ufffdd\n\te"
    assert msg.intent == "greet"
    assert msg.entities == [{"entity": "product", "value": "龙井\ufffd", "confidence_entity": None}]


def test_huge_text_is_cut_not_dead_lettered(store: Engine, writer: IngestWriter) -> None:
    sender = f"p-huge-{store.dialect.name}"
    result = writer.write(turn_events(sender, "好" * 200_000, "greet", T0 + 40))
    assert result.dead_letters == 0
    assert len(stored_messages(store, sender)[0].text) == MAX_TEXT_CHARS


def test_dead_letter_log_lines_carry_ids_not_text(
    store: Engine, writer: IngestWriter, caplog: pytest.LogCaptureFixture
) -> None:
    sender = f"p-log-{store.dialect.name}"
    with caplog.at_level(logging.DEBUG, logger="analytics.loop.ingest"):
        result = writer.ingest(
            [Incoming(b, i) for i, b in enumerate(_poison_rows(sender), start=1)],
            source=f"log-{store.dialect.name}",
        )
    assert result.dead_letters == 5
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Dead letter")]
    assert len(lines) == 5
    assert "RecursionError" in lines[1]
    assert "secret" not in caplog.text and "13812345678" not in caplog.text


def test_dead_letter_record_redacts_truncates_and_keeps_one_row_per_event(
    store: Engine,
) -> None:
    source = f"record-{store.dialect.name}"
    payload: dict[str, Any] = {
        "sender_id": "s",
        "metadata": {"customer_hash": "ab" * 32, "verified_customer_id": "cus_0001"},
        "text": "call me on 13812345678 " + "字" * 20_000,
    }
    with make_sessionmaker(store)() as session, session.begin():
        row = dead_letter.record(
            session,
            source=source,
            position=None,
            event_key="rasa:k1",
            sender_id="s\x00" + "y" * 400,
            error="ValueError: " + "e" * 5000,
            payload=payload,
        )
        again = dead_letter.record(
            session,
            source=source,
            position=None,
            event_key="rasa:k1",
            sender_id="s",
            error="ValueError: again",
            payload=payload,
        )
        raw = dead_letter.record(
            session,
            source=source,
            position=7,
            event_key=None,
            sender_id=None,
            error="JSONDecodeError",
            payload=b'{"customer_token": "' + b"c" * 64 + b'", "text": "\xff\x00',
        )
    assert again.id == row.id and raw.id != row.id
    assert "[PHONE]" in row.payload and "13812345678" not in row.payload
    assert len(row.payload) <= 8192 and "ab" * 32 not in row.payload
    assert "customer_hash" not in row.payload and "cus_0001" in row.payload
    assert row.sender_id is not None and len(row.sender_id) <= 255 and "\x00" not in row.sender_id
    assert len(row.error) <= 1000
    assert "c" * 64 not in raw.payload and "\x00" not in raw.payload


def test_each_message_belongs_to_the_customer_verified_on_it(
    store: Engine, writer: IngestWriter
) -> None:
    """A then B on one sender: the messages are split, the conversation stays A's, and the
    live risk of each is updated from their own message."""
    a, b = _customer_ids(store, "cus_0001", "cus_0002")
    for batches in (1, 2):
        sender = f"p-ab{batches}-{store.dialect.name}"
        first = turn_events(
            sender, "我要退款", "refund_request", T0 + 50, metadata=identity("cus_0001")
        )
        second = turn_events(sender, "cancel it", "cancel_subscription", T0 + 60, metadata=identity("cus_0002"))  # fmt: skip
        if batches == 1:
            writer.write(first + second)
        else:
            writer.write(first)
            writer.write(second)
        msgs = stored_messages(store, sender)
        assert [m.customer_id for m in msgs] == [a, a, b, b]
        assert _conversation(store, sender).customer_id == a
        with make_sessionmaker(store)() as session:
            risk_b = get_live_risk(session, b)
            assert risk_b is not None and risk_b.event_key == msgs[2].event_key


def test_conversation_customer_is_set_once_from_none(store: Engine, writer: IngestWriter) -> None:
    (a,) = _customer_ids(store, "cus_0003")
    sender = f"p-once-{store.dialect.name}"
    writer.write(turn_events(sender, "hi", "greet", T0 + 70))
    assert _conversation(store, sender).customer_id is None
    writer.write(turn_events(sender, "订单呢", "order_status", T0 + 80, metadata=identity("cus_0003")))  # fmt: skip
    writer.write(turn_events(sender, "ok", "thank", T0 + 90))
    msgs = stored_messages(store, sender)
    assert [m.customer_id for m in msgs] == [None, None, a, a, None, None]
    assert _conversation(store, sender).customer_id == a


def test_bot_message_inherits_its_user_message_after_a_restart(store: Engine) -> None:
    """A new worker that gets only the bot reply finds the user message it answers."""
    (a,) = _customer_ids(store, "cus_0004")
    sender = f"p-restart-{store.dialect.name}"
    events = turn_events(sender, "where is it", "order_status", T0 + 100, metadata=identity("cus_0004"))  # fmt: skip
    IngestWriter(make_sessionmaker(store)).write(events[:3])
    IngestWriter(make_sessionmaker(store)).write(events[3:])
    assert [m.customer_id for m in stored_messages(store, sender)] == [a, a]
