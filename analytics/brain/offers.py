"""Retention offers made by the bot before a cancellation, and what came of them.

Each offer is recorded when made (``offered``) and resolved when the customer
answers (``accepted`` keeps the subscription, ``declined`` lets the cancellation
go through). The record keeps the bot from offering twice in a row and tells the
founder (and the churn model) how well offers work.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.store.models import (
    OFFER_COOLDOWN,
    OUTCOME_ACCEPTED,
    OUTCOME_DECLINED,
    OUTCOME_OFFERED,
    RetentionOfferRecord,
    Subscription,
)

logger = logging.getLogger(__name__)


def recently_offered(session: Session, subscription: Subscription, at: datetime) -> bool:
    """Whether this subscription got an offer within :data:`OFFER_COOLDOWN` before ``at``."""
    since = at - OFFER_COOLDOWN
    found = session.scalars(
        select(RetentionOfferRecord.id).where(
            RetentionOfferRecord.subscription_id == subscription.id,
            RetentionOfferRecord.offered_at >= since,
        )
    ).first()
    return found is not None


def record_offer(
    session: Session, subscription: Subscription, *, kind: str, sender_id: str, at: datetime
) -> RetentionOfferRecord:
    """Records an offer just made to the subscription's customer."""
    record = RetentionOfferRecord(
        customer_id=subscription.customer_id,
        subscription_id=subscription.id,
        kind=kind,
        sender_id=sender_id,
        offered_at=at,
        outcome=OUTCOME_OFFERED,
    )
    session.add(record)
    session.flush()
    return record


def resolve_offer(
    session: Session, subscription: Subscription, *, accepted: bool, at: datetime
) -> RetentionOfferRecord | None:
    """Marks the subscription's open offer accepted or declined.

    Returns:
        The resolved record, or None when there was no open offer.
    """
    record = session.scalars(
        select(RetentionOfferRecord)
        .where(
            RetentionOfferRecord.subscription_id == subscription.id,
            RetentionOfferRecord.outcome == OUTCOME_OFFERED,
        )
        .order_by(RetentionOfferRecord.offered_at.desc())
    ).first()
    if record is None:
        logger.warning("No open retention offer for subscription %s", subscription.id)
        return None
    record.outcome = OUTCOME_ACCEPTED if accepted else OUTCOME_DECLINED
    record.resolved_at = at
    session.flush()
    return record
