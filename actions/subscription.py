"""Cancelling and pausing the subscription box, with a confirmation step.

The question the bot is waiting on lives in the ``pending_action`` slot:
``cancel_subscription``, ``pause_subscription``, ``retention_offer``,
``refund_request`` (:mod:`actions.refunds`) or ``account_change``
(:mod:`actions.changes`), bound to the customer who was asked and to
the time of asking (:mod:`actions.pending`). ``action_confirm`` (affirm) and
``action_decline`` (deny) resolve it, but only for that same verified customer and
within the allowed time.

What is confirmed is carried out and said from what was stored: an accepted offer
becomes a ``discount`` subscription event (:func:`analytics.brain.offers.accept_offer`)
and the reply quotes its price, number of boxes and end date; a pause quotes the stored
``paused_until``. Each change is also filed for the founder's "Requests" queue
(:func:`analytics.store.repositories.record_change`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from rasa_sdk.events import EventType

from actions import brain, pending
from actions import formatting as fmt
from actions.account import plan_name
from actions.base import ShopAction, Turn
from actions.changes import PENDING_ACCOUNT_CHANGE, file_account_change
from actions.refunds import PENDING_REFUND, file_refund
from analytics.brain import offers
from analytics.brain.offers import (
    OFFER_DISCOUNT_3_BOXES,
    OFFER_DISCOUNT_NEXT_ORDER,
    OFFER_FREE_MONTH,
    choose_retention_offer,
)
from analytics.store import repositories as repo
from analytics.store.models import (
    CHANGE_CANCEL,
    CHANGE_OFFER,
    CHANGE_PAUSE,
    SUB_PAUSED,
    Subscription,
    SubscriptionEvent,
)
from analytics.store.repositories.subscriptions import RENEWAL_PERIOD

logger = logging.getLogger(__name__)

PENDING_CANCEL = "cancel_subscription"
PENDING_PAUSE = "pause_subscription"
PENDING_OFFER = "retention_offer"
PAUSE_DAYS = 30
CANCEL_REASON_CHAT = "cancelled in chat"
#: retention offer kind (:data:`analytics.brain.offers.OFFERS`) -> the response making it.
OFFER_RESPONSES: dict[str, str] = {
    OFFER_FREE_MONTH: "utter_retention_offer_free_month",
    OFFER_DISCOUNT_3_BOXES: "utter_retention_offer_discount_3_boxes",
    OFFER_DISCOUNT_NEXT_ORDER: "utter_retention_offer_discount_next_order",
}


def now() -> datetime:
    """The current time (UTC)."""
    return datetime.now(UTC)


def clear_pending() -> list[EventType]:
    """The events that forget any pending confirmation."""
    return pending.clear()


def file_change(turn: Turn, subscription: Subscription, kind: str, detail: str) -> None:
    """Files a change the bot just made for the founder's "Requests" queue."""
    assert turn.customer is not None
    repo.record_change(
        turn.session,
        turn.customer.id,
        kind=kind,
        detail=detail,
        at=now(),
        subscription_id=subscription.id,
        sender_id=turn.sender_id,
        language=turn.language,
    )


def do_cancel(turn: Turn, subscription: Subscription, *, open_offer: bool) -> list[EventType]:
    """Cancels for real (declining the open offer, if any) and tells the customer."""
    if open_offer:
        offers.resolve_offer(turn.session, subscription, accepted=False, at=now())
    repo.cancel_subscription(turn.session, subscription, reason=CANCEL_REASON_CHAT, at=now())
    file_change(turn, subscription, CHANGE_CANCEL, f"{subscription.plan} canceled")
    turn.say("utter_subscription_canceled", plan=plan_name(turn, subscription))
    return clear_pending()


def do_pause(turn: Turn, subscription: Subscription) -> list[EventType]:
    """Pauses for :data:`PAUSE_DAYS` and tells the customer the stored end date."""
    repo.pause_subscription(
        turn.session, subscription, until=now() + timedelta(days=PAUSE_DAYS), at=now()
    )
    until = fmt.day(subscription.paused_until, turn.phrases)
    file_change(turn, subscription, CHANGE_PAUSE, f"{subscription.plan} paused until {until}")
    turn.say("utter_subscription_paused", plan=plan_name(turn, subscription), until=until)
    return clear_pending()


def offer_accepted_values(
    turn: Turn, subscription: Subscription, discount: SubscriptionEvent
) -> dict[str, str]:
    """The values of ``utter_offer_accepted``, all read from the stored discount."""
    assert discount.ends_at is not None and discount.price_cents is not None
    boxes = round((discount.ends_at - discount.at) / RENEWAL_PERIOD)
    return {
        "plan": plan_name(turn, subscription),
        "price": fmt.money(discount.price_cents),
        "regular_price": fmt.money(subscription.price_cents),
        "boxes": str(boxes),
        "first": fmt.day(discount.at, turn.phrases),
        "until": fmt.day(discount.ends_at, turn.phrases),
    }


def do_accept_offer(turn: Turn, subscription: Subscription) -> list[EventType]:
    """Applies the accepted offer and tells the customer exactly what was stored."""
    applied = offers.accept_offer(turn.session, subscription, at=now())
    if applied is None:
        turn.say("utter_nothing_pending")
        return clear_pending()
    record, discount = applied
    values = offer_accepted_values(turn, subscription, discount)
    file_change(
        turn,
        subscription,
        CHANGE_OFFER,
        f"{record.kind}: {discount.price_cents} cents per box instead of "
        f"{subscription.price_cents} for {values['boxes']} box(es), "
        f"renewals from {values['first']} until {values['until']}",
    )
    turn.say("utter_offer_accepted", **values)
    return clear_pending()


def subscription_or_say(turn: Turn) -> Subscription | None:
    """The customer's current (active or paused) subscription.

    Tells a signed-in customer without one that there is nothing to change, and
    an anonymous one to sign in.
    """
    if turn.customer is None:
        turn.say("utter_ask_sign_in")
        return None
    subscription = repo.current_subscription(turn.session, turn.customer.id)
    if subscription is None:
        turn.say("utter_no_subscription")
    return subscription


class ActionCancelSubscription(ShopAction):
    """Asks to confirm a cancellation (or makes a retention offer first)."""

    requires_customer = True

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_cancel_subscription"

    def act(self, turn: Turn) -> list[EventType]:
        """Starts (or, if they insist after an offer, completes) the cancellation."""
        subscription = subscription_or_say(turn)
        if subscription is None:
            return clear_pending()
        offered = pending.pending_kind(turn.tracker) == PENDING_OFFER
        if offered and pending.standing(turn) is pending.Standing.VALID:
            # asked to cancel again after the offer: they insist
            return do_cancel(turn, subscription, open_offer=True)
        plan = plan_name(turn, subscription)
        offer = retention_offer_response(turn, subscription)
        if offer is not None:
            turn.say(offer, plan=plan)
            return pending.ask(turn, PENDING_OFFER)
        turn.say("utter_confirm_cancel", plan=plan)
        return pending.ask(turn, PENDING_CANCEL)


def retention_offer_response(turn: Turn, subscription: Subscription) -> str | None:
    """Makes (and records) the brain's retention offer, if it has one.

    Only high-value, high-risk customers get one (see
    :func:`analytics.brain.offers.choose_retention_offer`), and never twice within the
    cool-down, so a customer who insists can always cancel.

    Returns:
        The response that makes the offer (one per offer kind), or None.
    """
    assert turn.customer is not None
    live = brain.live_risk_of(turn.session, turn.customer)
    offer = choose_retention_offer(
        brain.scores_of(turn.session, turn.customer),
        turn.customer,
        live_risk=live.score if live is not None else None,
    )
    if offer is None or offers.recently_offered(turn.session, subscription, now()):
        return None
    if repo.running_discount(turn.session, subscription, now()) is not None:
        return None  # one discount at a time: the one running is not replaced
    response = OFFER_RESPONSES.get(offer.kind)
    if response is None:
        logger.warning("No response makes the retention offer %r; not offered", offer.kind)
        return None
    offers.record_offer(
        turn.session, subscription, kind=offer.kind, sender_id=turn.sender_id, at=now()
    )
    return response


class ActionPauseSubscription(ShopAction):
    """Asks to confirm pausing the subscription for a month."""

    requires_customer = True

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_pause_subscription"

    def act(self, turn: Turn) -> list[EventType]:
        """Checks the subscription can be paused and asks for confirmation."""
        subscription = subscription_or_say(turn)
        if subscription is None:
            return clear_pending()
        plan = plan_name(turn, subscription)
        if subscription.status == SUB_PAUSED:
            turn.say(
                "utter_already_paused",
                plan=plan,
                until=fmt.day(subscription.paused_until, turn.phrases),
            )
            return clear_pending()
        until = now() + timedelta(days=PAUSE_DAYS)
        turn.say("utter_confirm_pause", plan=plan, until=fmt.day(until, turn.phrases))
        return pending.ask(turn, PENDING_PAUSE)


class ActionConfirm(ShopAction):
    """The customer said yes: carry out what was pending."""

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_confirm"

    def act(self, turn: Turn) -> list[EventType]:
        """Cancels, pauses, or applies the accepted offer (for the customer who was asked)."""
        kind = pending.pending_kind(turn.tracker)
        state = pending.standing(turn)
        if state is pending.Standing.NONE:
            turn.say("utter_nothing_pending")
            return []
        if state is not pending.Standing.VALID:
            return pending.refuse(turn, state)
        if kind == PENDING_REFUND:
            return file_refund(turn)
        if kind == PENDING_ACCOUNT_CHANGE:
            return file_account_change(turn)
        subscription = subscription_or_say(turn)
        if subscription is None:
            return clear_pending()
        if kind == PENDING_CANCEL:
            return do_cancel(turn, subscription, open_offer=False)
        if kind == PENDING_PAUSE:
            return do_pause(turn, subscription)
        if kind == PENDING_OFFER:
            return do_accept_offer(turn, subscription)
        logger.warning("Unknown pending action %r", kind)
        turn.say("utter_nothing_pending")
        return clear_pending()


class ActionDecline(ShopAction):
    """The customer said no: keep things as they are (or cancel anyway)."""

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_decline"

    def act(self, turn: Turn) -> list[EventType]:
        """Declining an offer means cancel anyway; declining a question keeps things."""
        kind = pending.pending_kind(turn.tracker)
        state = pending.standing(turn)
        if state is pending.Standing.NONE:
            turn.say("utter_nothing_pending")
            return clear_pending()
        if state is not pending.Standing.VALID:
            return pending.refuse(turn, state)
        if kind in (PENDING_REFUND, PENDING_ACCOUNT_CHANGE):
            turn.say("utter_request_not_filed")
            return clear_pending()
        subscription = subscription_or_say(turn)
        if subscription is None:
            return clear_pending()
        if kind == PENDING_OFFER:
            return do_cancel(turn, subscription, open_offer=True)
        if kind == PENDING_CANCEL:
            turn.say("utter_cancel_kept", plan=plan_name(turn, subscription))
            return clear_pending()
        turn.say("utter_nothing_pending")
        return clear_pending()
