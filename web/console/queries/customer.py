"""Queries of one customer: the panel and the spend per month of the customer's page.

The panel shows scores (or estimates), live risk, orders, subscription, conversations and
notes.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from analytics.core.vocabulary import risk_band
from analytics.store.models import Conversation, Customer, Order, Product, Subscription
from analytics.store.models.console import ConversationFacts, CustomerFacts, Note
from web.console.facts import scores_for
from web.console.queries.common import as_list, describe
from web.console.queries.live_risk import live_risk_of

ORDERS_SHOWN = 20
CONVERSATIONS_SHOWN = 50
NOTES_SHOWN = 20
SPEND_MONTHS = 12
MONTH_FORMAT = "%Y-%m"


def customer_by_external_id(db: Session, external_id: str) -> Customer | None:
    """Looks a customer up by their external id."""
    return db.scalar(select(Customer).where(Customer.external_id == external_id))


def _orders(db: Session, customer_id: int) -> tuple[list[Order], dict[int, Product]]:
    orders = list(
        db.scalars(
            select(Order)
            .where(Order.customer_id == customer_id)
            .options(selectinload(Order.items))
            .order_by(Order.created_at.desc())
            .limit(ORDERS_SHOWN)
        )
    )
    product_ids = {item.product_id for o in orders for item in o.items}
    products = (
        {p.id: p for p in db.scalars(select(Product).where(Product.id.in_(product_ids)))}
        if product_ids
        else {}
    )
    return orders, products


def _conversations(db: Session, customer_id: int) -> list[dict[str, Any]]:
    query = (
        select(
            Conversation.id,
            Conversation.started_at,
            Conversation.last_message_at,
            Conversation.status,
            Conversation.needs_handoff,
            Conversation.rating,
            ConversationFacts.intents,
            ConversationFacts.preview,
            ConversationFacts.avg_sentiment,
        )
        .outerjoin(ConversationFacts, ConversationFacts.conversation_id == Conversation.id)
        .where(Conversation.customer_id == customer_id)
        .order_by(Conversation.started_at.desc())
        .limit(CONVERSATIONS_SHOWN)
    )
    return [dict(r) for r in db.execute(query).mappings()]


def _notes(db: Session, customer_id: int) -> list[Note]:
    query = (
        select(Note)
        .join(Conversation, Conversation.id == Note.conversation_id, isouter=True)
        .where(or_(Note.customer_id == customer_id, Conversation.customer_id == customer_id))
        .order_by(Note.created_at.desc())
        .limit(NOTES_SHOWN)
    )
    return list(db.scalars(query))


def customer_panel(db: Session, customer_id: int) -> dict[str, Any] | None:
    """The customer's panel, or ``None`` when there is no such customer.

    Scores (or estimates), live risk, orders, subscription, conversations and notes.
    """
    customer = db.get(Customer, customer_id)
    if customer is None:
        return None
    facts = db.get(CustomerFacts, customer_id)
    scores = scores_for(db, customer_id)
    brain = scores or {}
    orders, products = _orders(db, customer_id)
    subscription = db.scalar(
        select(Subscription)
        .where(Subscription.customer_id == customer_id)
        .order_by(Subscription.started_at.desc())
        .limit(1)
    )
    churn = brain.get("churn_risk") if scores else (facts.churn_risk if facts else None)
    clv = brain.get("clv_cents") if scores else (facts.clv_cents if facts else None)
    return {
        "customer": customer,
        "facts": facts,
        "scores": scores,
        "has_scores": scores is not None,
        "segment": brain.get("segment") or (facts.segment if facts else None),
        "churn_risk": churn,
        "risk_band": risk_band(churn),
        "live_risk": live_risk_of(db, customer_id),
        "reasons": [describe(r) for r in as_list(brain.get("churn_reasons"))],
        "clv_cents": clv,
        "health": brain.get("health"),
        "lifecycle_stage": brain.get("lifecycle_stage"),
        "recommendations": [describe(r) for r in as_list(brain.get("recommendations"))],
        "orders": orders,
        "products": products,
        "subscription": subscription,
        "conversations": _conversations(db, customer_id),
        "notes": _notes(db, customer_id),
    }


def spend_per_month(
    db: Session, customer_id: int, months: int = SPEND_MONTHS
) -> tuple[list[str], list[float]]:
    """A customer's spend per month (CNY) over the last ``months`` months with orders."""
    rows = db.execute(
        select(Order.created_at, Order.total_cents).where(Order.customer_id == customer_id)
    ).all()
    if not rows:
        return [], []
    end = max(r[0] for r in rows)
    labels: list[str] = []
    cursor = date(end.year, end.month, 1)
    for _ in range(months):
        labels.append(cursor.strftime(MONTH_FORMAT))
        cursor = (cursor - timedelta(days=1)).replace(day=1)
    labels.reverse()
    totals = dict.fromkeys(labels, 0.0)
    for created, cents in rows:
        month = created.strftime(MONTH_FORMAT)
        if month in totals:
            totals[month] += cents / 100
    return labels, [round(v, 2) for v in totals.values()]
