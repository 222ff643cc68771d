"""Data functions for customers, orders, subscriptions and refunds, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session

from analytics.demo import customers as demo
from analytics.store import repositories as repo
from analytics.store.models import (
    CATEGORY_SUBSCRIPTION,
    EVENT_CANCEL,
    EVENT_PAUSE,
    EVENT_RESUME,
    ORDER_CANCELLED,
    ORDER_REFUNDED,
    REFUND_APPROVED,
    REFUND_OPEN,
    SHIP_IN_TRANSIT,
    SUB_ACTIVE,
    SUB_CANCELED,
    SUB_PAUSED,
    Customer,
    Order,
    OrderItem,
    Product,
    RefundRequest,
    Subscription,
    SubscriptionEvent,
)
from tests.analytics.conftest import REFERENCE

NOW = REFERENCE + timedelta(hours=10)


def _customer(session: Session, external_id: str) -> Customer:
    customer = repo.get_customer(session, external_id)
    assert customer is not None
    return customer


def _events(session: Session, subscription: Subscription) -> list[str]:
    return list(
        session.scalars(
            select(SubscriptionEvent.kind)
            .where(SubscriptionEvent.subscription_id == subscription.id)
            .order_by(SubscriptionEvent.at, SubscriptionEvent.id)
        )
    )


def test_get_customer(session: Session) -> None:
    wang = _customer(session, demo.DEMO_ZH)
    assert wang.name == "王小明"
    assert repo.get_customer(session, "cus_9999") is None
    assert repo.get_customer(session, "") is None


def test_latest_order_loads_items_and_products(session: Session) -> None:
    wang = _customer(session, demo.DEMO_ZH)
    order = repo.latest_order(session, wang.id)
    assert order is not None
    assert order.order_number == demo.DEMO_ZH_LATEST_ORDER
    newest = session.scalars(
        select(func.max(Order.created_at)).where(Order.customer_id == wang.id)
    ).one()
    assert order.created_at == newest
    state = inspect(order)
    assert "items" not in state.unloaded
    assert all("product" not in inspect(item).unloaded for item in order.items)
    assert {item.product.sku for item in order.items} == {"T01", "T05"}
    assert repo.latest_order(session, _customer(session, demo.DEMO_NEW).id) is None


def test_get_order_is_case_insensitive_and_owner_only(session: Session) -> None:
    wang = _customer(session, demo.DEMO_ZH)
    emily = _customer(session, demo.DEMO_EN)
    number = demo.DEMO_ZH_LATEST_ORDER
    for typed in (number, number.lower(), f" #{number.lower()} ", "lb 900-101"):
        found = repo.get_order(session, wang.id, typed)
        assert found is not None and found.order_number == number, typed
    assert repo.get_order(session, emily.id, number) is None  # not her order
    assert repo.get_order(session, wang.id, "LB000000") is None
    assert repo.get_order(session, wang.id, "") is None


def test_current_subscription(session: Session) -> None:
    wang = _customer(session, demo.DEMO_ZH)
    sub = repo.current_subscription(session, wang.id)
    assert sub is not None and sub.status == SUB_ACTIVE and sub.plan == "S01"
    lina = _customer(session, demo.DEMO_VIP_AT_RISK)
    lina_sub = repo.current_subscription(session, lina.id)
    assert lina_sub is not None and lina_sub.status == SUB_PAUSED
    assert repo.current_subscription(session, _customer(session, demo.DEMO_NEW).id) is None


def test_cancel_subscription(session: Session) -> None:
    emily = _customer(session, demo.DEMO_EN)
    sub = repo.current_subscription(session, emily.id)
    assert sub is not None
    result = repo.cancel_subscription(session, sub, reason="  too much coffee ", at=NOW)
    assert result.status == SUB_CANCELED
    assert result.canceled_at == NOW
    assert result.cancel_reason == "too much coffee"
    assert result.next_renewal_at is None
    assert _events(session, sub)[-1] == EVENT_CANCEL
    assert repo.current_subscription(session, emily.id) is None
    with pytest.raises(ValueError, match="already canceled"):
        repo.cancel_subscription(session, sub, reason=None, at=NOW)


def test_cancel_requires_aware_time(session: Session) -> None:
    sub = repo.current_subscription(session, _customer(session, demo.DEMO_EN).id)
    assert sub is not None
    with pytest.raises(ValueError, match="timezone-aware"):
        repo.cancel_subscription(session, sub, reason=None, at=datetime(2025, 6, 1))


def test_pause_and_resume_subscription(session: Session) -> None:
    wang = _customer(session, demo.DEMO_ZH)
    sub = repo.current_subscription(session, wang.id)
    assert sub is not None
    until = NOW + timedelta(days=30)
    paused = repo.pause_subscription(session, sub, until=until, at=NOW)
    assert paused.status == SUB_PAUSED
    assert paused.paused_until == until and paused.next_renewal_at == until
    assert _events(session, sub)[-1] == EVENT_PAUSE
    current = repo.current_subscription(session, wang.id)
    assert current is not None and current.id == sub.id  # paused counts as current
    later = NOW + timedelta(days=60)
    assert repo.pause_subscription(session, sub, until=later, at=NOW).paused_until == later
    resumed = repo.resume_subscription(session, sub, at=NOW + timedelta(days=1))
    assert resumed.status == SUB_ACTIVE and resumed.paused_until is None
    assert _events(session, sub)[-1] == EVENT_RESUME
    with pytest.raises(ValueError, match="not paused"):
        repo.resume_subscription(session, sub, at=NOW)


def test_pause_rejects_bad_input(session: Session) -> None:
    sub = repo.current_subscription(session, _customer(session, demo.DEMO_ZH).id)
    assert sub is not None
    with pytest.raises(ValueError, match="must be after"):
        repo.pause_subscription(session, sub, until=NOW, at=NOW)
    with pytest.raises(ValueError, match="at most"):
        repo.pause_subscription(session, sub, until=NOW + timedelta(days=400), at=NOW)
    repo.cancel_subscription(session, sub, reason=None, at=NOW)
    with pytest.raises(ValueError, match="canceled"):
        repo.pause_subscription(session, sub, until=NOW + timedelta(days=7), at=NOW)


def _open_requests(session: Session, customer_id: int) -> int:
    return session.scalars(
        select(func.count())
        .select_from(RefundRequest)
        .where(RefundRequest.customer_id == customer_id, RefundRequest.status == REFUND_OPEN)
    ).one()


def test_refund_request_is_idempotent_per_order(session: Session) -> None:
    wang = _customer(session, demo.DEMO_ZH)
    order = repo.get_order(session, wang.id, demo.DEMO_ZH_LATEST_ORDER)
    assert order is not None
    before = _open_requests(session, wang.id)
    first = repo.create_refund_request(
        session, wang.id, order_id=order.id, reason="broken lid", at=NOW
    )
    again = repo.create_refund_request(
        session, wang.id, order_id=order.id, reason="still broken", at=NOW + timedelta(hours=1)
    )
    assert again.id == first.id and again.reason == "broken lid"
    assert first.status == REFUND_OPEN and first.source == "chat" and first.created_at == NOW
    assert _open_requests(session, wang.id) == before + 1
    general = repo.create_refund_request(session, wang.id, order_id=None, reason="general", at=NOW)
    assert general.id != first.id and general.order_id is None
    assert (
        repo.create_refund_request(session, wang.id, order_id=None, reason="again", at=NOW).id
        == general.id
    )
    first.status = REFUND_APPROVED  # once handled, a new request may be opened
    session.flush()
    newer = repo.create_refund_request(session, wang.id, order_id=order.id, reason="x", at=NOW)
    assert newer.id != first.id


def test_refund_request_checks_ownership_and_input(session: Session) -> None:
    wang = _customer(session, demo.DEMO_ZH)
    emily = _customer(session, demo.DEMO_EN)
    order = repo.get_order(session, wang.id, demo.DEMO_ZH_LATEST_ORDER)
    assert order is not None
    with pytest.raises(ValueError, match="does not belong"):
        repo.create_refund_request(session, emily.id, order_id=order.id, reason="x", at=NOW)
    with pytest.raises(ValueError, match="does not belong"):
        repo.create_refund_request(session, wang.id, order_id=10**9, reason="x", at=NOW)
    with pytest.raises(ValueError, match="reason"):
        repo.create_refund_request(session, wang.id, order_id=order.id, reason="  ", at=NOW)
    with pytest.raises(ValueError, match="unknown customer"):
        repo.create_refund_request(session, 10**9, order_id=None, reason="x", at=NOW)


def _expected_best_sellers(
    session: Session, customer_id: int | None, since: datetime, limit: int
) -> list[str]:
    """Recompute the best sellers in Python from raw rows (ties: catalogue order)."""
    rows = session.execute(
        select(
            Product.id,
            Product.sku,
            Product.category,
            OrderItem.quantity,
            Order.customer_id,
            Order.status,
            Order.created_at,
        )
        .join(OrderItem, OrderItem.product_id == Product.id)
        .join(Order, Order.id == OrderItem.order_id)
    ).all()
    bought = {row.sku for row in rows if row.customer_id == customer_id}
    units: Counter[tuple[int, str]] = Counter()
    for row in rows:
        if (
            row.created_at >= since
            and row.category != CATEGORY_SUBSCRIPTION
            and row.status not in (ORDER_CANCELLED, ORDER_REFUNDED)
            and row.sku not in bought
        ):
            units[(row.id, row.sku)] += row.quantity
    ranked = sorted(units.items(), key=lambda kv: (-kv[1], kv[0][0]))
    return [sku for (_, sku), _ in ranked[:limit]]


def test_best_sellers(session: Session) -> None:
    since = REFERENCE - timedelta(days=90)
    wang = _customer(session, demo.DEMO_ZH)
    bought = set(
        session.scalars(
            select(Product.sku)
            .join(OrderItem, OrderItem.product_id == Product.id)
            .join(Order, Order.id == OrderItem.order_id)
            .where(Order.customer_id == wang.id)
        )
    )
    top = repo.best_sellers(session, exclude_customer_id=wang.id, limit=3, since=since)
    assert len(top) == 3
    assert all(p.category != CATEGORY_SUBSCRIPTION for p in top)
    assert not {p.sku for p in top} & bought
    assert [p.sku for p in top] == _expected_best_sellers(session, wang.id, since, 3)
    anyone = repo.best_sellers(session, exclude_customer_id=None, limit=5, since=since)
    assert [p.sku for p in anyone] == _expected_best_sellers(session, None, since, 5)
    assert all(p.category != CATEGORY_SUBSCRIPTION for p in anyone)
    assert repo.best_sellers(session, exclude_customer_id=None, limit=0) == []


def test_best_sellers_tops_up_from_all_time(session: Session) -> None:
    future = REFERENCE + timedelta(days=365)
    top = repo.best_sellers(session, exclude_customer_id=None, limit=3, since=future)
    assert len(top) == 3  # nothing sold in the window: all-time best sellers


def test_demo_latest_order_in_transit_has_tracking(session: Session) -> None:
    order = repo.latest_order(session, _customer(session, demo.DEMO_ZH).id)
    assert order is not None
    assert order.shipping_status == SHIP_IN_TRANSIT
    assert order.tracking_number is not None and order.tracking_number.startswith("SF")
    assert order.estimated_delivery is not None and order.estimated_delivery > REFERENCE
