"""Subscriptions: the current one, cancelling, pausing, resuming, discounts and renewals.

Every change is recorded as a :class:`~analytics.store.models.SubscriptionEvent`. A
discount (an applied retention offer) is a ``discount`` event: ``price_cents`` is what
each renewal from ``at`` until ``ends_at`` costs; ``Subscription.price_cents`` stays the
regular price, so the price returns by itself after ``ends_at``
(:func:`price_for_renewal`, :func:`renew_subscription`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.store.models import (
    EVENT_CANCEL,
    EVENT_DISCOUNT,
    EVENT_PAUSE,
    EVENT_RENEW,
    EVENT_RESUME,
    SUB_ACTIVE,
    SUB_CANCELED,
    SUB_PAUSED,
    Subscription,
    SubscriptionEvent,
)
from analytics.store.repositories._checks import require_aware

logger = logging.getLogger(__name__)

MAX_PAUSE = timedelta(days=180)
RENEWAL_PERIOD = timedelta(days=30)


def current_subscription(session: Session, customer_id: int) -> Subscription | None:
    """Return the customer's newest active or paused subscription.

    Args:
        session: The database session.
        customer_id: The customer's primary key.

    Returns:
        The subscription, or ``None`` if there is no active or paused one.
    """
    stmt = (
        select(Subscription)
        .where(
            Subscription.customer_id == customer_id,
            Subscription.status.in_((SUB_ACTIVE, SUB_PAUSED)),
        )
        .order_by(Subscription.started_at.desc(), Subscription.id.desc())
        .limit(1)
    )
    return session.scalars(stmt).first()


def _add_event(
    session: Session, subscription: Subscription, kind: str, at: datetime, note: str | None
) -> SubscriptionEvent:
    event = SubscriptionEvent(subscription_id=subscription.id, kind=kind, at=at, note=note)
    session.add(event)
    return event


def cancel_subscription(
    session: Session, subscription: Subscription, *, reason: str | None, at: datetime
) -> Subscription:
    """Cancel a subscription and record a ``cancel`` event.

    Args:
        session: The database session.
        subscription: An active or paused subscription.
        reason: The customer's reason, if given.
        at: When the cancellation happened (timezone-aware).

    Returns:
        The updated subscription.

    Raises:
        ValueError: If the subscription is already canceled or ``at`` is naive.
    """
    require_aware(at, "at")
    if subscription.status == SUB_CANCELED:
        raise ValueError(f"subscription {subscription.id} is already canceled")
    reason = (reason or "").strip() or None
    subscription.status = SUB_CANCELED
    subscription.canceled_at = at
    subscription.cancel_reason = reason
    subscription.paused_until = None
    subscription.next_renewal_at = None
    _add_event(session, subscription, EVENT_CANCEL, at, reason)
    session.flush()
    logger.info("Canceled subscription %s", subscription.id)
    return subscription


def pause_subscription(
    session: Session, subscription: Subscription, *, until: datetime, at: datetime
) -> Subscription:
    """Pause a subscription until a date (extending an existing pause is allowed).

    Args:
        session: The database session.
        subscription: An active or paused subscription.
        until: When deliveries resume (timezone-aware, after ``at``, at most 180 days).
        at: When the pause was requested (timezone-aware).

    Returns:
        The updated subscription; ``next_renewal_at`` moves to ``until``.

    Raises:
        ValueError: If the subscription is canceled, or ``until`` is not in the
            allowed window, or a datetime is naive.
    """
    require_aware(at, "at")
    require_aware(until, "until")
    if subscription.status == SUB_CANCELED:
        raise ValueError(f"subscription {subscription.id} is canceled and cannot be paused")
    if until <= at:
        raise ValueError(f"pause end {until.isoformat()} must be after {at.isoformat()}")
    if until - at > MAX_PAUSE:
        raise ValueError(f"a pause can last at most {MAX_PAUSE.days} days")
    subscription.status = SUB_PAUSED
    subscription.paused_until = until
    subscription.next_renewal_at = until
    _add_event(session, subscription, EVENT_PAUSE, at, f"until {until.date().isoformat()}")
    session.flush()
    logger.info("Paused subscription %s until %s", subscription.id, until.isoformat())
    return subscription


def resume_subscription(
    session: Session, subscription: Subscription, *, at: datetime
) -> Subscription:
    """Resume a paused subscription now.

    Args:
        session: The database session.
        subscription: A paused subscription.
        at: When it was resumed (timezone-aware).

    Returns:
        The updated subscription, active with the next renewal one period after ``at``.

    Raises:
        ValueError: If the subscription is not paused or ``at`` is naive.
    """
    require_aware(at, "at")
    if subscription.status != SUB_PAUSED:
        raise ValueError(f"subscription {subscription.id} is {subscription.status}, not paused")
    subscription.status = SUB_ACTIVE
    subscription.paused_until = None
    subscription.next_renewal_at = at + RENEWAL_PERIOD
    _add_event(session, subscription, EVENT_RESUME, at, None)
    session.flush()
    return subscription


def active_discount(
    session: Session, subscription: Subscription, at: datetime
) -> SubscriptionEvent | None:
    """The discount that prices a renewal at ``at``, if any (the newest one covering it)."""
    require_aware(at, "at")
    return session.scalars(
        select(SubscriptionEvent)
        .where(
            SubscriptionEvent.subscription_id == subscription.id,
            SubscriptionEvent.kind == EVENT_DISCOUNT,
            SubscriptionEvent.at <= at,
            SubscriptionEvent.ends_at > at,
        )
        .order_by(SubscriptionEvent.at.desc(), SubscriptionEvent.id.desc())
        .limit(1)
    ).first()


def running_discount(
    session: Session, subscription: Subscription, after: datetime
) -> SubscriptionEvent | None:
    """A discount that still covers renewals after ``after`` (running or yet to start)."""
    require_aware(after, "after")
    return session.scalars(
        select(SubscriptionEvent)
        .where(
            SubscriptionEvent.subscription_id == subscription.id,
            SubscriptionEvent.kind == EVENT_DISCOUNT,
            SubscriptionEvent.ends_at > after,
        )
        .order_by(SubscriptionEvent.ends_at.desc())
        .limit(1)
    ).first()


def price_for_renewal(session: Session, subscription: Subscription, at: datetime) -> int:
    """What a renewal at ``at`` costs (cents): the discounted price, else the regular one."""
    discount = active_discount(session, subscription, at)
    if discount is not None and discount.price_cents is not None:
        return discount.price_cents
    return subscription.price_cents


def apply_discount(
    session: Session,
    subscription: Subscription,
    *,
    percent_off: int,
    boxes: int,
    at: datetime,
    note: str | None = None,
) -> SubscriptionEvent:
    """Discount the next ``boxes`` renewals by ``percent_off`` percent.

    The discount starts at the next renewal (``next_renewal_at``; for a paused
    subscription without one, ``paused_until``; never before ``at``) and ends ``boxes`` renewal periods later: renewals in ``[start, ends_at)`` cost
    ``price_cents * (100 - percent_off) / 100`` (rounded to the cent), later ones the
    regular price again.

    Args:
        session: The database session.
        subscription: An active or paused subscription.
        percent_off: 1-100 (100: the boxes are free).
        boxes: How many renewals are discounted (1-12).
        at: When the discount was granted (timezone-aware).
        note: Why (e.g. which retention offer).

    Returns:
        The ``discount`` event (``at`` = first discounted renewal, ``ends_at``,
        ``price_cents``).

    Raises:
        ValueError: If the subscription is canceled, already has a discount running at
            or after the start, an argument is out of range, or ``at`` is naive.
    """
    require_aware(at, "at")
    if subscription.status == SUB_CANCELED:
        raise ValueError(f"subscription {subscription.id} is canceled")
    if not 1 <= percent_off <= 100:
        raise ValueError(f"percent_off must be 1-100, not {percent_off}")
    if not 1 <= boxes <= 12:
        raise ValueError(f"boxes must be 1-12, not {boxes}")
    start = subscription.next_renewal_at
    if start is None and subscription.status == SUB_PAUSED:
        start = subscription.paused_until
    start = max(start or at, at)
    if running_discount(session, subscription, start) is not None:
        raise ValueError(f"subscription {subscription.id} already has a discount running")
    price = (subscription.price_cents * (100 - percent_off) + 50) // 100
    event = _add_event(session, subscription, EVENT_DISCOUNT, start, note)
    event.price_cents = price
    event.ends_at = start + boxes * RENEWAL_PERIOD
    session.flush()
    logger.info(
        "Discount on subscription %s: %s cents until %s",
        subscription.id,
        price,
        event.ends_at.isoformat(),
    )
    return event


def renew_subscription(
    session: Session, subscription: Subscription, *, at: datetime
) -> SubscriptionEvent:
    """Renew an active subscription at ``at``, charging the price of that renewal.

    Args:
        session: The database session.
        subscription: An active subscription.
        at: The renewal time (timezone-aware), normally ``next_renewal_at``.

    Returns:
        The ``renew`` event, with the ``price_cents`` charged (discounted while a
        discount covers ``at``); ``next_renewal_at`` moves one period on.

    Raises:
        ValueError: If the subscription is not active or ``at`` is naive.
    """
    require_aware(at, "at")
    if subscription.status != SUB_ACTIVE:
        raise ValueError(f"subscription {subscription.id} is {subscription.status}, not active")
    price = price_for_renewal(session, subscription, at)
    event = _add_event(session, subscription, EVENT_RENEW, at, None)
    event.price_cents = price
    subscription.next_renewal_at = at + RENEWAL_PERIOD
    session.flush()
    return event
