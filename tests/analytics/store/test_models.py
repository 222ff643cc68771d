"""Schema, migrations, engine and settings of the customer-success store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.exc import IntegrityError

from analytics.cli import main
from analytics.core.settings import (
    ENV_DATABASE_URL,
    ENV_IDENTITY_SECRET,
    default_database_url,
    get_settings,
    parse_env_file,
)
from analytics.store.db import alembic_config, make_engine, make_sessionmaker, upgrade_to_head
from analytics.store.models import Customer, Order
from analytics.store.schema import metadata

EXPECTED_TABLES = {
    "customers",
    "products",
    "orders",
    "order_items",
    "subscriptions",
    "subscription_events",
    "refund_requests",
    "conversations",
    "messages",
}


def _schema_diffs(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def _customer(external_id: str, created_at: datetime) -> Customer:
    return Customer(
        external_id=external_id,
        name="测试",
        email=f"{external_id}@example.cn",
        language="zh",
        city="上海",
        created_at=created_at,
        acquisition_channel="organic",
    )


def test_migration_matches_models(empty_store: Engine) -> None:
    assert EXPECTED_TABLES <= set(inspect(empty_store).get_table_names())
    assert _schema_diffs(empty_store) == []


def test_migrate_is_idempotent_and_reversible(sqlite_url: str) -> None:
    upgrade_to_head(sqlite_url)
    upgrade_to_head(sqlite_url)  # already at head: no-op
    command.downgrade(alembic_config(sqlite_url), "base")
    engine = make_engine(sqlite_url)
    try:
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
        upgrade_to_head(sqlite_url)
        assert _schema_diffs(engine) == []
    finally:
        engine.dispose()


def test_migrate_cli(sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--database-url", sqlite_url, "migrate"]) == 0
    assert "up to date" in capsys.readouterr().out
    engine = make_engine(sqlite_url)
    try:
        assert EXPECTED_TABLES <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_datetimes_round_trip_as_aware_utc(empty_store: Engine) -> None:
    factory = make_sessionmaker(empty_store)
    shanghai = timezone(timedelta(hours=8))
    with factory() as session:
        session.add(_customer("a", datetime(2025, 1, 2, 8, 30, tzinfo=shanghai)))
        session.add(_customer("b", datetime(2025, 1, 2, 3, 0)))  # naive: taken as UTC
        session.commit()
    with factory() as session:
        a = session.scalars(select(Customer).where(Customer.external_id == "a")).one()
        b = session.scalars(select(Customer).where(Customer.external_id == "b")).one()
        assert a.created_at == datetime(2025, 1, 2, 0, 30, tzinfo=UTC)
        assert a.created_at.utcoffset() == timedelta(0)
        assert b.created_at == datetime(2025, 1, 2, 3, 0, tzinfo=UTC)
        # comparisons in SQL work across time zones
        found = session.scalars(
            select(Customer.external_id).where(
                Customer.created_at < datetime(2025, 1, 2, 9, 0, tzinfo=shanghai)
            )
        ).all()
        assert found == ["a"]


def test_foreign_keys_are_enforced(empty_store: Engine) -> None:
    factory = make_sessionmaker(empty_store)
    with factory() as session:
        session.add(
            Order(
                order_number="LB100001",
                customer_id=999,
                created_at=datetime.now(UTC),
                status="paid",
                shipping_status="pending",
                total_cents=100,
            )
        )
        with pytest.raises(IntegrityError):
            session.flush()


def test_check_constraints_reject_unknown_values(empty_store: Engine) -> None:
    factory = make_sessionmaker(empty_store)
    with factory() as session:
        customer = _customer("c", datetime.now(UTC))
        customer.language = "fr"
        session.add(customer)
        with pytest.raises(IntegrityError):
            session.flush()


def test_sqlite_engine_pragmas(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
            assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
    finally:
        engine.dispose()


def test_sqlite_savepoints_roll_back_only_the_nested_part(sqlite_url: str) -> None:
    upgrade_to_head(sqlite_url)
    engine = make_engine(sqlite_url)
    try:
        factory = make_sessionmaker(engine)
        with factory() as session:
            session.add(_customer("outer", datetime.now(UTC)))
            session.flush()
            with pytest.raises(IntegrityError), session.begin_nested():
                session.add(_customer("outer", datetime.now(UTC)))
            session.commit()
        with factory() as session:
            assert session.scalars(select(Customer.external_id)).all() == ["outer"]
    finally:
        engine.dispose()


def test_env_file_parser(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(
        "# comment\n"
        "export A=1\n"
        "B = 'two words'\n"
        'C="x=y"\n'
        "D=plain # trailing comment\n"
        "not a line\n",
        encoding="utf-8",
    )
    assert parse_env_file(env) == {"A": "1", "B": "two words", "C": "x=y", "D": "plain"}
    assert parse_env_file(tmp_path / "missing") == {}


def test_settings_env_overrides_file(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(
        f"{ENV_DATABASE_URL}=sqlite:///{tmp_path}/from_file/x.db\n"
        f"{ENV_IDENTITY_SECRET}=filesecret\n",
        encoding="utf-8",
    )
    from_file = get_settings(environ={}, env_file=env)
    assert from_file.database_url == f"sqlite:///{tmp_path}/from_file/x.db"
    assert from_file.identity_secret is not None
    assert from_file.identity_secret.get_secret_value() == "filesecret"
    assert (tmp_path / "from_file").is_dir()  # parent of the SQLite file is created
    overridden = get_settings(environ={ENV_IDENTITY_SECRET: "real"}, env_file=env)
    assert overridden.identity_secret is not None
    assert overridden.identity_secret.get_secret_value() == "real"
    defaults = get_settings(environ={}, env_file=tmp_path / "none")
    assert defaults.database_url == default_database_url()
    assert defaults.database_url.endswith("/var/shop.db")
    assert defaults.identity_secret is None
    with pytest.raises(AttributeError):
        defaults.database_url = "x"  # type: ignore[misc]
