"""The delivery ledger (bot/channels/messaging/ledger.py) on a SQLite file and on PostgreSQL.

Also: the channel store finds the tracker store's database under Rasa's wrappers.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from rasa.core.tracker_store import AwaitableTrackerStore, InMemoryTrackerStore, SQLTrackerStore
from rasa.shared.core.domain import Domain

from bot.channels.messaging.ledger import (
    KEEP_S,
    STALE_AFTER_S,
    STATE_DONE,
    STATE_PROCESSING,
    Ledger,
    delivery_key,
)
from bot.channels.messaging.store import ChannelStore, sql_tracker_store

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _sqlite_store(tmp_path: Path) -> ChannelStore:
    return ChannelStore(sa.create_engine(f"sqlite:///{tmp_path / 'tracker.db'}"))


@pytest.fixture()
def postgres_store() -> Iterator[ChannelStore]:
    """A channel store in a throwaway PostgreSQL database on localhost (trust auth)."""
    name = f"channels_test_{secrets.token_hex(6)}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as error:
        pytest.fail(f"PostgreSQL on localhost is needed: {error}")
    engine = sa.create_engine(f"postgresql://postgres@127.0.0.1:5432/{name}")
    try:
        yield ChannelStore(engine)
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _claims_and_states(store: ChannelStore) -> None:
    ledger = Ledger(store)
    now = 1_000_000.0
    assert ledger.claim_now("telegram", "42", now) is True
    assert ledger.state_now("telegram", "42") == STATE_PROCESSING
    # A redelivery while it is being processed, and after: not processed again.
    assert ledger.claim_now("telegram", "42", now + 1) is False
    ledger.finish_now("telegram", "42")
    assert ledger.state_now("telegram", "42") == STATE_DONE
    assert ledger.claim_now("telegram", "42", now + STALE_AFTER_S * 10) is False
    # Same id on another channel: another delivery.
    assert ledger.claim_now("slack", "42", now) is True
    # A failed delivery's claim is released: the platform's retry is processed.
    assert ledger.claim_now("telegram", "43", now) is True
    ledger.release_now("telegram", "43")
    assert ledger.state_now("telegram", "43") is None
    assert ledger.claim_now("telegram", "43", now + 2) is True
    # Releasing a finished delivery does nothing.
    ledger.release_now("telegram", "42")
    assert ledger.state_now("telegram", "42") == STATE_DONE


def _stale_claims(store: ChannelStore) -> None:
    ledger = Ledger(store)
    now = 2_000_000.0
    assert ledger.claim_now("wecom", "m1", now)
    assert not ledger.claim_now("wecom", "m1", now + STALE_AFTER_S - 1)
    # The server that claimed it died: after 120 s the claim may be re-taken, once.
    assert ledger.claim_now("wecom", "m1", now + STALE_AFTER_S + 1)
    assert not ledger.claim_now("wecom", "m1", now + STALE_AFTER_S + 2)


def _concurrent_claims(store: ChannelStore) -> None:
    ledger = Ledger(store)
    store.create_tables()
    results: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def claim() -> None:
        start.wait()
        won = ledger.claim_now("feishu", "evt-1")
        with lock:
            results.append(won)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]


def _pruning(store: ChannelStore) -> None:
    ledger = Ledger(store)
    now = 3_000_000.0
    assert ledger.claim_now("dingtalk", "old", now - KEEP_S - 10)
    ledger.finish_now("dingtalk", "old")
    assert ledger.claim_now("dingtalk", "new", now - 10)
    assert ledger.prune_now(now) == 1
    assert ledger.state_now("dingtalk", "old") is None
    assert ledger.state_now("dingtalk", "new") == STATE_PROCESSING


def _long_ids(store: ChannelStore) -> None:
    ledger = Ledger(store)
    long_id = "x" * 500
    assert len(delivery_key(long_id)) <= 128
    assert delivery_key(long_id) != delivery_key("y" * 500)
    assert ledger.claim_now("facebook", long_id, 1.0)
    assert not ledger.claim_now("facebook", long_id, 2.0)
    assert ledger.claim_now("facebook", "é\ud800" * 100, 1.0)  # a lone surrogate: hashed


SCENARIOS = [_claims_and_states, _stale_claims, _concurrent_claims, _pruning, _long_ids]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__.strip("_"))
def test_ledger_on_a_sqlite_file(tmp_path: Path, scenario: object) -> None:
    scenario(_sqlite_store(tmp_path))  # type: ignore[operator]


@pytest.mark.postgres
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__.strip("_"))
def test_ledger_on_postgresql(postgres_store: ChannelStore, scenario: object) -> None:
    scenario(postgres_store)  # type: ignore[operator]


def test_the_async_side_runs_in_threads_and_survives_a_restart(tmp_path: Path) -> None:
    async def scenario() -> tuple[bool, bool, bool]:
        ledger = Ledger(_sqlite_store(tmp_path))
        first = await ledger.claim("telegram", "7")
        again = await ledger.claim("telegram", "7")
        await ledger.finish("telegram", "7")
        # A new process (new engine, new ledger) on the same database still knows it.
        restarted = await Ledger(_sqlite_store(tmp_path)).claim("telegram", "7")
        return first, again, restarted

    assert asyncio.run(scenario()) == (True, False, False)


def test_a_failed_delivery_is_released_for_the_retry(tmp_path: Path) -> None:
    async def scenario() -> tuple[bool, bool]:
        ledger = Ledger(_sqlite_store(tmp_path))
        assert await ledger.claim("slack", "Ev1")
        await ledger.release("slack", "Ev1")
        retried = await ledger.claim("slack", "Ev1")
        await ledger.finish("slack", "Ev1")
        return retried, await ledger.claim("slack", "Ev1")

    assert asyncio.run(scenario()) == (True, False)


def test_the_store_uses_the_sql_tracker_stores_database(tmp_path: Path) -> None:
    db = tmp_path / "tracker.db"
    sql = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(db))
    wrapped = AwaitableTrackerStore(sql)

    class Agent:
        tracker_store = wrapped

    assert sql_tracker_store(wrapped) is sql
    store = ChannelStore.for_agent(Agent())
    assert store.engine is sql.engine
    assert ChannelStore.for_agent(Agent()) is store  # one per database
    assert asyncio.run(Ledger(store).claim("telegram", "1"))
    tables = set(sa.inspect(sa.create_engine(f"sqlite:///{db}")).get_table_names())
    assert {"events", "channel_deliveries", "channel_bindings", "channel_link_codes"} <= tables


def test_another_tracker_store_gets_one_shared_in_memory_database() -> None:
    class Agent:
        tracker_store = AwaitableTrackerStore(InMemoryTrackerStore(Domain.empty()))

    store = ChannelStore.for_agent(Agent())
    assert store is ChannelStore.for_agent(None)
    assert store.engine.url.database in (None, "")

    async def claims() -> list[bool]:
        ledger = Ledger(store)
        key = secrets.token_hex(8)
        return list(await asyncio.gather(*(ledger.claim("telegram", key) for _ in range(5))))

    assert sorted(asyncio.run(claims())) == [False] * 4 + [True]
