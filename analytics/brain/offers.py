"""Retention offers made by the bot before a cancellation, and what came of them.

Each offer is recorded when made (``offered``) and resolved when the customer
answers (``accepted`` keeps the subscription, ``declined`` lets the cancellation
go through). The record keeps the bot from offering twice in a row and tells the
founder (and the churn model) how well offers work.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.brain.health import STAGE_CHURN
from analytics.core.vocabulary import (
    RISK_HIGH,
    SEGMENT_AT_RISK,
    SEGMENT_CHAMPIONS,
    SEGMENT_LOYAL,
)
from analytics.store import repositories as repo
from analytics.store.models import (
    OFFER_COOLDOWN,
    OUTCOME_ACCEPTED,
    OUTCOME_DECLINED,
    OUTCOME_OFFERED,
    SUB_ACTIVE,
    SUB_PAUSED,
    Customer,
    CustomerScore,
    RetentionOfferRecord,
    Subscription,
    SubscriptionEvent,
)

logger = logging.getLogger(__name__)


def recently_offered(session: Session, subscription: Subscription, at: datetime) -> bool:
    """Whether this subscription got an offer within :data:`OFFER_COOLDOWN` before ``at``."""
    since = at - OFFER_COOLDOWN
    found = session.scalars(
        select(RetentionOfferRecord.id).where(
            RetentionOfferRecord.subscription_id == subscription.id,
            RetentionOfferRecord.offered_at >= since,
        )
    ).first()
    return found is not None


def record_offer(
    session: Session, subscription: Subscription, *, kind: str, sender_id: str, at: datetime
) -> RetentionOfferRecord:
    """Records an offer just made to the subscription's customer."""
    record = RetentionOfferRecord(
        customer_id=subscription.customer_id,
        subscription_id=subscription.id,
        kind=kind,
        sender_id=sender_id,
        offered_at=at,
        outcome=OUTCOME_OFFERED,
    )
    session.add(record)
    session.flush()
    return record


def resolve_offer(
    session: Session, subscription: Subscription, *, accepted: bool, at: datetime
) -> RetentionOfferRecord | None:
    """Marks the subscription's open offer accepted or declined.

    Returns:
        The resolved record, or None when there was no open offer.
    """
    record = session.scalars(
        select(RetentionOfferRecord)
        .where(
            RetentionOfferRecord.subscription_id == subscription.id,
            RetentionOfferRecord.outcome == OUTCOME_OFFERED,
        )
        .order_by(RetentionOfferRecord.offered_at.desc())
    ).first()
    if record is None:
        logger.warning("No open retention offer for subscription %s", subscription.id)
        return None
    record.outcome = OUTCOME_ACCEPTED if accepted else OUTCOME_DECLINED
    record.resolved_at = at
    session.flush()
    return record


def accept_offer(
    session: Session, subscription: Subscription, *, at: datetime
) -> tuple[RetentionOfferRecord, SubscriptionEvent] | None:
    """Marks the subscription's open offer accepted and applies its terms.

    The terms (:data:`OFFER_TERMS`) become a ``discount`` subscription event: the price
    of the next renewals and the date the regular price returns
    (:func:`analytics.store.repositories.apply_discount`).

    Returns:
        The resolved offer and the discount event, or None when there was no open offer.

    Raises:
        ValueError: When the subscription cannot take the discount (canceled, or another
            discount still running); nothing is changed then.
    """
    record = resolve_offer(session, subscription, accepted=True, at=at)
    if record is None:
        return None
    terms = OFFER_TERMS[record.kind]
    event = repo.apply_discount(
        session,
        subscription,
        percent_off=terms.percent_off,
        boxes=terms.boxes,
        at=at,
        note=f"retention offer {record.kind} (#{record.id})",
    )
    return record, event


# --- which offer, if any, before a cancellation goes through ---------------------------


HIGH_VALUE_CENTS = 50_000
"""Lifetime value (CNY cents) from which a customer counts as high value."""


VIP_VALUE_CENTS = 150_000
"""Lifetime value above which the bigger offer (a free month) is made."""


FRICTION_SUPPORT_MAX = 50.0
"""Support component (0-100) at or below which service friction counts as risk."""


HIGH_VALUE_SEGMENTS = frozenset({SEGMENT_CHAMPIONS, SEGMENT_LOYAL, SEGMENT_AT_RISK})


@dataclass(frozen=True)
class RetentionOffer:
    """An offer the bot may make before a cancellation goes through.

    Only the kind is decided here; what the customer reads is the domain response
    ``utter_retention_offer_<kind>`` (``bot/domain/subscription.yml``, zh and en), which never
    mentions scores, risk or value.
    """

    kind: str  # OFFER_FREE_MONTH | OFFER_DISCOUNT_3_BOXES | OFFER_DISCOUNT_NEXT_ORDER


OFFER_FREE_MONTH = "free_month"
OFFER_DISCOUNT_3_BOXES = "discount_3_boxes"
OFFER_DISCOUNT_NEXT_ORDER = "discount_next_order"


@dataclass(frozen=True)
class OfferTerms:
    """What an accepted offer does to the subscription: ``percent_off`` the next ``boxes``."""

    percent_off: int
    boxes: int


OFFER_TERMS: dict[str, OfferTerms] = {
    OFFER_FREE_MONTH: OfferTerms(percent_off=100, boxes=1),
    OFFER_DISCOUNT_3_BOXES: OfferTerms(percent_off=20, boxes=3),
    OFFER_DISCOUNT_NEXT_ORDER: OfferTerms(percent_off=20, boxes=1),
}
"""Every offer kind's terms, applied by :func:`accept_offer` (the responses say the same)."""


OFFERS: dict[str, RetentionOffer] = {
    kind: RetentionOffer(kind)
    for kind in (OFFER_FREE_MONTH, OFFER_DISCOUNT_3_BOXES, OFFER_DISCOUNT_NEXT_ORDER)
}
"""Every offer kind; each has a ``utter_retention_offer_<kind>`` response in the domain."""


def _has_live_subscription(customer: Any) -> bool:
    subs = getattr(customer, "subscriptions", None) or []
    return any(getattr(s, "status", None) in (SUB_ACTIVE, SUB_PAUSED) for s in subs)


def choose_retention_offer(
    score: CustomerScore | None,
    customer: Customer | Any,
    *,
    high_risk: float = RISK_HIGH,
    high_value_cents: int = HIGH_VALUE_CENTS,
    vip_value_cents: int = VIP_VALUE_CENTS,
    friction_support_max: float = FRICTION_SUPPORT_MAX,
    live_risk: float | None = None,
) -> RetentionOffer | None:
    """Pick a retention offer for a high-value, high-risk customer, else ``None``.

    Value: CLV at least ``high_value_cents`` or a Champions / Loyal / At-risk segment.
    Risk: churn probability at least ``high_risk``, or the churn lifecycle stage, or service
    friction (support component of the health score at most ``friction_support_max``, i.e.
    complaints, refunds, late deliveries or handoffs lately). Friction counts as risk because
    the churn model predicts "no purchase in 90 days" and cannot see a cancellation in
    progress: an unhappy VIP asking to cancel is exactly who the offer is for.

    Offer: subscribers (active or paused) get a free month when their CLV is at least
    ``vip_value_cents``, else 20% off the next 3 boxes; other customers 20% off their next
    order. No scores, no offer.

    Args:
        score: The stored scores (:func:`get_scores`).
        customer: The customer (its ``subscriptions`` are looked at, if loaded).
        high_risk: Churn-probability threshold.
        high_value_cents: Value threshold.
        vip_value_cents: Value threshold of the free month.
        friction_support_max: Support component at or below which friction counts as risk.
        live_risk: The customer's live risk from this week's conversations
            (:mod:`analytics.loop.live_risk`), if any; it counts like the churn risk.

    Returns:
        The offer (texts in both languages) or ``None``.
    """
    if score is None:
        return None
    support = (score.health_components or {}).get("support")
    friction = support is not None and float(support) <= friction_support_max
    risk = max(score.churn_risk, live_risk if live_risk is not None else 0.0)
    at_risk = risk >= high_risk or score.lifecycle_stage == STAGE_CHURN or friction
    valuable = score.clv_cents >= high_value_cents or score.segment in HIGH_VALUE_SEGMENTS
    if not (at_risk and valuable):
        return None
    if _has_live_subscription(customer):
        if score.clv_cents >= vip_value_cents:
            return OFFERS[OFFER_FREE_MONTH]
        return OFFERS[OFFER_DISCOUNT_3_BOXES]
    return OFFERS[OFFER_DISCOUNT_NEXT_ORDER]
