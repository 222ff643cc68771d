"""Fixtures of the founder-alert tests: a seeded store with brain scores, a clock, a writer.

The shared module ``store`` (SQLite and PostgreSQL, tests/analytics/conftest.py) gets one
score row per customer: segment ``potential``, lifetime value ``1000 * id`` cents (so the
top 20% by value are the highest ids), except ``cus_0003`` (``loyal``, low value). Each test
runs at its own time, two days after the previous test's, so the hourly limit and the quiet
window of one test never see another's alerts.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from analytics.brain.sentiment import default_scorer
from analytics.loop.alerts.rules import AlertPolicy, AlertRules
from analytics.loop.ingest.synthetic import identity, turn_events
from analytics.loop.ingest.writer import BatchResult, IngestWriter
from analytics.store.db import make_sessionmaker
from analytics.store.models import Customer, CustomerScore
from tests.analytics.conftest import customer_score

CHANNELS = ("telegram", "wecom")
CONSOLE = "https://console.example.test/"
_epochs = itertools.count(1)


@pytest.fixture(scope="module")
def scored(store: Engine) -> Engine:
    """The module's store with a score row per customer (see the module docstring)."""
    with make_sessionmaker(store)() as session, session.begin():
        if session.scalar(select(CustomerScore.customer_id).limit(1)) is None:
            for cid, external in session.execute(select(Customer.id, Customer.external_id)):
                loyal = external == "cus_0003"
                session.add(
                    customer_score(
                        customer_id=cid,
                        segment="loyal" if loyal else "potential",
                        clv_cents=1000 * cid,
                        churn_risk=0.1,
                    )
                )
    return store


def customer_ids(engine: Engine) -> dict[str, int]:
    """External id -> internal id."""
    with Session(engine) as session:
        return {e: i for e, i in session.execute(select(Customer.external_id, Customer.id))}


def vip_external(engine: Engine, rank: int = 0) -> str:
    """A customer in the top lifetime values (``rank`` 0 = the highest)."""
    ids = customer_ids(engine)
    return sorted(ids, key=lambda e: -ids[e])[rank]


def set_churn(engine: Engine, external_id: str, risk: float) -> None:
    """Set a customer's nightly churn risk."""
    with make_sessionmaker(engine)() as session, session.begin():
        cid = customer_ids(engine)[external_id]
        row = session.get(CustomerScore, cid)
        assert row is not None
        row.churn_risk = risk


@dataclass
class Clock:
    """A settable time, far from other tests' times."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        """Move the time forward."""
        self.now += timedelta(**kw)


@pytest.fixture
def clock() -> Clock:
    """This test's clock: two days after the previous test's."""
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2 * next(_epochs))
    return Clock(start)


@dataclass
class Chat:
    """Writes user turns through the real ingest writer at the clock's time."""

    writer: IngestWriter
    clock: Clock
    rules: AlertRules

    def say(
        self, sender: str, customer: str | None, text: str, intent: str, **kw: Any
    ) -> BatchResult:
        """One user turn (and the bot's reply), one second before the clock's now."""
        ts = (self.clock.now - timedelta(seconds=1)).timestamp()
        meta = identity(customer) if customer else None
        return self.writer.write(turn_events(sender, text, intent, ts, metadata=meta, **kw))


def make_rules(clock: Callable[[], datetime], **policy: Any) -> AlertRules:
    """Alert rules on :data:`CHANNELS` with ``policy`` overrides."""
    base: dict[str, Any] = dict(channels=CHANNELS, console_url=CONSOLE)
    base.update(policy)
    return AlertRules(AlertPolicy(**base), now=clock)


@pytest.fixture
def chat(scored: Engine, clock: Clock) -> Chat:
    """A writer with default alert rules (20%, 60 min, 30 per hour)."""
    rules = make_rules(clock)
    writer = IngestWriter(make_sessionmaker(scored), scorer=default_scorer(), alerts=rules)
    return Chat(writer, clock, rules)
