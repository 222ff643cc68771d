"""The delivery ledger (bot/channels/messaging/ledger.py) on a SQLite file and on PostgreSQL.

Also: only a claim's owner finishes, releases or refreshes it (a stale claim re-taken by
another server is safe from the first one), the channel store finds the tracker store's
database under Rasa's wrappers and adds the columns an older database lacks.
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
from bot.channels.messaging.store import DELIVERIES, ChannelStore, sql_tracker_store

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
    first = ledger.claim_now("telegram", "42", now)
    assert first is not None
    assert ledger.state_now("telegram", "42") == STATE_PROCESSING
    # A redelivery while it is being processed, and after: not processed again.
    assert ledger.claim_now("telegram", "42", now + 1) is None
    assert ledger.finish_now("telegram", "42", first) is True
    assert ledger.state_now("telegram", "42") == STATE_DONE
    assert ledger.claim_now("telegram", "42", now + STALE_AFTER_S * 10) is None
    # Same id on another channel: another delivery.
    assert ledger.claim_now("slack", "42", now) is not None
    # A failed delivery's claim is released: the platform's retry is processed.
    failed = ledger.claim_now("telegram", "43", now)
    assert failed is not None
    assert ledger.release_now("telegram", "43", failed) is True
    assert ledger.state_now("telegram", "43") is None
    retry = ledger.claim_now("telegram", "43", now + 2)
    assert retry is not None and retry != failed  # every claim has its own owner token
    # Releasing a finished delivery does nothing.
    assert ledger.release_now("telegram", "42", first) is False
    assert ledger.state_now("telegram", "42") == STATE_DONE


def _stale_claims(store: ChannelStore) -> None:
    ledger = Ledger(store)
    now = 2_000_000.0
    assert ledger.claim_now("wecom", "m1", now)
    assert not ledger.claim_now("wecom", "m1", now + STALE_AFTER_S - 1)
    # The server that claimed it died: after STALE_AFTER_S the claim may be re-taken, once.
    assert ledger.claim_now("wecom", "m1", now + STALE_AFTER_S + 1)
    assert not ledger.claim_now("wecom", "m1", now + STALE_AFTER_S + 2)


def _a_stale_owner_cannot_touch_the_new_claim(store: ChannelStore) -> None:
    """Server A's claim goes stale, B re-takes it, then A fails, or finishes, late."""
    a, b, c = Ledger(store), Ledger(store), Ledger(store)
    now = 2_500_000.0
    mine_a = a.claim_now("feishu", "ev1", now)
    assert mine_a is not None
    mine_b = b.claim_now("feishu", "ev1", now + STALE_AFTER_S + 1)
    assert mine_b is not None and mine_b != mine_a
    # A's processing finally fails: its release must not delete B's claim...
    assert a.release_now("feishu", "ev1", mine_a) is False
    assert a.state_now("feishu", "ev1") == STATE_PROCESSING
    # ...so a third delivery is still a duplicate while B works.
    assert c.claim_now("feishu", "ev1", now + STALE_AFTER_S + 5) is None
    # A late finish of A does not mark B's delivery done, nor does A's refresh keep it.
    assert a.finish_now("feishu", "ev1", mine_a) is False
    assert a.refresh_now("feishu", "ev1", mine_a, now + STALE_AFTER_S + 6) is False
    assert a.state_now("feishu", "ev1") == STATE_PROCESSING
    # B fails too: its own release applies, and the platform's next retry is processed.
    assert b.release_now("feishu", "ev1", mine_b) is True
    assert c.claim_now("feishu", "ev1", now + STALE_AFTER_S + 7) is not None


def _refreshed_claims_do_not_go_stale(store: ChannelStore) -> None:
    ledger = Ledger(store)
    now = 2_700_000.0
    owner = ledger.claim_now("slack", "Ev9", now)
    assert owner is not None
    # A slow turn: the owner refreshes its claim, so a redelivery long after is a duplicate.
    for step in range(1, 6):
        assert ledger.refresh_now("slack", "Ev9", owner, now + step * STALE_AFTER_S / 2)
    assert ledger.claim_now("slack", "Ev9", now + 3 * STALE_AFTER_S) is None
    assert ledger.finish_now("slack", "Ev9", owner) is True
    assert ledger.refresh_now("slack", "Ev9", owner, now + 4 * STALE_AFTER_S) is False


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
            results.append(won is not None)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]


def _pruning(store: ChannelStore) -> None:
    ledger = Ledger(store)
    now = 3_000_000.0
    old = ledger.claim_now("dingtalk", "old", now - KEEP_S - 10)
    assert old is not None and ledger.finish_now("dingtalk", "old", old)
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


def _old_tables_get_the_new_columns(store: ChannelStore) -> None:
    """A database made before ``owner`` and ``demo`` existed: the columns are added."""
    with store.engine.begin() as connection:
        for table in ("channel_deliveries", "channel_bindings", "channel_link_codes"):
            connection.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        connection.execute(
            sa.text(
                "CREATE TABLE channel_deliveries (channel VARCHAR(32) NOT NULL, delivery_id"
                " VARCHAR(128) NOT NULL, state VARCHAR(16) NOT NULL, claimed_at FLOAT NOT NULL,"
                " PRIMARY KEY (channel, delivery_id))"
            )
        )
        connection.execute(
            sa.text(
                "CREATE TABLE channel_bindings (channel VARCHAR(32) NOT NULL, user_id"
                " VARCHAR(256) NOT NULL, customer_id VARCHAR(128) NOT NULL, linked_at FLOAT"
                " NOT NULL, PRIMARY KEY (channel, user_id))"
            )
        )
        connection.execute(
            sa.text("INSERT INTO channel_bindings VALUES ('telegram', '1', 'cus_0001', 1.0)")
        )
        connection.execute(
            sa.text("INSERT INTO channel_deliveries VALUES ('telegram', 'old', 'processing', 1.0)")
        )
    ledger = Ledger(store)
    owner = ledger.claim_now("telegram", "new", 5.0)  # creates the tables: adds the columns
    assert owner is not None and ledger.finish_now("telegram", "new", owner)
    inspector = sa.inspect(store.engine)
    assert "owner" in {c["name"] for c in inspector.get_columns("channel_deliveries")}
    with store.engine.connect() as connection:
        demo = connection.execute(sa.text("SELECT demo FROM channel_bindings")).scalar()
    assert demo in (False, 0)  # an old binding is an ordinary one
    # An old claim (no owner) can still go stale and be re-taken.
    assert ledger.claim_now("telegram", "old", 2.0 + STALE_AFTER_S) is not None
    # Creating the tables again (another server) adds nothing more.
    ChannelStore(store.engine).create_tables()


SCENARIOS = [
    _claims_and_states,
    _stale_claims,
    _a_stale_owner_cannot_touch_the_new_claim,
    _refreshed_claims_do_not_go_stale,
    _concurrent_claims,
    _pruning,
    _long_ids,
    _old_tables_get_the_new_columns,
]


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
        assert first is not None and await ledger.finish("telegram", "7", first)
        # A new process (new engine, new ledger) on the same database still knows it.
        restarted = await Ledger(_sqlite_store(tmp_path)).claim("telegram", "7")
        return first is not None, again is not None, restarted is not None

    assert asyncio.run(scenario()) == (True, False, False)


def test_a_failed_delivery_is_released_for_the_retry(tmp_path: Path) -> None:
    async def scenario() -> tuple[bool, bool]:
        ledger = Ledger(_sqlite_store(tmp_path))
        failed = await ledger.claim("slack", "Ev1")
        assert failed is not None and await ledger.release("slack", "Ev1", failed)
        retried = await ledger.claim("slack", "Ev1")
        assert retried is not None and await ledger.finish("slack", "Ev1", retried)
        return retried is not None, await ledger.claim("slack", "Ev1") is not None

    assert asyncio.run(scenario()) == (True, False)


def test_the_owner_keeps_its_claim_fresh_while_it_works(tmp_path: Path) -> None:
    store = _sqlite_store(tmp_path)

    def claimed_at() -> float:
        with store.engine.connect() as connection:
            return float(connection.execute(sa.select(DELIVERIES.c.claimed_at)).scalar_one())

    async def scenario() -> tuple[float, float, bool]:
        ledger = Ledger(store, refresh_every=0.05, max_hold=5.0)
        owner = await ledger.claim("wechat", "m9")
        assert owner is not None
        first = claimed_at()
        keeper = ledger.keep_alive("wechat", "m9", owner)
        await asyncio.sleep(0.4)
        refreshed = claimed_at()
        assert await ledger.finish("wechat", "m9", owner)
        await asyncio.sleep(0.2)  # the next refresh finds the claim done and stops
        return first, refreshed, keeper.done()

    first, refreshed, stopped = asyncio.run(scenario())
    assert refreshed > first and stopped


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
    assert asyncio.run(Ledger(store).claim("telegram", "1")) is not None
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
        owners = await asyncio.gather(*(ledger.claim("telegram", key) for _ in range(5)))
        return [owner is not None for owner in owners]

    assert sorted(asyncio.run(claims())) == [False] * 4 + [True]
