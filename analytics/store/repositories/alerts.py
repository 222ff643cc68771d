"""Founder alerts and their deliveries: the outbox the alert dispatcher sends.

Written by the alert rules (:mod:`analytics.loop.alerts.rules`, in the ingest's
transaction: :func:`create_alert`), sent by the dispatcher (:mod:`analytics.loop.alerts.dispatch`:
:func:`claim_due_deliveries`, :func:`record_sent`, :func:`record_failure`), read by the
console (:func:`alerts_of_conversation`) and by the founder's reply hooks
(:func:`alert_by_ref`, :func:`alert_by_platform_message`).

Claiming is a compare-and-set on ``next_attempt_at``: a claimed delivery is leased (its
``next_attempt_at`` moved ``lease`` ahead), so two dispatchers never send it at once and a
dispatcher that dies mid-send leaves it to be sent again when the lease runs out (at least
once, never lost). Recording an outcome is a compare-and-set too (still pending, still the
attempt claimed): a dispatcher whose lease ran out cannot overwrite another's outcome (a
delivery marked sent stays sent). Like every repository, these functions never commit.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from analytics.store.models.alerts import (
    ALERT_FAILED,
    ALERT_KINDS,
    ALERT_PENDING,
    ALERT_REASONS,
    ALERT_SENT,
    MAX_PLATFORM_ID_CHARS,
    MAX_REF_CHARS,
    AlertDelivery,
    FounderAlert,
)
from analytics.store.repositories._checks import require_aware

#: The prefix of an alert's short ref (``A17``).
REF_PREFIX = "A"
_REF = re.compile(r"^\s*#?\s*[Aa]\s*(\d{1,12})\s*$")
#: Longest stored delivery error (the error's class and a short message, never a secret).
MAX_ERROR_CHARS = 500


def ref_of(alert_id: int) -> str:
    """The short ref of an alert id (``17`` -> ``"A17"``)."""
    return f"{REF_PREFIX}{alert_id}"


def create_alert(
    session: Session,
    *,
    conversation_id: int,
    sender_id: str,
    customer_id: int,
    reasons: Sequence[str],
    channels: Sequence[str],
    at: datetime,
    segment: str | None = None,
    risk: float | None = None,
) -> FounderAlert:
    """Files an alert and one pending delivery per channel (flushed, not committed).

    The alert's ``ref`` is :func:`ref_of` its id. ``title``, ``text`` and ``link`` are left
    empty for the caller to fill in (they quote the ref) before the transaction commits.

    Args:
        session: The database session (the ingest's transaction).
        conversation_id: The conversation's primary key.
        sender_id: Rasa's conversation id.
        customer_id: The customer's primary key.
        reasons: Codes of :data:`~analytics.store.models.ALERT_REASONS`.
        channels: Kinds of :data:`~analytics.store.models.ALERT_KINDS` to deliver on.
        at: When (timezone-aware): ``created_at`` and each delivery's first attempt.
        segment: The customer's segment, if scored.
        risk: The churn risk that was shown.

    Returns:
        The new alert.

    Raises:
        ValueError: For an unknown reason or channel, or no reason.
    """
    require_aware(at, "at")
    unknown = [r for r in reasons if r not in ALERT_REASONS]
    unknown += [c for c in channels if c not in ALERT_KINDS]
    if unknown or not reasons:
        raise ValueError(f"unknown alert reasons or channels: {unknown or 'none given'}")
    alert = FounderAlert(
        ref=uuid.uuid4().hex[:MAX_REF_CHARS],
        conversation_id=conversation_id,
        sender_id=sender_id[:128],
        customer_id=customer_id,
        reasons=list(dict.fromkeys(reasons)),
        segment=segment,
        risk=risk,
        title="",
        text="",
        link="",
        state=ALERT_PENDING,
        created_at=at,
    )
    session.add(alert)
    session.flush()
    alert.ref = ref_of(alert.id)
    for channel in dict.fromkeys(channels):
        session.add(
            AlertDelivery(
                alert_id=alert.id,
                channel=channel,
                state=ALERT_PENDING,
                attempts=0,
                next_attempt_at=at,
            )
        )
    session.flush()
    return alert


def last_alert_at(session: Session, conversation_id: int) -> datetime | None:
    """When the conversation's latest alert was raised, or ``None``."""
    return session.scalar(
        select(func.max(FounderAlert.created_at)).where(
            FounderAlert.conversation_id == conversation_id
        )
    )


def alerts_since(session: Session, since: datetime) -> int:
    """How many alerts were raised at or after ``since`` (the hourly limit)."""
    require_aware(since, "since")
    return int(
        session.scalar(select(func.count(FounderAlert.id)).where(FounderAlert.created_at >= since))
        or 0
    )


def alert_by_ref(session: Session, ref: str) -> FounderAlert | None:
    """The alert a founder quoted (``A17``, ``a17``, ``#A17``), or ``None``.

    Args:
        session: The database session.
        ref: What the founder wrote as the ref.

    Returns:
        The alert, or ``None`` when ``ref`` is not one or no alert has it.
    """
    match = _REF.match(ref or "")
    if match is None:
        return None
    return session.scalars(
        select(FounderAlert).where(FounderAlert.ref == ref_of(int(match.group(1))))
    ).first()


def alert_by_platform_message(
    session: Session, channel: str, message_id: str
) -> FounderAlert | None:
    """The alert a platform message carried (a founder replied to it), or ``None``.

    Args:
        session: The database session.
        channel: The alert channel (``telegram``, ``wecom``...).
        message_id: The platform's id of the alert message (Telegram ``message_id``).

    Returns:
        The alert, or ``None``.
    """
    if not message_id or len(message_id) > MAX_PLATFORM_ID_CHARS:
        return None
    return session.scalars(
        select(FounderAlert)
        .join(AlertDelivery, AlertDelivery.alert_id == FounderAlert.id)
        .where(AlertDelivery.channel == channel, AlertDelivery.platform_message_id == message_id)
    ).first()


def alerts_of_conversation(session: Session, conversation_id: int) -> list[FounderAlert]:
    """A conversation's alerts, oldest first."""
    return list(
        session.scalars(
            select(FounderAlert)
            .where(FounderAlert.conversation_id == conversation_id)
            .order_by(FounderAlert.created_at, FounderAlert.id)
        )
    )


def deliveries_of(session: Session, alert_ids: Sequence[int]) -> dict[int, list[AlertDelivery]]:
    """The deliveries of alerts: alert id -> deliveries in channel order."""
    out: dict[int, list[AlertDelivery]] = {i: [] for i in alert_ids}
    if not alert_ids:
        return out
    rows = session.scalars(
        select(AlertDelivery)
        .where(AlertDelivery.alert_id.in_(list(alert_ids)))
        .order_by(AlertDelivery.alert_id, AlertDelivery.channel)
    )
    for row in rows:
        out[row.alert_id].append(row)
    return out


def claim_due_deliveries(
    session: Session, now: datetime, *, lease: timedelta, limit: int = 50
) -> list[AlertDelivery]:
    """Claims pending deliveries that are due: each attempt counted and leased.

    Args:
        session: The database session (commit it before sending, so the lease holds).
        now: The current time (timezone-aware).
        lease: How long a claim holds before another dispatcher may retry the delivery.
        limit: The most deliveries claimed.

    Returns:
        The claimed deliveries (``attempts`` already counts this attempt), oldest first.
    """
    require_aware(now, "now")
    due = session.execute(
        select(AlertDelivery.id, AlertDelivery.next_attempt_at)
        .where(AlertDelivery.state == ALERT_PENDING, AlertDelivery.next_attempt_at <= now)
        .order_by(AlertDelivery.next_attempt_at, AlertDelivery.id)
        .limit(limit)
    ).all()
    claimed: list[int] = []
    for delivery_id, seen_at in due:
        result = session.execute(
            update(AlertDelivery)
            .where(
                AlertDelivery.id == delivery_id,
                AlertDelivery.state == ALERT_PENDING,
                AlertDelivery.next_attempt_at == seen_at,
            )
            .values(next_attempt_at=now + lease, attempts=AlertDelivery.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0) == 1:
            claimed.append(delivery_id)
    if not claimed:
        return []
    rows = session.scalars(
        select(AlertDelivery)
        .where(AlertDelivery.id.in_(claimed))
        .order_by(AlertDelivery.id)
        .execution_options(populate_existing=True)
    )
    return list(rows)


def record_sent(
    session: Session,
    delivery_id: int,
    *,
    at: datetime,
    platform_message_id: str | None,
    attempt: int | None = None,
) -> bool:
    """Marks a delivery sent (with the platform's message id) and its alert sent.

    A compare-and-set: applied only while the delivery is still pending and (when
    ``attempt`` is given) still at the attempt this dispatcher claimed, so a dispatcher whose
    lease ran out cannot overwrite what another one recorded.

    Args:
        session: The database session.
        delivery_id: The delivery.
        at: When it was sent (timezone-aware).
        platform_message_id: The platform's id of the alert message, if any.
        attempt: The attempt number claimed (``attempts`` after the claim), or ``None``.

    Returns:
        Whether the outcome was recorded.
    """
    require_aware(at, "at")
    values: dict[str, object] = {"state": ALERT_SENT, "sent_at": at, "error": None}
    if platform_message_id:
        values["platform_message_id"] = platform_message_id[:MAX_PLATFORM_ID_CHARS]
    return _record(session, delivery_id, attempt, values)


def record_failure(
    session: Session,
    delivery_id: int,
    *,
    error: str,
    retry_at: datetime | None,
    attempt: int | None = None,
) -> bool:
    """Records a failed attempt: retried at ``retry_at``, or failed for good (``None``).

    A compare-and-set like :func:`record_sent`: a delivery another dispatcher has meanwhile
    sent, failed or claimed again is left alone.

    Args:
        session: The database session.
        delivery_id: The delivery.
        error: What went wrong (no secrets: the error's class and a short message).
        retry_at: When to try again, or ``None`` when the delivery has failed for good.
        attempt: The attempt number claimed (``attempts`` after the claim), or ``None``.

    Returns:
        Whether the outcome was recorded.
    """
    values: dict[str, object] = {"error": error[:MAX_ERROR_CHARS]}
    if retry_at is None:
        values["state"] = ALERT_FAILED
    else:
        require_aware(retry_at, "retry_at")
        values["next_attempt_at"] = retry_at
    return _record(session, delivery_id, attempt, values)


def _record(
    session: Session, delivery_id: int, attempt: int | None, values: dict[str, object]
) -> bool:
    conditions = [AlertDelivery.id == delivery_id, AlertDelivery.state == ALERT_PENDING]
    if attempt is not None:
        conditions.append(AlertDelivery.attempts == attempt)
    result = session.execute(
        update(AlertDelivery)
        .where(*conditions)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        return False
    delivery = session.get(AlertDelivery, delivery_id, populate_existing=True)
    if delivery is not None:
        _settle_alert(session, delivery.alert_id)
    return True


def release_claim(
    session: Session, delivery_id: int, *, attempt: int, leased_until: datetime, now: datetime
) -> bool:
    """Gives back a claimed delivery not sent: due at ``now``, its attempt not counted.

    A compare-and-set on the claim (still pending, the same attempt and lease).

    Returns:
        Whether the claim was given back.
    """
    require_aware(now, "now")
    result = session.execute(
        update(AlertDelivery)
        .where(
            AlertDelivery.id == delivery_id,
            AlertDelivery.state == ALERT_PENDING,
            AlertDelivery.attempts == attempt,
            AlertDelivery.next_attempt_at == leased_until,
        )
        .values(next_attempt_at=now, attempts=AlertDelivery.attempts - 1)
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


def _settle_alert(session: Session, alert_id: int) -> None:
    """An alert is sent once one delivery is, failed when all have failed."""
    alert = session.get(FounderAlert, alert_id)
    if alert is None:
        return
    states = set(
        session.scalars(select(AlertDelivery.state).where(AlertDelivery.alert_id == alert_id))
    )
    if ALERT_SENT in states:
        alert.state = ALERT_SENT
    elif states == {ALERT_FAILED}:
        alert.state = ALERT_FAILED
    else:
        alert.state = ALERT_PENDING
    session.flush()
