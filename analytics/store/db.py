"""Engine and session factories, and Alembic migration helpers.

Nothing is connected at import time: callers build an engine with
:func:`make_engine` and own its lifetime.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from analytics.core.settings import ensure_sqlite_parent

logger = logging.getLogger(__name__)

ALEMBIC_INI: Path = Path(__file__).resolve().parent / "alembic.ini"
MIGRATIONS_DIR: Path = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_S = 30
POOL_SIZE = 5
MAX_OVERFLOW = 10
POOL_RECYCLE_S = 1800
WRITE_INTENT_OPTION = "leafbean_write_intent"
"""Execution option of :func:`make_sessionmaker` ``(write_intent=True)`` engines."""


def _is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_in_memory(url: str) -> bool:
    database = make_url(url).database
    return not database or database == ":memory:"


def make_engine(url: str, *, echo: bool = False, **kwargs: Any) -> Engine:
    """Create an engine for the store.

    For SQLite, foreign keys are enforced, file databases use WAL journaling, and the
    driver's own transaction handling is replaced by explicit ``BEGIN`` so that
    SAVEPOINTs work (the SQLAlchemy-documented recipe for pysqlite). For other
    backends the pool pre-pings and recycles connections.

    Args:
        url: SQLAlchemy database URL.
        echo: Log SQL statements.
        **kwargs: Extra keyword arguments for :func:`sqlalchemy.create_engine`.

    Returns:
        A new engine.
    """
    if _is_sqlite(url):
        ensure_sqlite_parent(url)
        options: dict[str, Any] = {
            "connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
        }
        options.update(kwargs)
        engine = create_engine(url, echo=echo, **options)
        use_wal = not _sqlite_in_memory(url)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("PRAGMA foreign_keys=ON")
                if use_wal:
                    cursor.execute("PRAGMA journal_mode=WAL")
                    cursor.execute("PRAGMA synchronous=NORMAL")
            finally:
                cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            immediate = conn.get_execution_options().get(WRITE_INTENT_OPTION, False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    options = {
        "pool_pre_ping": True,
        "pool_size": POOL_SIZE,
        "max_overflow": MAX_OVERFLOW,
        "pool_recycle": POOL_RECYCLE_S,
    }
    options.update(kwargs)
    return create_engine(url, echo=echo, **options)


def make_sessionmaker(engine: Engine, *, write_intent: bool = False) -> sessionmaker[Session]:
    """Create a session factory bound to ``engine``.

    Sessions do not expire objects on commit, so results can be used after the
    caller's ``with session.begin():`` block ends.

    Args:
        engine: The engine to bind.
        write_intent: The sessions will write after reading. On SQLite their transactions
            start with ``BEGIN IMMEDIATE``, so they wait (up to the busy timeout) for
            another writer instead of failing with "database is locked" when a read
            transaction turns into a write after someone else committed. No effect on
            other backends.

    Returns:
        A ``sessionmaker`` producing :class:`sqlalchemy.orm.Session` objects.
    """
    bind = engine.execution_options(**{WRITE_INTENT_OPTION: True}) if write_intent else engine
    return sessionmaker(bind=bind, expire_on_commit=False)


def alembic_config(url: str) -> Any:
    """Build an Alembic ``Config`` for the store with the URL set programmatically.

    Args:
        url: SQLAlchemy database URL to migrate.

    Returns:
        An :class:`alembic.config.Config`.
    """
    from alembic.config import Config

    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation: a literal % must be doubled.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_to_head(url: str) -> None:
    """Apply all Alembic migrations to the database at ``url``.

    Args:
        url: SQLAlchemy database URL.
    """
    from alembic import command

    ensure_sqlite_parent(url)
    logger.info("Migrating %s to head", make_url(url).render_as_string(hide_password=True))
    command.upgrade(alembic_config(url), "head")
