"""Retention: old, ingested raw text is pruned from Rasa's tracker store and event broker.

The Rasa tables are copied from Rasa 3.6 (``SQLTrackerStore.SQLEvent`` and
``SQLEventBroker.SQLBrokerEvent``) and the rows are shaped like the ones Rasa writes; one
test has Rasa itself (in ``.venv-rasa``) write a tracker, and load and extend it after
pruning. Each runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    Engine,
    Float,
    Integer,
    MetaData,
    Sequence,
    String,
    Table,
    Text,
    create_engine,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from analytics.core.identity import IDENTITY_KEYS
from analytics.loop import schedule
from analytics.loop.ingest import checkpoint
from analytics.loop.ingest.sql_source import events_url, source_name
from analytics.loop.retention import PRUNED_KEY, prune_event, run
from analytics.store.models import Conversation, IngestGap, Message
from tests.analytics.conftest import BACKENDS, SQLITE, postgres_database

REPO = Path(__file__).resolve().parents[3]
RASA_PYTHON = REPO / ".venv-rasa" / "bin" / "python"
DAY = 86400.0
NOW = 1_900_000_000.0
PHONE = "13812345678"
EMAIL = "wang@example.cn"
RAW = (PHONE, EMAIL, "王芳", "cus_0001")

# Rasa 3.6 rasa/core/tracker_store.py SQLTrackerStore.SQLEvent
tracker_meta = MetaData()
TRACKER_EVENTS = Table(
    "events",
    tracker_meta,
    Column("id", Integer, Sequence("events_seq", optional=True), primary_key=True),
    Column("sender_id", String(255), nullable=False, index=True),
    Column("type_name", String(255), nullable=False),
    Column("timestamp", Float),
    Column("intent_name", String(255)),
    Column("action_name", String(255)),
    Column("data", Text),
)
# Rasa 3.6 rasa/core/brokers/sql.py SQLEventBroker.SQLBrokerEvent
broker_meta = MetaData()
BROKER_EVENTS = Table(
    "events",
    broker_meta,
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255)),
    Column("data", Text),
)


def turn(t: float) -> list[dict[str, Any]]:
    """One customer turn as Rasa 3.6 serialises it (``Event.as_dict``)."""
    text = f"我的电话是{PHONE}，邮箱 {EMAIL}"
    return [
        {
            "event": "user",
            "timestamp": t,
            "metadata": {"verified_customer_id": "cus_0001", "client_id": f"c-{t}"},
            "text": text,
            "parse_data": {
                "intent": {"name": "update_account", "confidence": 0.93},
                "entities": [{"entity": "phone", "value": PHONE, "start": 5, "end": 16}],
                "text": text,
                "message_id": f"m{t}",
                "metadata": {"verified_customer_id": "cus_0001"},
                "intent_ranking": [{"name": "update_account", "confidence": 0.93}],
            },
            "input_channel": "widget",
            "message_id": f"m{t}",
        },
        {"event": "slot", "timestamp": t + 1, "name": "customer_name", "value": "王芳"},
        {
            "event": "bot",
            "timestamp": t + 2,
            "metadata": {"utter_action": "utter_updated"},
            "text": f"好的，已改为 {PHONE}",
            "data": {"buttons": [{"title": f"好的 {PHONE}", "payload": "/affirm"}]},
        },
        {
            "event": "action",
            "timestamp": t + 3,
            "name": "action_listen",
            "policy": None,
            "confidence": None,
            "action_text": None,
            "hide_rule_turn": False,
        },
    ]


def write_rasa_rows(tracker: Engine, broker: Engine | None, sender: str, events: list) -> None:
    """Rows as Rasa writes them: the tracker store's columns, the broker's sender first."""
    with tracker.begin() as conn:
        for e in events:
            conn.execute(
                insert(TRACKER_EVENTS).values(
                    sender_id=sender,
                    type_name=e["event"],
                    timestamp=e["timestamp"],
                    intent_name=(e.get("parse_data") or {}).get("intent", {}).get("name"),
                    action_name=e.get("name"),
                    data=json.dumps(e),
                )
            )
    if broker is not None:
        with broker.begin() as conn:
            for e in events:
                conn.execute(
                    insert(BROKER_EVENTS).values(
                        sender_id=sender, data=json.dumps({"sender_id": sender, **e})
                    )
                )


def rows(engine: Engine, table: Table) -> dict[int, str]:
    with engine.connect() as conn:
        return {int(r.id): r.data for r in conn.execute(select(table.c.id, table.c.data))}


def assert_pruned(data: str) -> None:
    event = json.loads(data)
    assert next(iter(event)) == PRUNED_KEY
    flat = json.dumps(event, ensure_ascii=False)
    assert not any(raw in flat for raw in RAW), flat
    for holder in (event, event.get("parse_data") or {}):
        assert not set(holder.get("metadata") or {}) & IDENTITY_KEYS


@contextmanager
def rasa_databases(backend: str, folder: Path) -> Iterator[tuple[str, str]]:
    """URLs of an empty tracker store and broker database on the backend."""
    if backend == SQLITE:
        yield f"sqlite:///{folder / 'tracker.db'}", f"sqlite:///{folder / 'events.db'}"
        return
    with ExitStack() as stack:
        yield stack.enter_context(postgres_database()), stack.enter_context(postgres_database())


@pytest.fixture
def rasa_dbs(backend: str, tmp_path: Path) -> Iterator[tuple[Engine, Engine, str, str]]:
    with rasa_databases(backend, tmp_path) as (tracker_url, broker_url):
        tracker, broker = create_engine(tracker_url), create_engine(broker_url)
        tracker_meta.create_all(tracker)
        broker_meta.create_all(broker)
        try:
            yield tracker, broker, tracker_url, broker_url
        finally:
            tracker.dispose()
            broker.dispose()


def store_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def advance(store: Engine, broker_url: str, position: int, gaps: tuple[int, ...] = ()) -> None:
    source = source_name(events_url(broker_url))
    with Session(store) as session:
        checkpoint.advance(session, source, position=position, events=0, messages=0)
        session.execute(delete(IngestGap).where(IngestGap.source == source))
        session.add_all(
            IngestGap(source=source, event_id=g, first_seen_at=datetime.now(UTC)) for g in gaps
        )
        session.commit()


@pytest.mark.parametrize("backend", BACKENDS)
def test_prunes_only_old_and_ingested_events(
    empty_store: Engine, rasa_dbs: tuple[Engine, Engine, str, str]
) -> None:
    tracker, broker, tracker_url, broker_url = rasa_dbs
    # broker/tracker ids 1-4 at -40 d, 5-8 at -36 d, 9-12 at -33 d, 13-16 at -1 d
    for days in (40, 36, 33, 1):
        write_rasa_rows(tracker, broker, "s-1", turn(NOW - days * DAY))
    advance(empty_store, broker_url, position=8, gaps=(5,))  # 9.. pending, 5 in a gap
    tracker_before, broker_before = rows(tracker, TRACKER_EVENTS), rows(broker, BROKER_EVENTS)

    report = run(store_url(empty_store), tracker_url, broker_url, days=30, now=NOW)

    # watermark: the oldest pending broker event (the gap, -36 d) minus an hour
    assert report.watermark == NOW - 36 * DAY - 3600
    assert (report.tracker_pruned, report.tracker_waiting) == (4, 8)
    assert (report.events_pruned, report.events_waiting) == (7, 1)
    tracker_after, broker_after = rows(tracker, TRACKER_EVENTS), rows(broker, BROKER_EVENTS)
    assert set(tracker_after) == set(tracker_before)  # no row added or removed
    for i in range(1, 17):
        if i <= 4:
            assert_pruned(tracker_after[i])
        else:
            assert tracker_after[i] == tracker_before[i]
        if i <= 8 and i != 5:
            assert_pruned(broker_after[i])
        else:
            assert broker_after[i] == broker_before[i]
    with tracker.connect() as conn:  # the columns Rasa queries are untouched
        kept = conn.execute(
            select(TRACKER_EVENTS.c.type_name, TRACKER_EVENTS.c.timestamp).order_by(
                TRACKER_EVENTS.c.id
            )
        ).all()
    assert [tuple(r) for r in kept] == [
        (e["event"], e["timestamp"]) for d in (40, 36, 33, 1) for e in turn(NOW - d * DAY)
    ]

    # the ingest catches up: a dry run counts, changes nothing; the real run prunes the rest
    advance(empty_store, broker_url, position=16)
    dry = run(store_url(empty_store), tracker_url, broker_url, days=30, now=NOW, dry_run=True)
    assert (dry.tracker_pruned, dry.events_pruned, dry.tracker_waiting) == (8, 5, 0)
    assert rows(tracker, TRACKER_EVENTS) == tracker_after
    assert rows(broker, BROKER_EVENTS) == broker_after
    again = run(store_url(empty_store), tracker_url, broker_url, days=30, now=NOW)
    assert (again.tracker_pruned, again.events_pruned, again.tracker_waiting) == (8, 5, 0)
    final_tracker, final_broker = rows(tracker, TRACKER_EVENTS), rows(broker, BROKER_EVENTS)
    for i in range(1, 13):
        assert_pruned(final_tracker[i])
        assert_pruned(final_broker[i])
    assert all(PHONE in final_tracker[i] and PHONE in final_broker[i] for i in (13, 15))
    # idempotent: nothing left to do
    last = run(store_url(empty_store), tracker_url, broker_url, days=30, now=NOW)
    assert (last.tracker_pruned, last.events_pruned) == (0, 0)
    assert rows(tracker, TRACKER_EVENTS) == final_tracker


def add_rasa_message(store: Engine, at: datetime, key: str) -> None:
    with Session(store) as session:
        conversation = session.scalars(select(Conversation)).first()
        if conversation is None:
            conversation = Conversation(
                sender_id="s-1", channel="web", language="zh", started_at=at,
                last_message_at=at, status="open",
            )  # fmt: skip
            session.add(conversation)
            session.flush()
        session.add(
            Message(
                conversation_id=conversation.id, event_key=key, role="user", text="[PHONE]",
                created_at=at,
            )
        )  # fmt: skip
        session.commit()


@pytest.mark.parametrize("backend", BACKENDS)
def test_rabbitmq_watermark_and_nothing_without_a_checkpoint(
    empty_store: Engine, rasa_dbs: tuple[Engine, Engine, str, str], tmp_path: Path
) -> None:
    tracker, _, tracker_url, _ = rasa_dbs
    no_broker = tmp_path / "no-broker.db"  # RabbitMQ setup: no SQL broker database
    for days in (40, 36, 33, 1):
        write_rasa_rows(tracker, None, "s-1", turn(NOW - days * DAY))
    before = rows(tracker, TRACKER_EVENTS)

    nothing = run(store_url(empty_store), tracker_url, no_broker, days=30, now=NOW)
    assert nothing.watermark is None
    assert (nothing.tracker_pruned, nothing.tracker_waiting) == (0, 12)
    assert rows(tracker, TRACKER_EVENTS) == before
    assert not no_broker.exists()

    with Session(empty_store) as session:
        checkpoint.advance(session, "rabbitmq:rasa_events", position=None, events=9, messages=3)
        session.commit()
    add_rasa_message(empty_store, datetime.fromtimestamp(NOW - 20 * DAY, UTC), "rasa:aa")
    add_rasa_message(empty_store, datetime.fromtimestamp(NOW, UTC), "console:s-1:1")  # not Rasa
    report = run(store_url(empty_store), tracker_url, no_broker, days=30, now=NOW)
    assert report.watermark == NOW - 21 * DAY  # newest ingested Rasa event minus a day
    assert (report.tracker_pruned, report.tracker_waiting) == (12, 0)
    after = rows(tracker, TRACKER_EVENTS)
    assert all(PRUNED_KEY in after[i] for i in range(1, 13))
    assert all(after[i] == before[i] for i in range(13, 17))


def test_prune_event_keeps_the_structure() -> None:
    user, slot, bot, action = turn(NOW)
    pruned = prune_event(user)
    assert list(pruned) == [PRUNED_KEY, *user]
    assert pruned["text"] == "我的电话是[PHONE]，邮箱 [EMAIL]"
    assert pruned["parse_data"]["text"] == pruned["text"]
    assert pruned["parse_data"]["intent"] == user["parse_data"]["intent"]
    assert pruned["parse_data"]["entities"] == [
        {"entity": "phone", "value": "[PHONE]", "start": 5, "end": 16}
    ]
    assert pruned["metadata"] == {"client_id": f"c-{NOW}"}
    assert pruned["parse_data"]["metadata"] == {}
    assert prune_event(slot)["value"] is None
    assert prune_event({**slot, "name": "order_id", "value": "LB100234"})["value"] == "LB100234"
    assert prune_event(bot)["data"]["buttons"][0]["title"] == "好的 [PHONE]"
    assert prune_event(action) == {PRUNED_KEY: True, **action}
    assert prune_event(pruned) == pruned  # idempotent


RASA_SCRIPT = r"""
import asyncio, json, sys
from rasa.core.brokers.sql import SQLEventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

def conn(url):
    if url.startswith("sqlite:///"):
        return {"dialect": "sqlite", "db": url[len("sqlite:///"):]}
    name = url.rsplit("/", 1)[1]
    return {"dialect": "postgresql", "host": "127.0.0.1", "port": 5432, "db": name,
            "username": "postgres"}

async def main():
    command, tracker_url, broker_url, sender = sys.argv[1:5]
    store = SQLTrackerStore(Domain.empty(), event_broker=SQLEventBroker(**conn(broker_url)),
                            **conn(tracker_url))
    if command == "write":
        tracker = DialogueStateTracker(sender, [])
        for t in (float(x) for x in sys.argv[5].split(",")):
            text = "我的电话是13812345678，邮箱 wang@example.cn"
            parse = {"text": text, "intent": {"name": "update_account", "confidence": 0.9},
                     "entities": [{"entity": "phone", "value": "13812345678", "start": 5,
                                   "end": 16}]}
            for event in (
                SessionStarted(timestamp=t - 5, metadata={"verified_customer_id": "cus_0001"}),
                ActionExecuted("action_session_start", timestamp=t - 4),
                SlotSet("customer_name", "王芳", timestamp=t - 3),
                ActionExecuted("action_listen", timestamp=t - 2),
                UserUttered(text, parse_data=parse, timestamp=t, input_channel="widget",
                            metadata={"verified_customer_id": "cus_0001", "client_id": "c1"}),
                BotUttered("好的，已改为 13812345678", metadata={"utter_action": "utter_ok"},
                           timestamp=t + 1),
                ActionExecuted("action_listen", timestamp=t + 2),
            ):
                tracker.update(event)
            await store.save(tracker)
        print(json.dumps({"events": len(tracker.events)}))
        return
    full = await store.retrieve_full_tracker(sender)
    events = [e.as_dict() for e in full.events]
    current = await store.retrieve(sender)
    current.update(UserUttered("hello again", timestamp=events[-1]["timestamp"] + 60))
    await store.save(current)
    after = await store.retrieve_full_tracker(sender)
    print(json.dumps({"events": events, "after_save": len(after.events),
                      "latest": after.latest_message.text}, ensure_ascii=False))

asyncio.run(main())
"""


def rasa(*args: str) -> dict[str, Any]:
    if not RASA_PYTHON.exists():
        pytest.fail(f"{RASA_PYTHON} is missing: run `make install` (Rasa 3.6 in .venv-rasa)")
    result = subprocess.run(
        [str(RASA_PYTHON), "-c", RASA_SCRIPT, *args],
        capture_output=True, text=True, check=False, timeout=300, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize("backend", BACKENDS)
def test_rasa_loads_and_extends_a_pruned_tracker(
    backend: str, empty_store: Engine, tmp_path: Path
) -> None:
    with rasa_databases(backend, tmp_path) as urls:
        tracker_url, broker_url = urls
        now = datetime.now(UTC).timestamp()
        times = f"{now - 40 * DAY},{now - 39 * DAY}"
        written = rasa("write", tracker_url, broker_url, "s-rasa", times)
        assert written == {"events": 14}
        advance(empty_store, broker_url, position=14)

        report = run(store_url(empty_store), tracker_url, broker_url, days=30)
        assert (report.tracker_pruned, report.events_pruned) == (14, 14)

        read = rasa("read", tracker_url, broker_url, "s-rasa")
        events = read["events"]
        assert len(events) == 14
        assert [e["event"] for e in events].count("user") == 2
        flat = json.dumps(events, ensure_ascii=False)
        assert not any(raw in flat for raw in RAW), flat
        users = [e for e in events if e["event"] == "user"]
        assert users[0]["text"] == "我的电话是[PHONE]，邮箱 [EMAIL]"
        assert users[0]["parse_data"]["intent"]["name"] == "update_account"
        assert users[0]["metadata"] == {"client_id": "c1"}
        # Rasa appends after the pruned rows without re-saving old ones
        assert read["after_save"] == 15
        assert read["latest"] == "hello again"
        for url in (tracker_url, broker_url):
            engine = create_engine(url)
            try:
                with engine.connect() as conn:
                    assert conn.scalar(select(func.count()).select_from(BROKER_EVENTS)) == 15
            finally:
                engine.dispose()


@pytest.mark.parametrize("backend", [BACKENDS[0]])
def test_cli_and_scheduler(
    empty_store: Engine,
    rasa_dbs: tuple[Engine, Engine, str, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tracker, broker, tracker_url, broker_url = rasa_dbs
    now = datetime.now(UTC).timestamp()
    write_rasa_rows(tracker, broker, "s-1", turn(now - 31 * DAY))
    advance(empty_store, broker_url, position=4)
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "SHOP_DATABASE_URL": store_url(empty_store),
        "RASA_TRACKER_DB": make_url(tracker_url).database or "",  # a plain path works too
        "RASA_EVENTS_DB": broker_url,
    }
    command = [sys.executable, "-m", "analytics.loop.retention"]
    dry = subprocess.run(
        [*command, "--dry-run"], env=env, capture_output=True, text=True, check=True
    )
    assert "would prune 4" in dry.stdout
    assert PHONE in rows(tracker, TRACKER_EVENTS)[1]
    refused = subprocess.run(
        [*command, "--days", "0"], env=env, capture_output=True, text=True, check=False
    )
    assert refused.returncode == 2
    kept = subprocess.run(
        [*command, "--days", "60"], env=env, capture_output=True, text=True, check=True
    )
    assert "pruned 0" in kept.stdout

    for name in ("SHOP_DATABASE_URL", "RASA_TRACKER_DB", "RASA_EVENTS_DB"):
        monkeypatch.setenv(name, env[name])
    monkeypatch.setenv("RETENTION_DAYS", "30")
    with caplog.at_level(logging.INFO, logger="analytics.loop.schedule"):
        report = schedule.run_retention()
    assert report is not None
    assert (report.tracker_pruned, report.events_pruned) == (4, 4)
    assert "Retention: tracker store: pruned 4" in caplog.text
    assert all(PRUNED_KEY in data for data in rows(tracker, TRACKER_EVENTS).values())
    monkeypatch.setenv("RETENTION_DAYS", "0")
    assert schedule.run_retention() is None
