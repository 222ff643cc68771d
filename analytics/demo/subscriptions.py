"""Subscriptions of the demo shop (the monthly tea or coffee box) and their events.

A subscription starts after the customer's first or second order, renews every
``RENEWAL_DAYS`` (each renewal is an order), is sometimes skipped or paused, rarely
cancelled on its own, and cancelled for a reason of the customer's type when they churn.
"""

from __future__ import annotations

import logging
from datetime import datetime

from analytics.core.vocabulary import LANG_ZH
from analytics.demo.drafts import CustomerDraft, OrderDraft, Sim, SubDraft
from analytics.demo.orders import make_order
from analytics.demo.profiles import (
    RENEWAL_DAYS,
    TYPE_BARGAIN,
    TYPE_COMPLAINER,
    TYPE_LAPSING,
    TYPE_LOYAL,
    TYPE_NEW,
    TypeProfile,
)
from analytics.store.models import (
    EVENT_CANCEL,
    EVENT_PAUSE,
    EVENT_RENEW,
    EVENT_RESUME,
    EVENT_SKIP,
    EVENT_START,
    SUB_ACTIVE,
    SUB_CANCELED,
    SUB_PAUSED,
)

logger = logging.getLogger(__name__)

REASON_DELIVERY = "delivery"
CANCEL_REASONS: dict[str, tuple[str, str]] = {
    "price": ("太贵了，想省点钱", "Too expensive for me right now"),
    "too_much": ("家里囤太多了，喝不完", "I have too much stock at home"),
    REASON_DELIVERY: ("配送总是延迟", "Deliveries keep arriving late"),
    "quality": ("最近几次品质不如以前", "Quality has dropped lately"),
    "moving": ("要搬家了", "Moving abroad"),
    "switching": ("换了别的牌子", "Switching to another brand"),
}
"""Latent reason for leaving -> (zh, en) cancel reason."""
CANCEL_REASON_WEIGHTS: dict[str, dict[str, float]] = {
    TYPE_LOYAL: {"moving": 0.5, "price": 0.3, "too_much": 0.2},
    TYPE_LAPSING: {"too_much": 0.4, "price": 0.3, "switching": 0.3},
    TYPE_COMPLAINER: {REASON_DELIVERY: 0.5, "quality": 0.35, "price": 0.15},
    TYPE_BARGAIN: {"price": 0.7, "switching": 0.3},
    TYPE_NEW: {"price": 0.5, "too_much": 0.5},
}
"""Latent type -> weights of its reasons for leaving."""
EARLY_BIRD_DISCOUNT_CENTS = 1000
"""Off the box price for a share of the subscriptions started over a year ago."""


def start_subscription(
    sim: Sim, draft: CustomerDraft, plan: str, after: datetime
) -> SubDraft | None:
    """Start a subscription to ``plan`` a few days after an order.

    Args:
        sim: The customer's random stream.
        draft: The customer; the subscription is appended to its subscriptions.
        plan: The box SKU.
        after: The order that made the customer subscribe.

    Returns:
        The subscription, or ``None`` if it would start after the reference date.
    """
    rng = sim.rng
    start = after + sim.days(rng.uniform(0.5, 4.0))
    if start >= sim.ref:
        return None
    price = sim.cat[plan].price_cents
    if sim.ref - start > sim.days(365) and rng.random() < 0.3:
        price -= EARLY_BIRD_DISCOUNT_CENTS
    sub = SubDraft(plan=plan, started_at=start, price_cents=price)
    sub.events.append((EVENT_START, start, None))
    draft.subscriptions.append(sub)
    return sub


def renew_subscription(
    sim: Sim, sub: SubDraft, at: datetime, profile: TypeProfile, ctype: str, language: str
) -> tuple[OrderDraft | None, datetime | None]:
    """Handle the renewal due at ``at``: skip, pause, or renew (an order), rarely cancel.

    Args:
        sim: The customer's random stream.
        sub: The active subscription.
        at: The renewal date.
        profile: The customer's type profile (late and refund chances of the order).
        ctype: The customer's latent type.
        language: The customer's language.

    Returns:
        The renewal order (``None`` if skipped or paused) and the next renewal date
        (``None`` if the subscription was cancelled).
    """
    rng = sim.rng
    r = rng.random()
    if r < 0.05:
        sub.events.append((EVENT_SKIP, at, None))
        return None, at + sim.days(RENEWAL_DAYS)
    if r < 0.09:
        months = 1 if rng.random() < 0.7 else 2
        until = at + sim.days(RENEWAL_DAYS * months)
        note = f"until {until.date().isoformat()}"
        sub.events.append((EVENT_PAUSE, at - sim.days(rng.uniform(1, 5)), note))
        if until > sim.ref:
            sub.status, sub.paused_until = SUB_PAUSED, until
        else:
            sub.events.append((EVENT_RESUME, until, None))
        return None, until
    sub.events.append((EVENT_RENEW, at, None))
    order = make_order(
        sim,
        at,
        [(sub.plan, 1, sub.price_cents)],
        late=rng.random() < profile.late_prob,
        refund=rng.random() < profile.refund_prob / 2,
    )
    next_renew = at + sim.days(RENEWAL_DAYS)
    if ctype != TYPE_COMPLAINER and rng.random() < 0.008:
        cancel_subscription(sim, sub, next_renew - sim.days(3), ctype, language)
        return order, None
    return order, next_renew


def close_subscription(
    sim: Sim,
    sub: SubDraft,
    churn_at: datetime | None,
    next_renew: datetime | None,
    ctype: str,
    language: str,
) -> None:
    """Settle a subscription at the end of the simulation.

    It is cancelled if the customer churned before the reference date; otherwise its next
    renewal is the next due date (active) or the end of the pause (paused).
    """
    if churn_at is not None and churn_at <= sim.ref:
        cancel_subscription(sim, sub, churn_at, ctype, language)
    elif sub.status == SUB_ACTIVE:
        sub.next_renewal_at = next_renew
    else:
        sub.next_renewal_at = sub.paused_until


def cancel_subscription(sim: Sim, sub: SubDraft, at: datetime, ctype: str, language: str) -> None:
    """Cancel ``sub`` at ``at`` for a reason drawn from the type's reasons for leaving."""
    weights = CANCEL_REASON_WEIGHTS[ctype]
    key = sim.weighted(list(weights), list(weights.values()))
    reason = CANCEL_REASONS[key][0 if language == LANG_ZH else 1]
    sub.status = SUB_CANCELED
    sub.canceled_at = at
    sub.cancel_reason = reason
    sub.paused_until = None
    sub.next_renewal_at = None
    sub.events.append((EVENT_CANCEL, at, reason))
