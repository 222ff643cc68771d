"""The dispatcher's lease on SQLite and PostgreSQL: a round never outlives its lease (so a
second dispatcher never sends the same alert again), and an outcome is recorded only by the
dispatcher that still holds the claim (a delivery marked sent stays sent)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from analytics.loop.alerts.dispatch import (
    BATCH,
    LEASE,
    SEND_BUDGET,
    Dispatcher,
    batch_for,
)
from analytics.loop.alerts.notifiers.base import AlertText
from analytics.loop.alerts.notifiers.telegram import TelegramNotifier
from analytics.store.db import make_sessionmaker
from analytics.store.repositories.alerts import (
    claim_due_deliveries,
    record_failure,
    record_sent,
)
from tests.analytics.loop.alerts.conftest import Clock
from tests.analytics.loop.alerts.test_dispatch import (
    CHAT_ID,
    T0,
    alert_state,
    deliveries,
    file_alert,
)
from tests.channels.fakes.telegram import FakeTelegram

pytestmark = pytest.mark.channels


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


class SlowTelegram(TelegramNotifier):
    """The real Telegram notifier whose every send takes ``took`` on the test clock; while
    it is "on the wire", another dispatcher runs a round (a second ``alerts`` process)."""

    def __init__(self, fake: FakeTelegram, clock: Clock, took: timedelta) -> None:
        super().__init__(fake.token, CHAT_ID, fake.url)
        self.clock = clock
        self.took = took
        self.rival: Dispatcher | None = None

    def send(self, alert: AlertText) -> str | None:
        self.clock.now += self.took
        if self.rival is not None:
            self.rival.run_once()
        return super().send(alert)


def test_the_lease_covers_a_whole_batch_at_its_worst() -> None:
    assert LEASE >= BATCH * SEND_BUDGET + timedelta(seconds=10)
    assert batch_for(LEASE) == BATCH
    assert batch_for(timedelta(seconds=1)) == 1


def test_a_slow_round_is_never_sent_twice_by_a_second_dispatcher(
    empty_store: Engine, telegram: FakeTelegram
) -> None:
    alerts = [
        file_alert(empty_store, ("telegram",), at=T0 + timedelta(seconds=i)) for i in range(7)
    ]
    clock = Clock(T0 + timedelta(minutes=1))
    factory = make_sessionmaker(empty_store)
    first = SlowTelegram(telegram, clock, SEND_BUDGET)  # every send at its worst case
    second = SlowTelegram(telegram, clock, timedelta(0))
    a = Dispatcher(factory, {"telegram": first}, now=clock)
    first.rival = Dispatcher(factory, {"telegram": second}, now=clock)
    while a.run_once():
        pass
    texts = telegram.sent_texts(CHAT_ID)
    assert len(texts) == len(alerts)  # each alert once: no lease ran out mid-round
    assert len(set(texts)) == len(alerts)
    for alert_id in alerts:
        delivery = deliveries(empty_store, alert_id)["telegram"]
        assert (delivery.state, delivery.attempts) == ("sent", 1)


def test_a_stalled_round_gives_back_what_it_has_not_sent(
    empty_store: Engine, telegram: FakeTelegram
) -> None:
    alerts = [
        file_alert(empty_store, ("telegram",), at=T0 + timedelta(seconds=i)) for i in range(3)
    ]
    clock = Clock(T0 + timedelta(minutes=1))
    stalled = SlowTelegram(telegram, clock, LEASE)  # far beyond the budget
    dispatcher = Dispatcher(make_sessionmaker(empty_store), {"telegram": stalled}, now=clock)
    assert dispatcher.run_once() == 1  # the first was sent; the others given back, unsent
    states = [deliveries(empty_store, a)["telegram"] for a in alerts]
    assert [(d.state, d.attempts) for d in states] == [("sent", 1), ("pending", 0), ("pending", 0)]
    assert len(telegram.sent_texts(CHAT_ID)) == 1


def test_a_late_outcome_never_overwrites_another_dispatchers(empty_store: Engine) -> None:
    alert_id = file_alert(empty_store, ("telegram",))
    factory = make_sessionmaker(empty_store)
    now = T0 + timedelta(minutes=1)
    with factory() as session, session.begin():
        (late,) = claim_due_deliveries(session, now, lease=LEASE)
        late_id, late_attempt = late.id, late.attempts
    now += LEASE  # the first dispatcher stalled; a second one claims and sends
    with factory() as session, session.begin():
        (again,) = claim_due_deliveries(session, now, lease=LEASE)
        assert again.attempts == late_attempt + 1
        assert record_sent(
            session, again.id, at=now, platform_message_id="55", attempt=again.attempts
        )
    with factory() as session, session.begin():  # the first one's outcomes come in late
        assert not record_failure(
            session, late_id, error="telegram: ReadTimeout", retry_at=None, attempt=late_attempt
        )
        assert not record_sent(
            session, late_id, at=now, platform_message_id="99", attempt=late_attempt
        )
        assert not record_failure(session, late_id, error="x", retry_at=now)  # sent is final
    sent = deliveries(empty_store, alert_id)["telegram"]
    assert (sent.state, sent.platform_message_id, sent.error) == ("sent", "55", None)
    assert alert_state(empty_store, alert_id) == "sent"


def test_a_failure_of_a_stale_claim_leaves_the_new_claim_alone(empty_store: Engine) -> None:
    alert_id = file_alert(empty_store, ("telegram",))
    factory = make_sessionmaker(empty_store)
    now = T0 + timedelta(minutes=1)
    with factory() as session, session.begin():
        (old,) = claim_due_deliveries(session, now, lease=LEASE)
    now += LEASE
    with factory() as session, session.begin():
        (new,) = claim_due_deliveries(session, now, lease=LEASE)
    with factory() as session, session.begin():
        assert not record_failure(session, old.id, error="late", retry_at=None, attempt=1)
        assert record_failure(session, new.id, error="retry", retry_at=now, attempt=2)
    pending = deliveries(empty_store, alert_id)["telegram"]
    assert (pending.state, pending.attempts, pending.error) == ("pending", 2, "retry")
