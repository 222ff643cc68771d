"""Cancelling and pausing with a confirmation step, on the real store."""

from __future__ import annotations

from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.subscription import (
    PENDING_CANCEL,
    PENDING_PAUSE,
    ActionCancelSubscription,
    ActionConfirm,
    ActionDecline,
    ActionPauseSubscription,
)
from analytics.demo.customers import DEMO_EN, DEMO_NEW, DEMO_ZH
from analytics.store.models import Customer, Subscription
from tests.actions.conftest import MakeTracker, pending_slots, responses, slot_values
from tests.actions.domain import DOMAIN


def subscription_of(session: Session, external_id: str) -> Subscription:
    customer = session.scalars(select(Customer).where(Customer.external_id == external_id)).one()
    session.rollback()  # a fresh snapshot: see what the action committed
    return session.scalars(
        select(Subscription)
        .where(Subscription.customer_id == customer.id)
        .order_by(Subscription.started_at.desc())
    ).first()


def pending(events: list[dict]) -> object:
    [value] = [e["value"] for e in events if e["event"] == "slot" and e["name"] == "pending_action"]
    return value


def test_cancel_asks_first_and_changes_nothing(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    events = ActionCancelSubscription().run(
        dispatcher, make_tracker("取消订阅", customer=DEMO_ZH), DOMAIN
    )
    assert responses(dispatcher) == ["utter_confirm_cancel"]
    assert pending(events) == PENDING_CANCEL
    assert slot_values(events)["pending_customer_id"] == DEMO_ZH  # bound to who asked
    assert subscription_of(session, DEMO_ZH).status == "active"


def test_confirming_cancels_for_real(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    asked = ActionCancelSubscription().run(
        dispatcher, make_tracker("取消", customer=DEMO_ZH), DOMAIN
    )
    tracker = make_tracker("/affirm", intent="affirm", customer=DEMO_ZH, slots=slot_values(asked))
    events = ActionConfirm().run(dispatcher, tracker, DOMAIN)
    assert responses(dispatcher) == ["utter_confirm_cancel", "utter_subscription_canceled"]
    assert slot_values(events) == {
        "pending_action": None,
        "pending_customer_id": None,
        "pending_at": None,
        "pending_detail": None,
    }
    subscription = subscription_of(session, DEMO_ZH)
    assert subscription.status == "canceled" and subscription.canceled_at is not None


def test_declining_keeps_the_subscription(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    tracker = make_tracker(
        "no", intent="deny", customer=DEMO_EN, slots=pending_slots(PENDING_CANCEL, DEMO_EN)
    )
    ActionDecline().run(dispatcher, tracker, DOMAIN)
    assert responses(dispatcher) == ["utter_cancel_kept"]
    assert subscription_of(session, DEMO_EN).status == "active"


def test_pause_then_confirm(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    events = ActionPauseSubscription().run(
        dispatcher, make_tracker("pause", customer=DEMO_EN), DOMAIN
    )
    assert pending(events) == PENDING_PAUSE and responses(dispatcher) == ["utter_confirm_pause"]
    tracker = make_tracker("yes", intent="affirm", customer=DEMO_EN, slots=slot_values(events))
    ActionConfirm().run(dispatcher, tracker, DOMAIN)
    assert responses(dispatcher)[-1] == "utter_subscription_paused"
    subscription = subscription_of(session, DEMO_EN)
    assert subscription.status == "paused" and subscription.paused_until is not None


def test_affirm_with_nothing_pending_changes_nothing(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    ActionConfirm().run(dispatcher, make_tracker("yes", intent="affirm", customer=DEMO_ZH), DOMAIN)
    assert responses(dispatcher) == ["utter_nothing_pending"]
    assert subscription_of(session, DEMO_ZH).status == "active"


def test_confirm_from_an_anonymous_message_does_not_cancel(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    tracker = make_tracker("yes", intent="affirm", slots=pending_slots(PENDING_CANCEL, DEMO_ZH))
    events = ActionConfirm().run(dispatcher, tracker, DOMAIN)
    assert responses(dispatcher) == ["utter_confirmation_other_customer"]
    assert slot_values(events)["pending_action"] is None
    assert subscription_of(session, DEMO_ZH).status == "active"


def test_customer_without_subscription(
    store: str, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    ActionCancelSubscription().run(dispatcher, make_tracker("cancel", customer=DEMO_NEW), DOMAIN)
    assert responses(dispatcher) == ["utter_no_subscription"]
