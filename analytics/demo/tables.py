"""Turn the simulated drafts into the rows of every store table (:class:`ShopData`).

Ids follow time: orders by creation (given by ``analytics.demo.orders.number_orders``),
subscriptions by start, events, refunds, conversations and messages by their time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from analytics.demo.drafts import CustomerDraft
from analytics.store.catalogue import CatalogueRow
from analytics.store.models import (
    Conversation,
    Customer,
    Message,
    Order,
    OrderItem,
    Product,
    RefundRequest,
    Subscription,
    SubscriptionEvent,
)

logger = logging.getLogger(__name__)

Row = dict[str, Any]


@dataclass
class ShopData:
    """Generated rows of every table, ready for bulk insert (ids assigned).

    Attributes:
        seed: The seed used.
        reference: The reference date (end of history).
        tables: Rows per table name, in insert order.
        customer_types: Latent type per external id (ground truth, not stored).
        churned_at: Latent churn time per external id (``None`` if still active).
    """

    seed: int
    reference: datetime
    tables: dict[str, list[Row]]
    customer_types: dict[str, str]
    churned_at: dict[str, datetime | None]


def _product_rows(catalogue: list[CatalogueRow], product_ids: dict[str, int]) -> list[Row]:
    """Rows of the products, in catalogue order."""
    return [
        {
            "id": product_ids[row.sku],
            "sku": row.sku,
            "name_zh": row.name_zh,
            "name_en": row.name_en,
            "category": row.category,
            "price_cents": row.price_cents,
            "active": True,
        }
        for row in catalogue
    ]


def _order_rows(
    drafts: list[CustomerDraft], product_ids: dict[str, int]
) -> tuple[list[Row], list[Row]]:
    """Rows of orders and order items, by order id."""
    orders: list[Row] = []
    items: list[Row] = []
    order_drafts = sorted(((o, d.index) for d in drafts for o in d.orders), key=lambda t: t[0].id)
    for order, customer_id in order_drafts:
        orders.append(
            {
                "id": order.id,
                "order_number": order.number,
                "customer_id": customer_id,
                "created_at": order.created_at,
                "status": order.status,
                "shipping_status": order.shipping_status,
                "carrier": order.carrier,
                "tracking_number": order.tracking_number,
                "shipped_at": order.shipped_at,
                "delivered_at": order.delivered_at,
                "estimated_delivery": order.estimated_delivery,
                "total_cents": order.total_cents,
            }
        )
        for sku, qty, price in order.items:
            items.append(
                {
                    "id": len(items) + 1,
                    "order_id": order.id,
                    "product_id": product_ids[sku],
                    "quantity": qty,
                    "unit_price_cents": price,
                }
            )
    return orders, items


def _subscription_rows(drafts: list[CustomerDraft]) -> tuple[list[Row], list[Row]]:
    """Rows of subscriptions (by start) and their events (by time)."""
    subs = sorted(
        ((s, d.index) for d in drafts for s in d.subscriptions),
        key=lambda t: (t[0].started_at, t[1]),
    )
    sub_rows: list[Row] = []
    event_rows: list[Row] = []
    for sub_id, (sub, customer_id) in enumerate(subs, start=1):
        sub_rows.append(
            {
                "id": sub_id,
                "customer_id": customer_id,
                "plan": sub.plan,
                "status": sub.status,
                "started_at": sub.started_at,
                "paused_until": sub.paused_until,
                "canceled_at": sub.canceled_at,
                "cancel_reason": sub.cancel_reason,
                "next_renewal_at": sub.next_renewal_at,
                "price_cents": sub.price_cents,
            }
        )
        for kind, at, note in sorted(sub.events, key=lambda e: e[1]):
            event_rows.append({"subscription_id": sub_id, "kind": kind, "at": at, "note": note})
    event_rows.sort(key=lambda e: (e["at"], e["subscription_id"]))
    for i, row in enumerate(event_rows, start=1):
        row["id"] = i
    return sub_rows, event_rows


def _refund_rows(drafts: list[CustomerDraft]) -> list[Row]:
    """Rows of refund requests, by time."""
    refunds = sorted(
        ((r, d.index) for d in drafts for r in d.refunds), key=lambda t: (t[0].created_at, t[1])
    )
    return [
        {
            "id": i,
            "customer_id": customer_id,
            "order_id": r.order.id if r.order is not None else None,
            "reason": r.reason,
            "status": r.status,
            "source": r.source,
            "created_at": r.created_at,
        }
        for i, (r, customer_id) in enumerate(refunds, start=1)
    ]


def _conversation_rows(drafts: list[CustomerDraft]) -> tuple[list[Row], list[Row]]:
    """Rows of conversations (by start) and messages (by time)."""
    convs = sorted(
        ((c, d) for d in drafts for c in d.conversations),
        key=lambda t: (t[0].started_at, t[0].sender_id),
    )
    conv_rows: list[Row] = []
    message_rows: list[Row] = []
    for conv_id, (conv, draft) in enumerate(convs, start=1):
        language = draft.row["language"]
        conv_rows.append(
            {
                "id": conv_id,
                "sender_id": conv.sender_id,
                "customer_id": draft.index,
                "channel": conv.channel,
                "language": language,
                "started_at": conv.started_at,
                "last_message_at": conv.messages[-1].created_at
                if conv.messages
                else conv.started_at,
                "needs_handoff": conv.needs_handoff,
                "handoff_reason": conv.handoff_reason,
                "status": conv.status,
                "rating": conv.rating,
                "reviewed": conv.reviewed,
            }
        )
        for k, m in enumerate(conv.messages):
            message_rows.append(
                {
                    "conversation_id": conv_id,
                    "event_key": f"{conv.sender_id}:{k}",
                    "role": m.role,
                    "text": m.text,
                    "language": language,
                    "intent": m.intent,
                    "confidence": m.confidence,
                    "entities": m.entities,
                    "action": m.action,
                    "sentiment": m.sentiment,
                    "created_at": m.created_at,
                }
            )
    message_rows.sort(key=lambda m: (m["created_at"], m["event_key"]))
    for i, row in enumerate(message_rows, start=1):
        row["id"] = i
    return conv_rows, message_rows


def to_shop_data(
    seed: int, reference: datetime, catalogue: list[CatalogueRow], drafts: list[CustomerDraft]
) -> ShopData:
    """Flatten the drafts into table rows.

    Args:
        seed: The seed used.
        reference: The reference date.
        catalogue: The catalogue, in file order (product ids follow it).
        drafts: Every customer, orders already given ids and numbers.

    Returns:
        The rows of every table, in insert order, and the latent truth per customer.
    """
    product_ids = {row.sku: i for i, row in enumerate(catalogue, start=1)}
    orders, items = _order_rows(drafts, product_ids)
    sub_rows, event_rows = _subscription_rows(drafts)
    refund_rows = _refund_rows(drafts)
    conv_rows, message_rows = _conversation_rows(drafts)
    tables: dict[str, list[Row]] = {
        Customer.__tablename__: [d.row for d in drafts],
        Product.__tablename__: _product_rows(catalogue, product_ids),
        Order.__tablename__: orders,
        OrderItem.__tablename__: items,
        Subscription.__tablename__: sub_rows,
        SubscriptionEvent.__tablename__: event_rows,
        RefundRequest.__tablename__: refund_rows,
        Conversation.__tablename__: conv_rows,
        Message.__tablename__: message_rows,
    }
    return ShopData(
        seed=seed,
        reference=reference,
        tables=tables,
        customer_types={d.row["external_id"]: d.ctype for d in drafts},
        churned_at={d.row["external_id"]: d.churned_at for d in drafts},
    )
