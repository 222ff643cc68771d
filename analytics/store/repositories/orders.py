"""Orders: a customer's own orders by number or the latest, and the shop's best sellers."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from analytics.store.models import (
    CATEGORY_SUBSCRIPTION,
    ORDER_CANCELLED,
    ORDER_REFUNDED,
    Order,
    OrderItem,
    Product,
)

BEST_SELLER_WINDOW = timedelta(days=90)
_ORDER_NUMBER_STRIP_RE = re.compile(r"[\s#\-]")
_ORDER_WITH_ITEMS = selectinload(Order.items).selectinload(OrderItem.product)


def normalize_order_number(order_number: str) -> str:
    """Normalise a user-typed order number: strip spaces, ``#`` and dashes, upper-case.

    Args:
        order_number: The order number as typed, e.g. ``" lb-100234 "``.

    Returns:
        The canonical form, e.g. ``"LB100234"``.
    """
    return _ORDER_NUMBER_STRIP_RE.sub("", order_number).upper()


def latest_order(session: Session, customer_id: int) -> Order | None:
    """Return the customer's most recent order, with items and products loaded.

    Args:
        session: The database session.
        customer_id: The customer's primary key.

    Returns:
        The newest order by ``created_at``, or ``None`` if the customer has none.
    """
    stmt = (
        select(Order)
        .where(Order.customer_id == customer_id)
        .order_by(Order.created_at.desc(), Order.id.desc())
        .limit(1)
        .options(_ORDER_WITH_ITEMS)
    )
    return session.scalars(stmt).first()


def get_order(session: Session, customer_id: int, order_number: str) -> Order | None:
    """Return one of the customer's own orders by its number.

    The number is matched case-insensitively (spaces, ``#`` and dashes ignored). Another
    customer's order is never returned.

    Args:
        session: The database session.
        customer_id: The customer's primary key.
        order_number: The order number, e.g. ``"lb100234"``.

    Returns:
        The order with items and products loaded, or ``None``.
    """
    number = normalize_order_number(order_number or "")
    if not number:
        return None
    stmt = (
        select(Order)
        .where(Order.customer_id == customer_id, func.upper(Order.order_number) == number)
        .options(_ORDER_WITH_ITEMS)
    )
    return session.scalars(stmt).first()


def best_sellers(
    session: Session,
    *,
    exclude_customer_id: int | None,
    limit: int = 3,
    since: datetime | None = None,
) -> list[Product]:
    """Return the top-selling active products by units sold.

    Subscription boxes are never returned, nor products the excluded customer already
    bought. Cancelled and refunded orders do not count. If the window yields fewer than
    ``limit`` products, the list is topped up from all-time sales.

    Args:
        session: The database session.
        exclude_customer_id: A customer whose purchased products are left out.
        limit: How many products to return.
        since: Start of the sales window; defaults to 90 days before now.

    Returns:
        Up to ``limit`` products, best first.
    """
    if limit <= 0:
        return []
    if since is None:
        since = datetime.now(UTC) - BEST_SELLER_WINDOW
    bought = (
        select(OrderItem.product_id)
        .join(Order, Order.id == OrderItem.order_id)
        .where(Order.customer_id == exclude_customer_id)
    )

    def top(window_start: datetime | None, skip: list[int]) -> list[Product]:
        units = func.sum(OrderItem.quantity).label("units")
        stmt = (
            select(Product, units)
            .join(OrderItem, OrderItem.product_id == Product.id)
            .join(Order, Order.id == OrderItem.order_id)
            .where(
                Product.active.is_(True),
                Product.category != CATEGORY_SUBSCRIPTION,
                Order.status.not_in((ORDER_CANCELLED, ORDER_REFUNDED)),
            )
            .group_by(Product.id)
            .order_by(units.desc(), Product.id)
            .limit(limit - len(skip) if window_start is None else limit)
        )
        if window_start is not None:
            stmt = stmt.where(Order.created_at >= window_start)
        if exclude_customer_id is not None:
            stmt = stmt.where(Product.id.not_in(bought))
        if skip:
            stmt = stmt.where(Product.id.not_in(skip))
        return [row[0] for row in session.execute(stmt)]

    products = top(since, [])
    if len(products) < limit:
        products += top(None, [p.id for p in products])
    return products
