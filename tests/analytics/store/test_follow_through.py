"""Follow-through in the store: discounts on renewals, refund decisions, changes filed.

On SQLite and PostgreSQL (the shared seeded store; every test is rolled back).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.demo import customers as demo
from analytics.store import repositories as repo
from analytics.store.models import (
    EVENT_DISCOUNT,
    SUB_ACTIVE,
    ChangeRequest,
    RefundRequest,
    Subscription,
    SubscriptionEvent,
)
from analytics.store.repositories.subscriptions import RENEWAL_PERIOD
from tests.analytics.conftest import REFERENCE

NOW = REFERENCE + timedelta(hours=10)


def subscription_of(session: Session, external_id: str) -> Subscription:
    customer = repo.get_customer(session, external_id)
    assert customer is not None
    subscription = repo.current_subscription(session, customer.id)
    assert subscription is not None
    return subscription


def active_subscription(session: Session) -> Subscription:
    subscription = subscription_of(session, demo.DEMO_EN)
    assert subscription.status == SUB_ACTIVE
    subscription.next_renewal_at = NOW + timedelta(days=5)
    return subscription


def test_a_discount_prices_the_next_renewals_then_the_price_returns(session: Session) -> None:
    subscription = active_subscription(session)
    regular = subscription.price_cents
    first = subscription.next_renewal_at
    assert first is not None
    event = repo.apply_discount(
        session, subscription, percent_off=20, boxes=3, at=NOW, note="retention offer"
    )
    assert event.kind == EVENT_DISCOUNT and event.at == first
    assert event.ends_at == first + 3 * RENEWAL_PERIOD
    assert event.price_cents == (regular * 80 + 50) // 100
    assert subscription.price_cents == regular  # the regular price is kept
    charged = [repo.renew_subscription(session, subscription, at=first + i * RENEWAL_PERIOD)
               for i in range(5)]  # fmt: skip
    assert [e.price_cents for e in charged] == [event.price_cents] * 3 + [regular] * 2
    assert subscription.next_renewal_at == first + 5 * RENEWAL_PERIOD
    stored = session.scalars(
        select(SubscriptionEvent).where(
            SubscriptionEvent.subscription_id == subscription.id,
            SubscriptionEvent.kind == EVENT_DISCOUNT,
        )
    ).one()
    assert stored.ends_at == event.ends_at  # the end date is recorded with the event


def test_a_free_box_costs_nothing_and_one_discount_runs_at_a_time(session: Session) -> None:
    subscription = active_subscription(session)
    event = repo.apply_discount(session, subscription, percent_off=100, boxes=1, at=NOW)
    assert event.price_cents == 0
    assert repo.running_discount(session, subscription, NOW) is not None
    with pytest.raises(ValueError, match="already has a discount"):
        repo.apply_discount(session, subscription, percent_off=20, boxes=3, at=NOW)
    assert event.ends_at is not None
    assert repo.running_discount(session, subscription, event.ends_at) is None


@pytest.mark.parametrize(("percent_off", "boxes"), [(0, 1), (101, 1), (20, 0), (20, 13)])
def test_discount_terms_are_checked(session: Session, percent_off: int, boxes: int) -> None:
    subscription = active_subscription(session)
    with pytest.raises(ValueError):
        repo.apply_discount(session, subscription, percent_off=percent_off, boxes=boxes, at=NOW)


def test_a_canceled_subscription_takes_no_discount(session: Session) -> None:
    subscription = active_subscription(session)
    repo.cancel_subscription(session, subscription, reason=None, at=NOW)
    with pytest.raises(ValueError, match="canceled"):
        repo.apply_discount(session, subscription, percent_off=20, boxes=3, at=NOW)


def test_a_paused_subscription_is_discounted_from_the_end_of_the_pause(session: Session) -> None:
    subscription = active_subscription(session)
    repo.pause_subscription(session, subscription, until=NOW + timedelta(days=30), at=NOW)
    subscription.next_renewal_at = None
    event = repo.apply_discount(session, subscription, percent_off=20, boxes=1, at=NOW)
    assert event.at == subscription.paused_until


def new_request(session: Session, external_id: str = demo.DEMO_EN) -> RefundRequest:
    customer = repo.get_customer(session, external_id)
    assert customer is not None
    order = repo.latest_order(session, customer.id)
    assert order is not None
    return repo.create_refund_request(
        session,
        customer.id,
        order_id=order.id,
        reason="stale",
        at=NOW,
        sender_id="conv-1",
        language="en",
    )


def test_a_refund_is_decided_once_with_a_note(session: Session) -> None:
    request = new_request(session)
    assert (request.sender_id, request.language, request.status) == ("conv-1", "en", "open")
    decided = repo.decide_refund(
        session,
        request.id,
        approve=True,
        note="  refunded\x00 to your card \ud800\x1b ",
        by="ada",
        at=NOW,
    )
    assert decided.status == "approved" and decided.decided_at == NOW
    assert decided.decided_by == "ada" and decided.decision_note == "refunded to your card"
    with pytest.raises(repo.AlreadyDecidedError):
        repo.decide_refund(session, request.id, approve=False, note="", by="ada", at=NOW)
    with pytest.raises(LookupError):
        repo.decide_refund(session, 10**9, approve=True, note="", by="ada", at=NOW)
    assert decided.notified_at is None
    repo.mark_refund_notified(session, request.id, at=NOW)
    assert decided.notified_at == NOW


def test_refusing_keeps_an_empty_note_empty_and_cuts_a_huge_one(session: Session) -> None:
    request = new_request(session)
    refused = repo.decide_refund(session, request.id, approve=False, note="   ", by="ada", at=NOW)
    assert refused.status == "rejected" and refused.decision_note is None
    other = new_request(session, demo.DEMO_ZH)
    huge = repo.decide_refund(session, other.id, approve=True, note="x" * 10**6, by="b", at=NOW)
    assert huge.decision_note is not None and len(huge.decision_note) == repo.refunds.MAX_NOTE_CHARS


def test_a_customer_sees_only_their_own_refund_requests(session: Session) -> None:
    mine = new_request(session)
    other = repo.get_customer(session, demo.DEMO_NEW)
    assert other is not None
    assert all(r.customer_id == other.id for r in repo.refund_requests_of(session, other.id))
    customer = repo.get_customer(session, demo.DEMO_EN)
    assert customer is not None
    assert repo.refund_requests_of(session, customer.id)[0].id == mine.id


def test_changes_made_in_chat_are_filed(session: Session) -> None:
    subscription = active_subscription(session)
    row = repo.record_change(
        session,
        subscription.customer_id,
        kind="pause_subscription",
        detail="S02 paused until 2025-07-01",
        at=NOW,
        subscription_id=subscription.id,
        sender_id="conv-1",
        language="xx",
    )
    assert (row.status, row.decided_by, row.decided_at) == ("approved", "bot", NOW)
    assert row.language is None  # an unknown language is not stored
    with pytest.raises(ValueError):
        repo.record_change(
            session, subscription.customer_id, kind="drop_tables", detail="x", at=NOW
        )
    with pytest.raises(ValueError):
        repo.record_change(
            session, subscription.customer_id, kind="pause_subscription", detail=" ", at=NOW
        )
    asked = repo.record_change(
        session,
        subscription.customer_id,
        kind="cancel_subscription",
        detail="x",
        at=NOW,
        done=False,
    )
    assert asked.status == "open" and asked.decided_at is None
    decided = repo.decide_change(session, asked.id, approve=False, note="no", by="ada", at=NOW)
    assert decided.status == "rejected"
    with pytest.raises(repo.AlreadyDecidedError):
        repo.decide_change(session, asked.id, approve=True, note="", by="ada", at=NOW)
    assert session.get(ChangeRequest, row.id) is row


def test_a_reason_is_stored_without_control_characters(session: Session) -> None:
    customer = repo.get_customer(session, demo.DEMO_ZH)
    assert customer is not None
    request = repo.create_refund_request(
        session, customer.id, order_id=None, reason="\x00坏了\ud800\x1b" + "x" * 5000, at=NOW
    )
    assert request.reason.startswith("坏了x") and "\x00" not in request.reason
    assert len(request.reason) == repo.refunds.MAX_REASON_CHARS
    with pytest.raises(ValueError):
        repo.create_refund_request(session, customer.id, order_id=None, reason="\x00 \x07", at=NOW)
