"""Subscriptions: the current one, and cancelling, pausing and resuming it (with events)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.store.models import (
    EVENT_CANCEL,
    EVENT_PAUSE,
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
