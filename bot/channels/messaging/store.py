"""The messaging channels' own tables, kept in the tracker store's database.

Three SQLAlchemy 1.4 Core tables (created with ``checkfirst`` the first time they are used):

* ``channel_deliveries(channel, delivery_id, state, claimed_at, owner)``: the idempotency
  ledger of incoming deliveries (:mod:`bot.channels.messaging.ledger`; ``owner``: the token
  of the claim that may finish or release it);
* ``channel_bindings(channel, user_id, customer_id, linked_at, demo)``: which shop customer a
  platform user linked to (:mod:`bot.channels.messaging.bindings`; ``demo``: the code was
  signed with ``DEMO_IDENTITY_SECRET``);
* ``channel_link_codes(code_hash, used_at)``: link codes already used (single use).

They live in the database of the agent's ``SQLTrackerStore`` (found under Rasa's wrappers:
``AwaitableTrackerStore``, ``FailSafeTrackerStore``), so every Rasa server of a deployment
shares them. With another tracker store (in memory, Redis...) one in-memory SQLite database per
process is used: fine for development, not for several servers.

A database made before a column existed gets it added (``ALTER TABLE ... ADD COLUMN``, with
the column's default for the rows already there) when the tables are first used.

SQLAlchemy calls block; :meth:`ChannelStore.run` runs them in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import StaticPool

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: How deep Rasa nests tracker stores in wrappers (awaitable, fail-safe).
MAX_WRAPPERS = 4
IN_MEMORY_URL = "sqlite://"

METADATA = sa.MetaData()

DELIVERIES = sa.Table(
    "channel_deliveries",
    METADATA,
    sa.Column("channel", sa.String(32), primary_key=True),
    sa.Column("delivery_id", sa.String(128), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("claimed_at", sa.Float, nullable=False, index=True),
    sa.Column("owner", sa.String(32), nullable=True),
)

BINDINGS = sa.Table(
    "channel_bindings",
    METADATA,
    sa.Column("channel", sa.String(32), primary_key=True),
    sa.Column("user_id", sa.String(256), primary_key=True),
    sa.Column("customer_id", sa.String(128), nullable=False),
    sa.Column("linked_at", sa.Float, nullable=False),
    sa.Column("demo", sa.Boolean, nullable=False, server_default=sa.false()),
)

LINK_CODES = sa.Table(
    "channel_link_codes",
    METADATA,
    sa.Column("code_hash", sa.String(64), primary_key=True),
    sa.Column("used_at", sa.Float, nullable=False),
)


def sql_tracker_store(tracker_store: Any) -> Any | None:
    """The ``SQLTrackerStore`` under Rasa's wrappers, or None if it is another kind.

    Args:
        tracker_store: ``agent.tracker_store`` (Rasa 3.6 wraps it in
            ``AwaitableTrackerStore``, whose ``_tracker_store`` is the configured store).

    Returns:
        The SQL tracker store, or None.
    """
    from rasa.core.tracker_store import SQLTrackerStore

    store = tracker_store
    for _ in range(MAX_WRAPPERS + 1):
        if isinstance(store, SQLTrackerStore):
            return store
        inner = getattr(store, "inner_tracker_store", None) or getattr(
            store, "_tracker_store", None
        )
        if inner is None:
            return None
        store = inner
    return None


def _columns(engine: Engine, table: sa.Table) -> set[str]:
    return {column["name"] for column in sa.inspect(engine).get_columns(table.name)}


def add_missing_columns(engine: Engine) -> list[str]:
    """Adds the columns a table made by an older version lacks (blocking; safe to repeat).

    Only columns that may be added to existing rows are declared after a table's first
    version: nullable ones, or ones with a server default (``demo`` is false for old rows).

    Args:
        engine: The database.

    Returns:
        ``table.column`` of each column added.
    """
    added = []
    preparer = engine.dialect.identifier_preparer
    for table in METADATA.sorted_tables:
        present = _columns(engine, table)
        for column in table.columns:
            if column.name in present:
                continue
            ddl = sa.schema.CreateColumn(column).compile(dialect=engine.dialect)
            statement = f"ALTER TABLE {preparer.format_table(table)} ADD COLUMN {ddl}"
            try:
                with engine.begin() as connection:
                    connection.execute(sa.text(statement))
            except SQLAlchemyError:
                if column.name not in _columns(engine, table):
                    raise
                continue  # another server added it in between
            logger.info("Channel tables: added the column %s.%s", table.name, column.name)
            added.append(f"{table.name}.{column.name}")
    return added


def memory_engine() -> Engine:
    """An in-memory SQLite engine whose one connection every thread shares."""
    return sa.create_engine(
        IN_MEMORY_URL, poolclass=StaticPool, connect_args={"check_same_thread": False}
    )


class ChannelStore:
    """The channel tables in one database.

    Attributes:
        engine: The SQLAlchemy engine.
        deliveries: The ``channel_deliveries`` table.
        bindings: The ``channel_bindings`` table.
        link_codes: The ``channel_link_codes`` table.
    """

    deliveries = DELIVERIES
    bindings = BINDINGS
    link_codes = LINK_CODES

    def __init__(self, engine: Engine) -> None:
        """Wraps an engine; the tables are created when first used.

        Args:
            engine: The database (the tracker store's engine, or :func:`memory_engine`).
        """
        self.engine = engine
        self._created = False
        self._create_lock = threading.Lock()
        # An in-memory SQLite database is one connection: its users take turns.
        memory = engine.url.get_backend_name() == "sqlite" and engine.url.database in (
            None,
            "",
            ":memory:",
        )
        self._turns: threading.Lock | None = threading.Lock() if memory else None

    @classmethod
    def in_memory(cls) -> ChannelStore:
        """A store in a fresh in-memory SQLite database."""
        return cls(memory_engine())

    @classmethod
    def for_agent(cls, agent: Any) -> ChannelStore:
        """The store of an agent's tracker store database (one per database and process).

        Args:
            agent: Rasa's agent (``app.ctx.agent``), or None.

        Returns:
            The store in the SQL tracker store's database, else the process's in-memory one.
        """
        sql = sql_tracker_store(getattr(agent, "tracker_store", None))
        if sql is None:
            return _shared_memory_store()
        with _STORES_LOCK:
            store = _STORES.get(id(sql.engine))
            if store is None or store.engine is not sql.engine:
                store = _STORES[id(sql.engine)] = cls(sql.engine)
            return store

    def create_tables(self) -> None:
        """Creates the tables that are missing (blocking; safe to call again)."""
        if self._created:
            return
        with self._create_lock:
            if self._created:
                return
            try:
                METADATA.create_all(self.engine, checkfirst=True)
            except SQLAlchemyError:
                # Another server may have created them between the check and the CREATE.
                logger.info("Channel tables: creation raced with another process; re-checking")
                METADATA.create_all(self.engine, checkfirst=True)
            add_missing_columns(self.engine)
            self._created = True

    def transact(self, work: Callable[..., T], *args: Any) -> T:
        """Runs ``work(connection, *args)`` in one transaction (blocking).

        Args:
            work: A function of an open connection (and ``args``).
            *args: Its further arguments.

        Returns:
            What ``work`` returned (the transaction is committed; rolled back if it raised).
        """
        self.create_tables()
        if self._turns is None:
            with self.engine.begin() as connection:
                return work(connection, *args)
        with self._turns, self.engine.begin() as connection:
            return work(connection, *args)

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        """:meth:`transact` in a worker thread (for the event loop)."""
        return await asyncio.to_thread(self.transact, work, *args)

    async def call(self, blocking: Callable[..., T], *args: Any) -> T:
        """``blocking(*args)`` in a worker thread, the tables created first.

        For a function that opens its own transactions (with :meth:`transact`).
        """

        def created_then() -> T:
            self.create_tables()
            return blocking(*args)

        return await asyncio.to_thread(created_then)


_STORES: dict[int, ChannelStore] = {}
_STORES_LOCK = threading.Lock()
_MEMORY: list[ChannelStore] = []


def _shared_memory_store() -> ChannelStore:
    with _STORES_LOCK:
        if not _MEMORY:
            logger.warning(
                "The tracker store is not SQL: channel deliveries, bindings and link codes are "
                "kept in memory (lost on restart, not shared between Rasa servers)"
            )
            _MEMORY.append(ChannelStore.in_memory())
        return _MEMORY[0]


__all__ = [
    "BINDINGS",
    "DELIVERIES",
    "LINK_CODES",
    "METADATA",
    "ChannelStore",
    "add_missing_columns",
    "Connection",
    "memory_engine",
    "sql_tracker_store",
]
