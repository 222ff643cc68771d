"""Pending confirmations are bound to the customer who was asked, and expire.

One Rasa sender id can carry messages verified as different customers (a shared
computer, a hostile page replaying a sender id): a "yes" counts only from the verified
customer who was asked, within ``PENDING_CONFIRMATION_SECONDS``, in the same session.
"""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions import settings as action_settings
from actions.session import ActionSessionStart
from actions.subscription import (
    PENDING_CANCEL,
    PENDING_OFFER,
    ActionCancelSubscription,
    ActionConfirm,
    ActionDecline,
    ActionPauseSubscription,
)
from analytics.demo.customers import DEMO_EN, DEMO_VIP_AT_RISK, DEMO_ZH
from analytics.store.models import RetentionOfferRecord
from tests.actions.conftest import MakeTracker, pending_slots, responses, slot_values
from tests.actions.domain import DOMAIN
from tests.actions.test_brain import VIP, store_score, subscription_status

SENDER = "shared-sender"
CLEARED = {
    "pending_action": None,
    "pending_customer_id": None,
    "pending_at": None,
    "pending_detail": None,
}


def statuses(session: Session) -> tuple[str, str]:
    return subscription_status(session, DEMO_ZH), subscription_status(session, DEMO_EN)


def ask_as(customer: str, action: Any, make_tracker: MakeTracker, dispatcher: Any) -> dict:
    events = action().run(
        dispatcher, make_tracker("cancel", customer=customer, sender=SENDER), DOMAIN
    )
    return slot_values(events)


@pytest.mark.parametrize("answer", [ActionConfirm, ActionDecline], ids=["yes", "no"])
@pytest.mark.parametrize("question", [ActionCancelSubscription, ActionPauseSubscription])
def test_another_verified_customer_cannot_answer(
    question: Any,
    answer: Any,
    store: str,
    session: Session,
    make_tracker: MakeTracker,
    dispatcher: CollectingDispatcher,
) -> None:
    asked = ask_as(DEMO_ZH, question, make_tracker, dispatcher)
    assert asked["pending_customer_id"] == DEMO_ZH
    tracker = make_tracker("yes", intent="affirm", customer=DEMO_EN, sender=SENDER, slots=asked)
    events = answer().run(dispatcher, tracker, DOMAIN)
    assert responses(dispatcher)[-1] == "utter_confirmation_other_customer"
    assert slot_values(events) == CLEARED
    assert statuses(session) == ("active", "active")  # nothing applied to A or B
    # and the question is gone for A too
    later = make_tracker("yes", intent="affirm", customer=DEMO_ZH, sender=SENDER, slots=CLEARED)
    ActionConfirm().run(dispatcher, later, DOMAIN)
    assert responses(dispatcher)[-1] == "utter_nothing_pending"
    assert statuses(session) == ("active", "active")


def test_forged_claims_cannot_answer(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    asked = ask_as(DEMO_ZH, ActionCancelSubscription, make_tracker, dispatcher)
    tracker = make_tracker("是的", intent="affirm", customer=DEMO_ZH, forged=True, slots=asked)
    ActionConfirm().run(dispatcher, tracker, DOMAIN)
    assert responses(dispatcher)[-1] == "utter_confirmation_other_customer"
    assert subscription_status(session, DEMO_ZH) == "active"


def test_declining_someone_elses_offer_cancels_nothing(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    store_score(session, DEMO_VIP_AT_RISK, **VIP)
    asked = ask_as(DEMO_VIP_AT_RISK, ActionCancelSubscription, make_tracker, dispatcher)
    assert asked["pending_action"] == PENDING_OFFER
    for action in (ActionDecline, ActionCancelSubscription):  # "no" = cancel anyway; "cancel!"
        tracker = make_tracker("cancel", customer=DEMO_EN, sender=SENDER, slots=asked)
        events = action().run(dispatcher, tracker, DOMAIN)
        assert subscription_status(session, DEMO_VIP_AT_RISK) != "canceled"
        assert subscription_status(session, DEMO_EN) == "active"
    # asking to cancel starts B's own question, bound to B
    assert responses(dispatcher)[-1] == "utter_confirm_cancel"
    assert slot_values(events)["pending_customer_id"] == DEMO_EN
    assert session.scalars(select(RetentionOfferRecord.outcome)).all() == ["offered"]  # open


@pytest.mark.parametrize("age_seconds", [11 * 60, -11 * 60])
def test_a_stale_question_cannot_be_answered(
    age_seconds: int,
    store: str,
    session: Session,
    make_tracker: MakeTracker,
    dispatcher: CollectingDispatcher,
) -> None:
    slots = pending_slots(PENDING_CANCEL, DEMO_ZH, age_seconds=age_seconds)
    tracker = make_tracker("yes", intent="affirm", customer=DEMO_ZH, slots=slots)
    events = ActionConfirm().run(dispatcher, tracker, DOMAIN)
    assert responses(dispatcher) == ["utter_confirmation_expired"]
    assert slot_values(events) == CLEARED
    assert subscription_status(session, DEMO_ZH) == "active"


@pytest.mark.parametrize("at", [None, "yesterday", float("nan"), True])
def test_a_question_without_a_valid_time_is_stale(
    at: Any,
    store: str,
    session: Session,
    make_tracker: MakeTracker,
    dispatcher: CollectingDispatcher,
) -> None:
    slots = {**pending_slots(PENDING_CANCEL, DEMO_ZH), "pending_at": at}
    tracker = make_tracker("yes", intent="affirm", customer=DEMO_ZH, slots=slots)
    ActionConfirm().run(dispatcher, tracker, DOMAIN)
    assert responses(dispatcher) == ["utter_confirmation_expired"]
    assert subscription_status(session, DEMO_ZH) == "active"


def test_the_time_limit_is_a_setting(
    store: str,
    session: Session,
    make_tracker: MakeTracker,
    dispatcher: CollectingDispatcher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PENDING_CONFIRMATION_SECONDS", "5")
    action_settings.get_settings.cache_clear()
    stale = pending_slots(PENDING_CANCEL, DEMO_ZH, age_seconds=8)
    ActionConfirm().run(
        dispatcher, make_tracker("y", intent="affirm", customer=DEMO_ZH, slots=stale), DOMAIN
    )
    assert responses(dispatcher) == ["utter_confirmation_expired"]
    fresh = pending_slots(PENDING_CANCEL, DEMO_ZH, age_seconds=2)
    ActionConfirm().run(
        dispatcher, make_tracker("y", intent="affirm", customer=DEMO_ZH, slots=fresh), DOMAIN
    )
    assert responses(dispatcher)[-1] == "utter_subscription_canceled"
    assert subscription_status(session, DEMO_ZH) == "canceled"


def test_a_new_session_forgets_the_question(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    asked = ask_as(DEMO_ZH, ActionCancelSubscription, make_tracker, dispatcher)
    before = make_tracker("", customer=DEMO_ZH, sender=SENDER, slots={**asked, "language": "en"})
    started = ActionSessionStart().run(dispatcher, before, DOMAIN)
    assert [e["event"] for e in started] == ["session_started", "slot", "action"]
    carried = slot_values(started)
    assert carried == {"language": "en"}  # the reply language and nothing else
    assert started[-1]["name"] == "action_listen"
    # a new session starts from the domain's initial slots plus what was carried
    tracker = make_tracker(
        "yes", intent="affirm", customer=DEMO_ZH, sender=SENDER, slots={**CLEARED, **carried}
    )
    ActionConfirm().run(dispatcher, tracker, DOMAIN)
    assert responses(dispatcher)[-1] == "utter_nothing_pending"
    assert subscription_status(session, DEMO_ZH) == "active"


def test_the_customer_who_asked_can_still_confirm(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    asked = ask_as(DEMO_ZH, ActionCancelSubscription, make_tracker, dispatcher)
    tracker = make_tracker("好的", intent="affirm", customer=DEMO_ZH, sender=SENDER, slots=asked)
    assert slot_values(ActionConfirm().run(dispatcher, tracker, DOMAIN)) == CLEARED
    assert responses(dispatcher) == ["utter_confirm_cancel", "utter_subscription_canceled"]
    assert statuses(session) == ("canceled", "active")
