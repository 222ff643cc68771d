"""Customer facts: ``console_customer_facts``, one row per customer.

Spend and orders, and segment, churn risk and lifetime value, copied from the brain's
``customer_scores`` when that table exists, else estimated from orders
(:func:`estimate`). Refreshed when orders, customers or scores change; only the customers
whose values changed are rewritten. Segments and risk bands are those of
:mod:`analytics.core.vocabulary`, so an estimate and a brain score read the same way.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.orm import Session

from analytics.core.vocabulary import (
    RISK_HIGH,
    SEGMENT_AT_RISK,
    SEGMENT_LOYAL,
    SEGMENT_NEW,
    SEGMENT_POTENTIAL,
)
from analytics.store.models import ORDER_CANCELLED, ORDER_REFUNDED, Customer, Order
from analytics.store.models.console import CustomerFacts
from web.console.facts.common import BATCH, chunks, get_state, set_state
from web.console.facts.scores import scores_fingerprint, scores_table

logger = logging.getLogger(__name__)

STATE_CUSTOMER_FINGERPRINT = "customer_facts_fp"
SOURCE_BRAIN = "brain"
SOURCE_ESTIMATE = "estimate"

CHURN_HORIZON_DAYS = 150.0
"""Days without an order at which the estimated churn risk would reach 1."""
MIN_ESTIMATED_RISK = 0.05
MAX_ESTIMATED_RISK = 0.95
NEW_CUSTOMER_DAYS = 30
"""A customer without orders who signed up less than this many days ago is new."""
NEW_CUSTOMER_RISK = 0.3
"""Estimated risk of a new customer without orders."""
DORMANT_CUSTOMER_RISK = 0.7
"""Estimated risk of a customer who signed up long ago and never ordered."""
LOYAL_ORDERS = 6
"""From this many orders a customer who is not at risk counts as loyal."""
_COMPARED = ("spend_cents", "order_count", "segment", "churn_risk", "clv_cents", "source")


def recency_risk(days: float) -> float:
    """The estimated churn risk of a customer whose latest order is ``days`` old.

    Args:
        days: Days since the latest order.

    Returns:
        ``days / CHURN_HORIZON_DAYS`` kept within [0.05, 0.95].
    """
    return min(MAX_ESTIMATED_RISK, max(MIN_ESTIMATED_RISK, days / CHURN_HORIZON_DAYS))


def estimate(
    spend_cents: int,
    order_count: int,
    last_order_at: datetime | None,
    created_at: datetime,
    now: datetime,
) -> tuple[str, float, int]:
    """Estimates segment, churn risk and value of a customer from orders alone.

    Used only when the brain has not scored the customer. Segments follow the brain's
    naming: no orders or one order is ``new``; at high risk (:data:`RISK_HIGH`) is
    ``at_risk``; six orders and more is ``loyal``; else ``potential``.

    Args:
        spend_cents: Spend on orders that were not cancelled or refunded.
        order_count: How many such orders.
        last_order_at: When the latest order was placed.
        created_at: When the customer signed up.
        now: The time of the estimate.

    Returns:
        ``(segment, churn_risk, clv_cents)``; the value is the spend so far.
    """
    if order_count == 0 or last_order_at is None:
        new = (now - created_at).days < NEW_CUSTOMER_DAYS
        return SEGMENT_NEW, (NEW_CUSTOMER_RISK if new else DORMANT_CUSTOMER_RISK), 0
    days = max(0.0, (now - last_order_at).total_seconds() / 86400)
    churn = recency_risk(days)
    if churn >= RISK_HIGH:
        segment = SEGMENT_AT_RISK
    elif order_count >= LOYAL_ORDERS:
        segment = SEGMENT_LOYAL
    elif order_count == 1:
        segment = SEGMENT_NEW
    else:
        segment = SEGMENT_POTENTIAL
    return segment, round(churn, 3), spend_cents


def _customer_fingerprint(db: Session, scores: Table | None) -> str:
    orders = db.execute(select(func.count(Order.id), func.max(Order.id))).one()
    customers = db.execute(select(func.count(Customer.id), func.max(Customer.id))).one()
    return f"{tuple(orders)}|{tuple(customers)}|{scores_fingerprint(db, scores)}"


def _aware(value: Any) -> datetime | None:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def _brain_rows(db: Session, scores: Table | None) -> dict[int, dict[str, Any]]:
    if scores is None or "customer_id" not in scores.c:
        return {}
    wanted = [c for c in ("segment", "churn_risk", "clv_cents") if c in scores.c]
    query = select(scores.c.customer_id, *[scores.c[c] for c in wanted])
    return {int(row["customer_id"]): dict(row) for row in db.execute(query).mappings()}


def customer_values(db: Session, scores: Table | None) -> dict[int, dict[str, Any]]:
    """Every customer's facts as they should be now (brain scores, else estimates)."""
    live = Order.status.not_in((ORDER_CANCELLED, ORDER_REFUNDED))
    spend = (
        select(
            Order.customer_id.label("cid"),
            func.coalesce(func.sum(Order.total_cents).filter(live), 0).label("spend"),
            func.count(Order.id).filter(live).label("n"),
            func.max(Order.created_at).label("last"),
        )
        .group_by(Order.customer_id)
        .subquery()
    )
    rows = db.execute(
        select(Customer.id, Customer.created_at, spend.c.spend, spend.c.n, spend.c.last).outerjoin(
            spend, spend.c.cid == Customer.id
        )
    ).all()
    brain = _brain_rows(db, scores)
    now = datetime.now(UTC)
    values: dict[int, dict[str, Any]] = {}
    for cid, created_at, spend_cents, n, last_value in rows:
        last = _aware(last_value)
        segment, churn, clv = estimate(int(spend_cents or 0), int(n or 0), last, created_at, now)
        source = SOURCE_ESTIMATE
        scored = brain.get(cid)
        if scored is not None:
            source = SOURCE_BRAIN
            segment = str(scored.get("segment") or segment)
            if scored.get("churn_risk") is not None:
                churn = float(scored["churn_risk"])
            if scored.get("clv_cents") is not None:
                clv = int(scored["clv_cents"])
        values[cid] = {
            "customer_id": cid,
            "spend_cents": int(spend_cents or 0),
            "order_count": int(n or 0),
            "last_order_at": last,
            "segment": segment,
            "churn_risk": churn,
            "clv_cents": clv,
            "source": source,
        }
    return values


def _risk_key(row: dict[str, Any]) -> tuple[Any, ...]:
    """What of a customer's facts matters for comparisons.

    The estimate's risk drifts daily with the clock, so it is rounded to avoid rewriting
    every customer every day.
    """
    return tuple(
        round(float(row[name]), 2) if name == "churn_risk" else row[name] for name in _COMPARED
    )


def refresh_customer_facts(db: Session, *, force: bool = False) -> list[int] | None:
    """Brings ``console_customer_facts`` up to date when orders, customers or scores changed.

    Only customers whose values changed are rewritten. The conversations of those customers
    need their sort key recomputed afterwards
    (:func:`web.console.facts.sort_key.update_risk`).

    Args:
        db: A session on the store (committed here).
        force: Compare every customer even when the fingerprint did not change.

    Returns:
        The ids of customers whose values changed, or ``None`` when nothing was checked.
    """
    scores = scores_table(db)
    fingerprint = _customer_fingerprint(db, scores)
    if not force and get_state(db, STATE_CUSTOMER_FINGERPRINT) == fingerprint:
        return None
    started = time.perf_counter()
    values = customer_values(db, scores)
    stored = select(CustomerFacts.customer_id, *[getattr(CustomerFacts, c) for c in _COMPARED])
    old = {int(r["customer_id"]): dict(r) for r in db.execute(stored).mappings()}
    changed = [
        cid
        for cid, row in values.items()
        if cid not in old or _risk_key(old[cid]) != _risk_key(row)
    ]
    gone = [cid for cid in old if cid not in values]
    for chunk in chunks(changed + gone, 500):
        db.execute(delete(CustomerFacts).where(CustomerFacts.customer_id.in_(chunk)))
    for chunk in chunks([values[c] for c in changed], BATCH):
        db.execute(insert(CustomerFacts), list(chunk))
    set_state(db, STATE_CUSTOMER_FINGERPRINT, fingerprint)
    db.commit()
    logger.info(
        "Customer facts: %d of %d customers changed (%s) in %.2f s",
        len(changed) + len(gone),
        len(values),
        "brain scores" if scores is not None else "estimates",
        time.perf_counter() - started,
    )
    return changed + gone
