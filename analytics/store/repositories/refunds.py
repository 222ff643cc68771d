"""Refund requests: created once per customer and order while one is open."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.store.models import REFUND_OPEN, SOURCE_CHAT, Customer, Order, RefundRequest
from analytics.store.repositories._checks import require_aware

logger = logging.getLogger(__name__)


def create_refund_request(
    session: Session,
    customer_id: int,
    *,
    order_id: int | None,
    reason: str,
    source: str = SOURCE_CHAT,
    at: datetime,
) -> RefundRequest:
    """Create a refund request, or return the open one that already exists.

    Idempotent: if the customer already has an open request for the same order (or an
    open request without an order, when ``order_id`` is ``None``), that one is returned.

    Args:
        session: The database session.
        customer_id: The customer's primary key.
        order_id: The order the refund is for (must belong to the customer), or ``None``.
        reason: Why the customer wants a refund (non-empty).
        source: Where the request came from (``chat``, ``email``, ...).
        at: When it was requested (timezone-aware).

    Returns:
        The new or existing open refund request.

    Raises:
        ValueError: If the customer or order is unknown, the order belongs to another
            customer, the reason is empty, or ``at`` is naive.
    """
    require_aware(at, "at")
    reason = (reason or "").strip()
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
    )
    session.add(request)
    session.flush()
    logger.info("Refund request %s for customer %s", request.id, customer_id)
    return request
