"""The SQL poller skips no id (slow transactions are waited for, rolled-back ids abandoned),
waits out an unavailable store without dead-lettering anything, and the worker process
survives poison events."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, create_engine, text

from analytics.loop.ingest import dead_letter
from analytics.loop.ingest.errors import Backoff
from analytics.loop.ingest.sql_source import SqlEventPoller
from analytics.loop.ingest.synthetic import (
    ensure_sql_broker_table,
    turn_events,
    write_sql_broker_rows,
)
from analytics.loop.ingest.writer import IngestWriter
from analytics.store.db import make_engine, make_sessionmaker, upgrade_to_head
from tests.analytics.conftest import REFERENCE, postgres_database
from tests.services import stored_messages

T0 = REFERENCE.timestamp() - 10_800.0
REPO = Path(__file__).resolve().parents[3]
FAST = Backoff(initial=0.05, maximum=0.2)
_XID_HOLDERS = (
    "SELECT pid, datname, state, backend_xid, now() - xact_start FROM pg_stat_activity "
    "WHERE backend_xid IS NOT NULL"
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A migrated SQLite store (the events in this module are anonymous)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('gaps') / 'store.db'}"
    upgrade_to_head(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_events() -> Iterator[Engine]:
    """A fresh PostgreSQL database with the table of Rasa's SQL broker."""
    with postgres_database() as url:
        engine = create_engine(url)
        ensure_sql_broker_table(engine)
        try:
            yield engine
        finally:
            engine.dispose()


def _insert(conn: Connection, events: list[dict[str, Any]]) -> None:
    for e in events:
        conn.execute(
            text("INSERT INTO events (sender_id, data) VALUES (:s, :d)"),
            {"s": e["sender_id"], "d": json.dumps(e)},
        )


def _until(check: Callable[[], bool], poll: Callable[[], object], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        poll()
        time.sleep(0.05)


@pytest.mark.postgres
def test_slow_transaction_is_waited_for_and_ingested(
    pg_events: Engine, store: Engine, writer: IngestWriter
) -> None:
    slow = turn_events("g-slow", "我是慢的那条", "greet", T0)[0]
    fast = turn_events("g-fast", "I came second", "greet", T0 + 5)
    url = pg_events.url.render_as_string(hide_password=False)
    with pg_events.connect() as slow_conn:
        slow_tx = slow_conn.begin()
        _insert(slow_conn, [slow])  # takes id 1, not committed yet
        write_sql_broker_rows(pg_events, fast)  # ids 2..7, committed
        poller = SqlEventPoller(writer, store, url, backoff=FAST)
        try:
            assert poller.run_once() == 6
            assert poller.gaps() == [1] and poller.position() == 7
            assert poller.run_once() == 0 and poller.gaps() == [1]  # still running: waited for
        finally:
            poller.close()
        slow_tx.commit()
    restarted = SqlEventPoller(writer, store, url, backoff=FAST)  # the gap survives a restart
    try:
        assert restarted.run_once() == 1
        assert restarted.gaps() == [] and restarted.stats.gaps_filled == 1
    finally:
        restarted.close()
    (msg,) = stored_messages(store, "g-slow")
    assert msg.text == "我是慢的那条"
    assert msg.created_at == datetime.fromtimestamp(T0, tz=UTC)
    assert len(stored_messages(store, "g-fast")) == 2


@pytest.mark.postgres
def test_rolled_back_id_is_abandoned_not_waited_on_forever(
    pg_events: Engine, store: Engine, writer: IngestWriter
) -> None:
    url = pg_events.url.render_as_string(hide_password=False)
    poller = SqlEventPoller(writer, store, url, backoff=FAST)
    try:
        with pg_events.connect() as doomed_conn:
            doomed = doomed_conn.begin()
            _insert(doomed_conn, [turn_events("g-doomed", "never", "greet", T0 + 10)[0]])
            write_sql_broker_rows(pg_events, turn_events("g-after", "after", "greet", T0 + 11))
            assert poller.run_once() == 6 and poller.gaps() == [1]
            assert poller.run_once() == 0 and poller.gaps() == [1]
            doomed.rollback()
        # Abandoned once every transaction older than the gap has ended: another session's
        # long write transaction on this server delays it (listed if this times out).
        try:
            _until(lambda: poller.gaps() == [], poller.run_once, seconds=120)
        except AssertionError:
            with pg_events.connect() as conn:
                holders = conn.execute(text(_XID_HOLDERS)).all()
            pytest.fail(f"gap not abandoned; transactions holding xmin back: {holders}")
        assert poller.stats.gaps_abandoned == 1 and poller.position() == 7
    finally:
        poller.close()
    assert stored_messages(store, "g-doomed") == []


def test_deleted_sqlite_id_is_abandoned_after_one_reread(
    store: Engine, writer: IngestWriter, tmp_path: Path
) -> None:
    events_engine = create_engine(f"sqlite:///{tmp_path / 'events.db'}")
    write_sql_broker_rows(events_engine, turn_events("g-sqlite", "hello", "greet", T0 + 20))
    with events_engine.begin() as conn:
        conn.execute(text("DELETE FROM events WHERE id = 3"))
    poller = SqlEventPoller(writer, store, tmp_path / "events.db", backoff=FAST)
    try:
        assert poller.run_once() == 5 and poller.gaps() == [3]
        poller.run_once()
        assert poller.gaps() == [] and poller.stats.gaps_abandoned == 1
        # A jump longer than max_hole is not waited for.
        with events_engine.begin() as conn:
            conn.execute(
                text("INSERT INTO events (id, sender_id, data) VALUES (5000, 'g-jump', :d)"),
                {"d": json.dumps(turn_events("g-jump", "jump", "greet", T0 + 30)[0])},
            )
        assert poller.run_once() == 1 and poller.gaps() == [] and poller.position() == 5000
    finally:
        poller.close()
        events_engine.dispose()
    assert len(stored_messages(store, "g-sqlite")) == 2


def _run_in_thread(poller: SqlEventPoller) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=poller.run, args=(stop,), daemon=True)
    thread.start()
    return thread, stop


def test_unmigrated_store_is_waited_for_not_dead_lettered(tmp_path: Path) -> None:
    """A store without its tables (as when the worker starts before the migration): the
    poller backs off and retries, then ingests everything once the store is ready."""
    url = f"sqlite:///{tmp_path / 'late.db'}"
    engine = make_engine(url)
    events_engine = create_engine(f"sqlite:///{tmp_path / 'events.db'}")
    write_sql_broker_rows(events_engine, turn_events("g-down", "hi", "greet", T0 + 40))
    poller = SqlEventPoller(
        IngestWriter(make_sessionmaker(engine)), engine, tmp_path / "events.db", backoff=FAST
    )
    thread, stop = _run_in_thread(poller)
    try:
        _until(lambda: poller.stats.retries >= 3, lambda: None)
        assert thread.is_alive()
        upgrade_to_head(url)
        _until(lambda: poller.stats.events == 6, lambda: None)
    finally:
        stop.set()
        thread.join(timeout=30)
        poller.close()
        events_engine.dispose()
    assert len(stored_messages(engine, "g-down")) == 2
    with make_sessionmaker(engine)() as session:
        assert dead_letter.count(session) == 0
    engine.dispose()


@pytest.mark.postgres
def test_missing_postgres_store_is_waited_for(tmp_path: Path) -> None:
    """The store's database does not exist yet (connection refused by the server): retried,
    never dead-lettered, ingested once it exists."""
    events_engine = create_engine(f"sqlite:///{tmp_path / 'events.db'}")
    write_sql_broker_rows(events_engine, turn_events("g-pg-down", "hi", "greet", T0 + 50))
    with postgres_database() as url:
        name = url.rsplit("/", 1)[1]
        admin_url = url.rsplit("/", 1)[0] + "/postgres"
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}"'))
        engine = make_engine(url)
        poller = SqlEventPoller(
            IngestWriter(make_sessionmaker(engine)), engine, tmp_path / "events.db", backoff=FAST
        )
        thread, stop = _run_in_thread(poller)
        try:
            _until(lambda: poller.stats.retries >= 3, lambda: None)
            assert thread.is_alive()
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            upgrade_to_head(url)
            _until(lambda: poller.stats.events == 6, lambda: None)
        finally:
            stop.set()
            thread.join(timeout=30)
            poller.close()
            events_engine.dispose()
            engine.dispose()
            admin.dispose()
        check = make_engine(url)
        try:
            assert len(stored_messages(check, "g-pg-down")) == 2
            with make_sessionmaker(check)() as session:
                assert dead_letter.count(session) == 0
        finally:
            check.dispose()


def test_worker_process_survives_poison_and_logs_ids_only(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade_to_head(url)
    events_engine = create_engine(f"sqlite:///{tmp_path / 'events.db'}")
    good = turn_events("g-worker", "hello", "greet", T0 + 60)
    write_sql_broker_rows(events_engine, good[:3])
    with events_engine.begin() as conn:
        conn.execute(
            text("INSERT INTO events (sender_id, data) VALUES ('g-worker', :d)"),
            {"d": '{"event": "user", "text": "secret words, call 13812345678'},
        )
    write_sql_broker_rows(events_engine, good[3:])
    events_engine.dispose()
    env = dict(os.environ, SHOP_DATABASE_URL=url, PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-m", "analytics.loop.ingest", "--events-db", str(tmp_path / "events.db"),
         "--poll-interval", "0.05", "--max-idle", "1.0"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
    assert "Dead letter 1: sql:events.db" in log and "JSONDecodeError" in log
    assert "secret" not in log and "13812345678" not in log
    engine = make_engine(url)
    try:
        assert [m.text for m in stored_messages(engine, "g-worker")] == ["hello", "OK"]
        with make_sessionmaker(engine)() as session:
            (row,) = dead_letter.recent(session)
            assert row.position == 4 and "[PHONE]" in row.payload
    finally:
        engine.dispose()
