"""Refund requests: created once per customer and order while one is open, then decided.

The bot files a request (after the customer confirms it); the founder approves or refuses
it in the console with a note (:func:`decide_refund`); the decision is sent to the
conversation the request came from and :func:`mark_refund_notified` records that it
arrived. :func:`refund_requests_of` is what "what happened to my refund?" reads: only the
customer's own requests.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.core.vocabulary import LANGUAGES
from analytics.store.models import (
    REFUND_APPROVED,
    REFUND_OPEN,
    REFUND_REJECTED,
    SOURCE_CHAT,
    ChangeRequest,
    Customer,
    Order,
    RefundRequest,
)
from analytics.store.repositories._checks import require_aware

logger = logging.getLogger(__name__)


MAX_NOTE_CHARS = 2000
"""The founder's decision note is cut to this many characters."""
MAX_DECIDER_CHARS = 100

Decided = TypeVar("Decided", RefundRequest, ChangeRequest)
"""A row of a request table the founder decides (same decision columns)."""


_UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
"""Control characters (but tab and newlines) and lone surrogates: dropped from notes."""


def clean_text(text: str, limit: int) -> str:
    """Makes text a founder or the bot wrote storable.

    Control characters (but tab and newlines) and lone surrogates are dropped
    (PostgreSQL refuses NUL), then it is stripped and cut to ``limit`` characters.
    """
    return _UNSTORABLE.sub("", text).strip()[:limit]


MAX_REASON_CHARS = 2000
"""A refund request's reason is cut to this many characters."""


def create_refund_request(
    session: Session,
    customer_id: int,
    *,
    order_id: int | None,
    reason: str,
    source: str = SOURCE_CHAT,
    at: datetime,
    sender_id: str | None = None,
    language: str | None = None,
) -> RefundRequest:
    """Create a refund request, or return the open one that already exists.

    Idempotent: if the customer already has an open request for the same order (or an
    open request without an order, when ``order_id`` is ``None``), that one is returned.

    Args:
        session: The database session.
        customer_id: The customer's primary key.
        order_id: The order the refund is for (must belong to the customer), or ``None``.
        reason: Why the customer wants a refund (non-empty once control characters are
            dropped; cut to :data:`MAX_REASON_CHARS`).
        source: Where the request came from (``chat``, ``email``, ...).
        at: When it was requested (timezone-aware).
        sender_id: The conversation it was asked in (the decision is sent there).
        language: The customer's reply language then (``zh`` or ``en``).

    Returns:
        The new or existing open refund request.

    Raises:
        ValueError: If the customer or order is unknown, the order belongs to another
            customer, the reason is empty, or ``at`` is naive.
    """
    require_aware(at, "at")
    reason = clean_text(reason or "", MAX_REASON_CHARS)
    if not reason:
        raise ValueError("a refund request needs a reason")
    if session.get(Customer, customer_id) is None:
        raise ValueError(f"unknown customer {customer_id}")
    if order_id is not None:
        order = session.get(Order, order_id)
        if order is None or order.customer_id != customer_id:
            raise ValueError(f"order {order_id} does not belong to customer {customer_id}")
    order_clause = (
        RefundRequest.order_id.is_(None) if order_id is None else RefundRequest.order_id == order_id
    )
    existing = session.scalars(
        select(RefundRequest)
        .where(
            RefundRequest.customer_id == customer_id,
            order_clause,
            RefundRequest.status == REFUND_OPEN,
        )
        .order_by(RefundRequest.created_at, RefundRequest.id)
        .limit(1)
    ).first()
    if existing is not None:
        return existing
    request = RefundRequest(
        customer_id=customer_id,
        order_id=order_id,
        reason=reason,
        status=REFUND_OPEN,
        source=source,
        created_at=at,
        sender_id=sender_id,
        language=language if language in LANGUAGES else None,
    )
    session.add(request)
    session.flush()
    logger.info("Refund request %s for customer %s", request.id, customer_id)
    return request


class AlreadyDecidedError(ValueError):
    """The request was decided already (by someone else, or in another tab)."""


def decide_refund(
    session: Session,
    request_id: int,
    *,
    approve: bool,
    note: str,
    by: str,
    at: datetime,
) -> RefundRequest:
    """Approve or refuse an open refund request, with the founder's note.

    Args:
        session: The database session.
        request_id: The request's primary key.
        approve: True to approve, False to refuse (stored as ``rejected``).
        note: The founder's note to the customer (control characters dropped,
            stripped, cut to :data:`MAX_NOTE_CHARS`; may be empty).
        by: The console user deciding.
        at: When (timezone-aware).

    Returns:
        The decided request.

    Raises:
        LookupError: If there is no such request.
        AlreadyDecidedError: If it is not open any more.
        ValueError: If ``at`` is naive.
    """
    return decide_row(session, RefundRequest, request_id, approve=approve, note=note, by=by, at=at)


def decide_row(
    session: Session,
    model: type[Decided],
    row_id: int,
    *,
    approve: bool,
    note: str,
    by: str,
    at: datetime,
) -> Decided:
    """Approves or refuses an open row of a request table (refunds, changes).

    Raises:
        LookupError: If there is no such row.
        AlreadyDecidedError: If it is not open any more.
        ValueError: If ``at`` is naive.
    """
    require_aware(at, "at")
    label = model.__tablename__.replace("_", " ").rstrip("s")
    row = session.get(model, row_id, with_for_update=True)
    if row is None:
        raise LookupError(f"no {label} {row_id}")
    if row.status != REFUND_OPEN:
        raise AlreadyDecidedError(f"{label} {row_id} is {row.status} already")
    row.status = REFUND_APPROVED if approve else REFUND_REJECTED
    row.decided_at = at
    row.decided_by = by[:MAX_DECIDER_CHARS]
    row.decision_note = clean_text(note, MAX_NOTE_CHARS) or None
    session.flush()
    logger.info("%s %s %s by %s", label.capitalize(), row_id, row.status, row.decided_by)
    return row


def mark_notified(session: Session, model: type[Decided], row_id: int, *, at: datetime) -> None:
    """Records that the decision on a request row reached its conversation."""
    require_aware(at, "at")
    row = session.get(model, row_id)
    if row is not None:
        row.notified_at = at
        session.flush()


def mark_refund_notified(session: Session, request_id: int, *, at: datetime) -> None:
    """Records that the decision on a refund request reached its conversation."""
    mark_notified(session, RefundRequest, request_id, at=at)


def refund_requests_of(
    session: Session, customer_id: int, *, limit: int = 3
) -> list[RefundRequest]:
    """The customer's own refund requests, newest first (at most ``limit``)."""
    return list(
        session.scalars(
            select(RefundRequest)
            .where(RefundRequest.customer_id == customer_id)
            .order_by(RefundRequest.created_at.desc(), RefundRequest.id.desc())
            .limit(limit)
        )
    )
