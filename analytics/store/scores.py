"""Stored brain scores per customer, read by the actions and the console.

The table ``customer_scores`` holds one current row per customer, written by
``python -m analytics score`` (:mod:`analytics.brain.pipeline`). Actions only read it
(:func:`get_scores`), so no model is fit or even loaded on a request path.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.store.models import Customer, CustomerScore

__all__ = [
    "CustomerScore",
    "get_scores",
    "get_scores_by_external_id",
]


def get_scores(session: Session, customer_id: int) -> CustomerScore | None:
    """The stored scores of a customer (internal id), or ``None`` if not scored yet."""
    return session.get(CustomerScore, customer_id)


def get_scores_by_external_id(session: Session, external_id: str) -> CustomerScore | None:
    """The stored scores of a customer by the external id the host website sends."""
    stmt = (
        select(CustomerScore)
        .join(Customer, Customer.id == CustomerScore.customer_id)
        .where(Customer.external_id == external_id)
    )
    return session.scalars(stmt).first()
