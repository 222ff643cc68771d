"""Customers: looked up by the external id the host website sends."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.store.models import Customer


def get_customer(session: Session, external_id: str) -> Customer | None:
    """Look up a customer by the external id the host website sends.

    Args:
        session: The database session.
        external_id: The external id, e.g. ``"cus_0001"``.

    Returns:
        The customer, or ``None`` if unknown.
    """
    if not external_id:
        return None
    return session.scalars(select(Customer).where(Customer.external_id == external_id)).first()
