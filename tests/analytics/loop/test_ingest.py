"""The ingest worker on SQLite and PostgreSQL: mapping, redaction, identity, idempotency,
checkpoints, and a worker process killed mid-stream (nothing lost, nothing duplicated)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.orm import Session

from analytics.loop.ingest.mapping import event_key, map_event
from analytics.loop.ingest.sql_source import SqlEventPoller, source_name
from analytics.loop.ingest.synthetic import (
    identity,
    synthetic_stream,
    turn_events,
    write_sql_broker_rows,
)
from analytics.loop.ingest.writer import IngestWriter
from analytics.loop.live_risk import get_live_risk
from analytics.store.db import make_sessionmaker
from analytics.store.models import Conversation, Customer, IngestCheckpoint, Message
from tests.analytics.conftest import REFERENCE
from tests.services import stored_messages

REPO = Path(__file__).resolve().parents[3]
T0 = REFERENCE.timestamp() - 3600.0


def _customer(session: Session, external_id: str) -> Customer:
    customer = session.scalars(select(Customer).where(Customer.external_id == external_id)).one()
    return customer


def _conversation(engine: Engine, sender: str) -> Conversation:
    with make_sessionmaker(engine)() as session:
        return session.scalars(select(Conversation).where(Conversation.sender_id == sender)).one()


def test_map_event_kinds_and_keys() -> None:
    events = turn_events("s1", "你好", "greet", 1000.5, action="action_greet", reply="你好！")
    mapped = [map_event(e) for e in events]
    kinds = [m.kind if m else None for m in mapped]
    assert kinds == ["user", None, None, "action", "bot", "action"]
    user = mapped[0]
    assert user is not None
    assert user.event_key == event_key("s1", "user", 1000.5)
    assert user.at == datetime.fromtimestamp(1000.5, tz=UTC)
    assert (user.intent, user.language, user.channel) == ("greet", "zh", "web")
    assert map_event({"event": "session_started", "sender_id": "s1", "timestamp": 1.0}) is None
    with pytest.raises(ValueError):
        map_event({"event": "user", "text": "hi"})


def test_founder_messages_pushed_by_the_console_are_not_stored_again() -> None:
    founder = {
        "event": "bot",
        "sender_id": "s",
        "timestamp": 1.0,
        "text": "我是店主",
        "metadata": {"author": "founder"},
    }
    bot = {
        "event": "bot",
        "sender_id": "s",
        "timestamp": 2.0,
        "text": "你好",
        "metadata": {"utter_action": "utter_greet"},
    }
    assert map_event(founder) is None
    mapped = map_event(bot)
    assert mapped is not None and mapped.action == "utter_greet"


def test_turn_is_stored_redacted_with_verified_customer(
    store: Engine, writer: IngestWriter
) -> None:
    sender = f"t-verified-{store.dialect.name}"
    events = turn_events(
        sender,
        "我的电话是13812345678，快递太慢了，太失望了",
        "complain",
        T0,
        action="action_complain",
        reply="非常抱歉给你带来不好的体验。",
        metadata=identity("cus_0001"),
        entities=[{"entity": "phone", "value": "13812345678", "start": 5, "end": 16}],
    )
    result = writer.write(events)
    assert (result.events, result.messages, result.duplicates) == (6, 2, 0)
    user, bot = stored_messages(store, sender)
    assert user.role == "user" and bot.role == "bot"
    assert user.text == "我的电话是[PHONE]，快递太慢了，太失望了"
    assert "13812345678" not in str(user.entities)
    assert user.intent == "complain" and user.confidence == pytest.approx(0.93)
    assert user.language == "zh"
    assert user.sentiment is not None and user.sentiment < -0.3
    assert bot.action == "action_complain" and bot.sentiment is None
    conv = _conversation(store, sender)
    with make_sessionmaker(store)() as session:
        cus = _customer(session, "cus_0001")
        assert conv.customer_id == cus.id
        risk = get_live_risk(session, cus.id)
        assert risk is not None and risk.event_key == user.event_key
        assert any(r["code"] == "upset" for r in risk.reasons)
    assert conv.channel == "web" and conv.language == "zh" and conv.status == "open"
    assert conv.started_at == datetime.fromtimestamp(T0, tz=UTC)
    assert conv.last_message_at == datetime.fromtimestamp(T0 + 0.04, tz=UTC)


def test_claims_without_a_door_verdict_are_anonymous(store: Engine, writer: IngestWriter) -> None:
    """Only ``verified_customer_id`` (set by a door) counts; client claims are ignored, and a
    malformed one (the issue's ``customer_hash: "é"``) is simply anonymous."""
    sender = f"t-forged-{store.dialect.name}"
    forged = {"customer_id": "cus_0002", "customer_hash": "0" * 64}
    writer.write(turn_events(sender, "where is my order?", "order_status", T0, metadata=forged))
    writer.write(turn_events(sender, "hello?", "greet", T0 + 5, metadata={"customer_hash": "é"}))
    odd = {"customer_id": "cus_0002", "verified_customer_id": ["cus_0002"]}
    result = writer.write(turn_events(sender, "hi", "greet", T0 + 6, metadata=odd))
    assert result.dead_letters == 0
    assert _conversation(store, sender).customer_id is None
    msgs = stored_messages(store, sender)
    assert len(msgs) == 6 and all(m.customer_id is None for m in msgs)


def test_redelivered_batch_stores_nothing_new(store: Engine, writer: IngestWriter) -> None:
    sender = f"t-dup-{store.dialect.name}"
    events = turn_events(sender, "cancel 我的订阅", "cancel_subscription", T0 + 10)
    events += turn_events(sender, "谢谢", "thank", T0 + 20)
    first = writer.write(events)
    again = writer.write(events)
    partial = writer.write(events[3:])
    assert first.messages == 4
    assert (again.messages, again.duplicates) == (0, 4)
    assert (partial.messages, partial.duplicates) == (0, 3)
    msgs = stored_messages(store, sender)
    assert len(msgs) == 4 and len({m.event_key for m in msgs}) == 4
    assert msgs[0].language == "mixed"


def test_handoff_action_flags_the_conversation(store: Engine, writer: IngestWriter) -> None:
    sender = f"t-handoff-{store.dialect.name}"
    writer.write(
        turn_events(sender, "我要找人工", "human_handoff", T0 + 30, action="action_handoff")
    )
    conv = _conversation(store, sender)
    assert conv.needs_handoff and conv.handoff_reason
    assert stored_messages(store, sender)[1].action == "action_handoff"


def test_sql_poller_resumes_from_its_checkpoint(store: Engine, tmp_path: Path) -> None:
    events_engine = create_engine(f"sqlite:///{tmp_path / 'events.db'}")
    writer = IngestWriter(make_sessionmaker(store))
    stream = list(synthetic_stream(40, customers=["cus_0003"], start_ts=T0 + 100, seed=7))
    write_sql_broker_rows(events_engine, stream[:120])
    poller = SqlEventPoller(writer, store, tmp_path / "events.db", batch_size=50)
    try:
        poller.run(max_idle=0.3)
        assert poller.position() == 120
        assert poller.stats.batches == 3
        write_sql_broker_rows(events_engine, stream[120:])
    finally:
        poller.close()
    restarted = SqlEventPoller(writer, store, tmp_path / "events.db", batch_size=50)
    try:
        stats = restarted.run(max_idle=0.3)
    finally:
        restarted.close()
    assert restarted.position() == len(stream)
    assert stats.events == len(stream) - 120 and stats.duplicates == 0
    expected = {map_event(e).event_key for e in stream if e["event"] in ("user", "bot")}  # type: ignore[union-attr]
    with make_sessionmaker(store)() as session:
        stored = set(
            session.scalars(select(Message.event_key).where(Message.event_key.in_(expected)))
        )
        row = session.get(IngestCheckpoint, source_name(restarted.url))
    assert stored == expected
    assert row is not None and row.events == len(stream)
    events_engine.dispose()


def _count(engine: Engine, keys: set[str]) -> tuple[int, int]:
    with engine.connect() as conn:
        total = conn.execute(
            text(
                "SELECT COUNT(*) FROM messages WHERE conversation_id IN "
                "(SELECT id FROM conversations WHERE sender_id LIKE 'synthetic-99-%')"
            )
        ).scalar_one()
    with make_sessionmaker(engine)() as session:
        found = (
            session.scalar(
                select(func.count()).select_from(Message).where(Message.event_key.in_(list(keys)))
            )
            if keys
            else 0
        )
    return int(total), int(found or 0)


def test_worker_killed_mid_stream_loses_and_duplicates_nothing(
    store: Engine, tmp_path: Path
) -> None:
    events_path = tmp_path / "events.db"
    events_engine = create_engine(f"sqlite:///{events_path}")
    stream = list(
        synthetic_stream(800, customers=["cus_0003", "cus_0004"], start_ts=T0 + 500, seed=99)
    )
    expected = {map_event(e).event_key for e in stream if e["event"] in ("user", "bot")}  # type: ignore[union-attr]
    write_sql_broker_rows(events_engine, stream[:1500])
    env = dict(
        os.environ,
        SHOP_DATABASE_URL=store.url.render_as_string(hide_password=False),
        PYTHONPATH=str(REPO),
    )
    cmd = [
        sys.executable,
        "-m",
        "analytics.loop.ingest",
        "--source",
        "sql",
        "--events-db",
        str(events_path),
        "--batch-size",
        "100",
        "--poll-interval",
        "0.05",
    ]
    log = (tmp_path / "worker1.log").open("wb")
    worker = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        stored = 0
        while time.monotonic() < deadline:
            stored = _count(store, expected)[0]
            if stored >= 200:
                break
            assert worker.poll() is None, (tmp_path / "worker1.log").read_text()
            time.sleep(0.05)
        write_sql_broker_rows(events_engine, stream[1500:3200])  # more arrives while it works
        worker.send_signal(signal.SIGKILL)  # a crash: no clean shutdown
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    at_kill = _count(store, expected)[0]
    assert 0 < at_kill < len(expected), "the worker must be killed mid-stream"
    write_sql_broker_rows(events_engine, stream[3200:])
    log2 = (tmp_path / "worker2.log").open("wb")
    restarted = subprocess.run(
        cmd + ["--max-idle", "1.5"],
        cwd=REPO,
        env=env,
        stdout=log2,
        stderr=subprocess.STDOUT,
        timeout=300,
    )
    assert restarted.returncode == 0, (tmp_path / "worker2.log").read_text()
    total, found = _count(store, expected)
    assert found == len(expected), "an event was lost"
    assert total == len(expected), "an event was stored twice (or a foreign one appeared)"
    events_engine.dispose()
