"""Fixtures for the customer-success store tests: fresh SQLite and PostgreSQL stores.

PostgreSQL databases are created with a unique name through the ``postgres`` database
(``TEST_POSTGRES_ADMIN_URL``, default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``),
migrated, and dropped afterwards. Tests on PostgreSQL carry the ``postgres`` marker and are
skipped when the server is unreachable.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from analytics.brain.sentiment import default_scorer
from analytics.demo.generator import ShopData, generate_shop, write_shop
from analytics.loop.ingest.writer import IngestWriter
from analytics.store.db import make_engine, make_sessionmaker, upgrade_to_head
from analytics.store.models import CustomerScore
from tests.services import fail_without_postgres

logger = logging.getLogger(__name__)

PG_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REFERENCE = datetime(2025, 6, 1, tzinfo=UTC)


def customer_score(**kw: Any) -> CustomerScore:
    """A ``CustomerScore`` row of a valuable, high-risk subscriber, with ``kw`` overriding."""
    base: dict[str, Any] = dict(
        customer_id=1,
        segment="loyal",
        churn_risk=0.8,
        churn_reasons=[],
        clv_cents=200_000,
        expected_purchases_90d=1.0,
        p_alive=0.5,
        health=30.0,
        health_components={},
        lifecycle_stage="churn",
        recommendations=[],
        model_version="t",
        scored_at=REFERENCE,
    )
    base.update(kw)
    return CustomerScore(**base)


"""Fixed reference date of the test data (the generator is deterministic given it)."""
SMALL_N = 120
"""Customers in the shared seeded stores (includes the four demo customers)."""
SQLITE = "sqlite"
POSTGRES = "postgres"
BACKENDS = [
    pytest.param(SQLITE, id=SQLITE),
    pytest.param(POSTGRES, id=POSTGRES, marks=pytest.mark.postgres),
]

_pg_state: dict[str, bool] = {}


def postgres_available() -> bool:
    """Return whether the PostgreSQL test server answers (checked once)."""
    if "ok" not in _pg_state:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            _pg_state["ok"] = True
        except Exception as exc:  # noqa: BLE001 - any failure means: not available
            logger.warning("PostgreSQL not available: %s", exc)
            _pg_state["ok"] = False
        finally:
            engine.dispose()
    return _pg_state["ok"]


@contextmanager
def postgres_database() -> Iterator[str]:
    """Create a uniquely named empty PostgreSQL database and drop it afterwards.

    Yields:
        The SQLAlchemy URL of the new database.
    """
    if not postgres_available():
        fail_without_postgres("no answer")
    name = f"test_analytics_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def empty_database(backend: str, folder: Path) -> Iterator[str]:
    """Provide an empty (unmigrated) database of the given backend.

    Args:
        backend: ``"sqlite"`` or ``"postgres"``.
        folder: Where SQLite files go.

    Yields:
        The database URL.
    """
    if backend == SQLITE:
        yield f"sqlite:///{folder / f'store_{uuid.uuid4().hex[:8]}.db'}"
    else:
        with postgres_database() as url:
            yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of a fresh, empty SQLite file database."""
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database (dropped afterwards)."""
    with postgres_database() as url:
        yield url


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend name, parametrised over SQLite and PostgreSQL."""
    return str(request.param)


@pytest.fixture
def empty_store(backend: str, tmp_path: Path) -> Iterator[Engine]:
    """A freshly migrated, empty store on each backend."""
    with empty_database(backend, tmp_path) as url:
        upgrade_to_head(url)
        engine = make_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


@dataclass(frozen=True)
class SeededStore:
    """A migrated store seeded with ``SMALL_N`` customers at ``REFERENCE``."""

    backend: str
    url: str
    engine: Engine
    data: ShopData


@pytest.fixture(scope="session")
def small_shop() -> ShopData:
    """The generated small shop (seed 42, ``SMALL_N`` customers, ``REFERENCE``)."""
    return generate_shop(SMALL_N, seed=42, reference=REFERENCE)


@pytest.fixture(scope="session", params=BACKENDS)
def seeded_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, small_shop: ShopData
) -> Iterator[SeededStore]:
    """A store on each backend, seeded once per test session. Do not commit in it."""
    backend_name = str(request.param)
    with empty_database(backend_name, tmp_path_factory.mktemp("seeded")) as url:
        upgrade_to_head(url)
        engine = make_engine(url)
        try:
            write_shop(engine, small_shop)
            yield SeededStore(backend_name, url, engine, small_shop)
        finally:
            engine.dispose()


@pytest.fixture
def session(seeded_store: SeededStore) -> Iterator[Session]:
    """A session on the seeded store; everything it does is rolled back."""
    factory = make_sessionmaker(seeded_store.engine)
    with factory() as db_session:
        try:
            yield db_session
        finally:
            db_session.rollback()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, small_shop: ShopData
) -> Iterator[Engine]:
    """The ingest tests' store: migrated and seeded, per backend, shared by one module.

    Tests use their own sender ids; a module that needs another store overrides ``store``
    (and :func:`writer` then writes to that one).
    """
    with empty_database(str(request.param), tmp_path_factory.mktemp("ingest")) as url:
        upgrade_to_head(url)
        engine = make_engine(url)
        try:
            write_shop(engine, small_shop)
            yield engine
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def writer(store: Engine) -> IngestWriter:
    """An ingest writer on the module's ``store``."""
    return IngestWriter(make_sessionmaker(store), scorer=default_scorer())
