"""What the bot says it did is what was stored: accepted offers, pauses, cancellations.

An accepted retention offer becomes a ``discount`` subscription event (the price of the
next renewals and the date the regular price returns); the reply is rendered from the
domain the way Rasa renders it and compared with the stored rows. Every change the bot
makes is filed for the founder's "Requests" queue.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.subscription import (
    PENDING_OFFER,
    ActionCancelSubscription,
    ActionConfirm,
    ActionPauseSubscription,
)
from analytics.brain.offers import OFFER_TERMS
from analytics.demo.customers import DEMO_EN, DEMO_VIP_AT_RISK
from analytics.store import repositories as repo
from analytics.store.models import (
    ChangeRequest,
    Customer,
    RetentionOfferRecord,
    Subscription,
    SubscriptionEvent,
)
from analytics.store.repositories.subscriptions import RENEWAL_PERIOD
from tests.actions.conftest import MakeTracker, responses, slot_values
from tests.actions.domain import DOMAIN, rendered
from tests.actions.test_brain import VIP, store_score


def subscription_of(session: Session, external_id: str) -> Subscription:
    session.rollback()
    customer = session.scalars(select(Customer).where(Customer.external_id == external_id)).one()
    found = session.scalars(
        select(Subscription)
        .where(Subscription.customer_id == customer.id)
        .order_by(Subscription.started_at.desc())
    ).first()
    assert found is not None
    return found


def accept_offer(
    session: Session,
    make_tracker: MakeTracker,
    dispatcher: CollectingDispatcher,
    customer: str,
    language: str,
) -> None:
    asked = ActionCancelSubscription().run(
        dispatcher, make_tracker("cancel", customer=customer, slots={"language": language}), DOMAIN
    )
    assert slot_values(asked)["pending_action"] == PENDING_OFFER
    tracker = make_tracker(
        "yes",
        intent="affirm",
        customer=customer,
        slots={**slot_values(asked), "language": language},
    )
    ActionConfirm().run(dispatcher, tracker, DOMAIN)
    assert responses(dispatcher)[-1] == "utter_offer_accepted"


@pytest.mark.parametrize(
    ("score", "kind"),
    [(VIP, "free_month"), ({**VIP, "clv_cents": 80_000}, "discount_3_boxes")],
)
@pytest.mark.parametrize("language", ["en", "zh"])
def test_an_accepted_offer_changes_the_next_renewals_as_the_bot_says(
    store: str,
    session: Session,
    make_tracker: MakeTracker,
    dispatcher: CollectingDispatcher,
    score: dict,
    kind: str,
    language: str,
) -> None:
    store_score(session, DEMO_VIP_AT_RISK, **score)
    before = subscription_of(session, DEMO_VIP_AT_RISK)
    regular = before.price_cents
    next_renewal = before.next_renewal_at or before.paused_until
    accept_offer(session, make_tracker, dispatcher, DEMO_VIP_AT_RISK, language)

    subscription = subscription_of(session, DEMO_VIP_AT_RISK)
    assert subscription.status in ("active", "paused")  # kept, not cancelled
    assert subscription.price_cents == regular  # the regular price is unchanged
    [discount] = [e for e in subscription.events if e.kind == "discount"]
    terms = OFFER_TERMS[kind]
    assert discount.price_cents == regular * (100 - terms.percent_off) // 100
    [offer] = session.scalars(select(RetentionOfferRecord)).all()
    assert (offer.kind, offer.outcome) == (kind, "accepted")
    assert offer.resolved_at is not None and next_renewal is not None
    assert discount.at == max(next_renewal, offer.resolved_at)  # from the next renewal
    assert discount.ends_at == discount.at + terms.boxes * RENEWAL_PERIOD

    # what the customer read is what was stored
    text = rendered(dispatcher.messages[-1], language)
    price = f"¥{discount.price_cents // 100}"
    assert price in text and f"¥{regular // 100}" in text
    assert f"{terms.boxes} " in text
    assert discount.at.strftime("%Y-%m-%d") in text
    assert discount.ends_at.strftime("%Y-%m-%d") in text

    # the renewals: discounted until ends_at, then the regular price returns
    assert repo.price_for_renewal(session, subscription, discount.at) == discount.price_cents
    last = discount.at + (terms.boxes - 1) * RENEWAL_PERIOD
    assert repo.price_for_renewal(session, subscription, last) == discount.price_cents
    assert repo.price_for_renewal(session, subscription, discount.ends_at) == regular
    assert repo.price_for_renewal(session, subscription, discount.at - timedelta(days=1)) == regular

    # filed for the founder's queue, approved by the bot, with what was stored
    [change] = session.scalars(select(ChangeRequest)).all()
    assert (change.kind, change.status, change.decided_by) == ("retention_offer", "approved", "bot")
    assert str(discount.price_cents) in change.detail and change.sender_id == "test-sender"


def test_renewals_charge_the_discounted_price_then_the_regular_one(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    store_score(session, DEMO_EN, **{**VIP, "clv_cents": 80_000})
    accept_offer(session, make_tracker, dispatcher, DEMO_EN, "en")
    subscription = subscription_of(session, DEMO_EN)
    assert subscription.status == "active" and subscription.next_renewal_at is not None
    charged = []
    for _ in range(4):
        charged.append(
            repo.renew_subscription(session, subscription, at=subscription.next_renewal_at)
        )
    session.commit()
    regular = subscription.price_cents
    discounted = (regular * 80 + 50) // 100
    assert [e.price_cents for e in charged] == [discounted] * 3 + [regular]


def test_no_second_offer_while_a_discount_runs(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    store_score(session, DEMO_EN, **VIP)
    accept_offer(session, make_tracker, dispatcher, DEMO_EN, "en")
    session.rollback()
    for record in session.scalars(select(RetentionOfferRecord)):
        record.offered_at -= timedelta(days=365)  # past the cool-down
    session.commit()
    ActionCancelSubscription().run(dispatcher, make_tracker("cancel", customer=DEMO_EN), DOMAIN)
    assert responses(dispatcher)[-1] == "utter_confirm_cancel"  # no offer this time
    subscription = subscription_of(session, DEMO_EN)
    assert len([e for e in subscription.events if e.kind == "discount"]) == 1


def test_a_pause_says_the_stored_date_and_is_filed(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    asked = ActionPauseSubscription().run(
        dispatcher, make_tracker("pause", customer=DEMO_EN, slots={"language": "en"}), DOMAIN
    )
    tracker = make_tracker(
        "yes", intent="affirm", customer=DEMO_EN, slots={**slot_values(asked), "language": "en"}
    )
    ActionConfirm().run(dispatcher, tracker, DOMAIN)
    assert responses(dispatcher)[-1] == "utter_subscription_paused"
    subscription = subscription_of(session, DEMO_EN)
    assert subscription.status == "paused" and subscription.paused_until is not None
    until = subscription.paused_until.strftime("%Y-%m-%d")
    assert until in rendered(dispatcher.messages[-1], "en")
    [event] = [e for e in subscription.events if e.kind == "pause"]
    assert isinstance(event, SubscriptionEvent)
    [change] = session.scalars(select(ChangeRequest)).all()
    assert change.kind == "pause_subscription" and until in change.detail
    assert change.language == "en"


def test_a_cancellation_is_filed(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    asked = ActionCancelSubscription().run(
        dispatcher, make_tracker("cancel", customer=DEMO_EN), DOMAIN
    )
    tracker = make_tracker("yes", intent="affirm", customer=DEMO_EN, slots=slot_values(asked))
    ActionConfirm().run(dispatcher, tracker, DOMAIN)
    session.rollback()
    [change] = session.scalars(select(ChangeRequest)).all()
    assert (change.kind, change.status) == ("cancel_subscription", "approved")
