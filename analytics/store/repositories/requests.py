"""Changes to a customer's data made (or asked for) in chat: the ``change_requests`` rows.

The bot files each change it carried out on the customer's confirmation
(:func:`record_change`, ``approved`` by ``bot``, with what was stored); a change filed
``open`` waits for the founder (:func:`decide_change`), like a refund request.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from analytics.core.vocabulary import LANGUAGES
from analytics.store.models import (
    CHANGE_KINDS,
    DECIDED_BY_BOT,
    REFUND_APPROVED,
    REFUND_OPEN,
    ChangeRequest,
)
from analytics.store.models.requests import MAX_DETAIL_CHARS
from analytics.store.repositories._checks import require_aware
from analytics.store.repositories.refunds import (
    clean_text,
    decide_row,
    mark_notified,
)

logger = logging.getLogger(__name__)


def record_change(
    session: Session,
    customer_id: int,
    *,
    kind: str,
    detail: str,
    at: datetime,
    subscription_id: int | None = None,
    sender_id: str | None = None,
    language: str | None = None,
    done: bool = True,
) -> ChangeRequest:
    """Files a change made (``done``: approved by the bot) or asked for (open).

    Args:
        session: The database session.
        customer_id: The customer's primary key.
        kind: One of :data:`~analytics.store.models.CHANGE_KINDS`.
        detail: What was stored, written from stored values (cut to 500 characters).
        at: When (timezone-aware).
        subscription_id: The subscription changed, if any.
        sender_id: The conversation it happened in.
        language: The customer's reply language then.
        done: Whether the bot already carried it out.

    Returns:
        The new row.

    Raises:
        ValueError: For an unknown kind, an empty detail or a naive ``at``.
    """
    require_aware(at, "at")
    if kind not in CHANGE_KINDS:
        raise ValueError(f"unknown change kind {kind!r}")
    detail = clean_text(detail, MAX_DETAIL_CHARS)
    if not detail:
        raise ValueError("a change needs a detail")
    row = ChangeRequest(
        customer_id=customer_id,
        subscription_id=subscription_id,
        kind=kind,
        detail=detail,
        status=REFUND_APPROVED if done else REFUND_OPEN,
        sender_id=sender_id,
        language=language if language in LANGUAGES else None,
        created_at=at,
        decided_at=at if done else None,
        decided_by=DECIDED_BY_BOT if done else None,
    )
    session.add(row)
    session.flush()
    return row


def decide_change(
    session: Session, change_id: int, *, approve: bool, note: str, by: str, at: datetime
) -> ChangeRequest:
    """Approves or refuses an open change request (see :func:`~.refunds.decide_refund`).

    Raises:
        LookupError: If there is no such row.
        AlreadyDecidedError: If it is not open any more.
        ValueError: If ``at`` is naive.
    """
    return decide_row(session, ChangeRequest, change_id, approve=approve, note=note, by=by, at=at)


def mark_change_notified(session: Session, change_id: int, *, at: datetime) -> None:
    """Records that the decision on a change request reached its conversation."""
    mark_notified(session, ChangeRequest, change_id, at=at)
