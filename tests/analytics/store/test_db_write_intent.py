"""SQLite sessions that read and then write: ``make_sessionmaker(write_intent=True)``."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from analytics.store.db import make_engine, make_sessionmaker, upgrade_to_head
from analytics.store.models import Customer
from tests.analytics.conftest import REFERENCE


def _store(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/shop.db"
    upgrade_to_head(url)
    engine = make_engine(url)
    with make_sessionmaker(engine)() as db:
        db.add(
            Customer(
                external_id="cus_1",
                name="A",
                email="a@example.com",
                language="zh",
                city="北京",
                created_at=REFERENCE,
                acquisition_channel="organic",
            )
        )
        db.commit()
    engine.dispose()
    return url


def _other_writer_commits(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE customers SET points = points + 1"))
    finally:
        engine.dispose()


def test_a_plain_session_that_read_first_fails_after_another_commit(tmp_path: Path) -> None:
    """The failure mode write intent exists for: SQLite refuses at once, no busy wait."""
    url = _store(tmp_path)
    engine = make_engine(url)
    with make_sessionmaker(engine)() as db:
        db.scalars(select(Customer)).all()  # read: the transaction holds a snapshot
        _other_writer_commits(url)
        with pytest.raises(OperationalError, match="locked"):
            db.execute(text("UPDATE customers SET points = points + 10"))
            db.commit()
    engine.dispose()


def test_a_write_intent_session_makes_the_other_writer_wait(tmp_path: Path) -> None:
    url = _store(tmp_path)
    engine = make_engine(url)
    other = threading.Thread(target=_other_writer_commits, args=(url,))
    with make_sessionmaker(engine, write_intent=True)() as db:
        db.scalars(select(Customer)).all()
        other.start()
        time.sleep(0.3)  # the other writer is now waiting for our transaction
        assert other.is_alive()
        db.execute(text("UPDATE customers SET points = points + 10"))
        db.commit()
    other.join(timeout=30)
    assert not other.is_alive()
    with make_sessionmaker(engine)() as db:
        assert db.scalars(select(Customer.points)).one() == 11
    engine.dispose()
