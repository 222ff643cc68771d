"""Retention offers made in conversations (``retention_offers``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from analytics.store.models.shop import Base, UTCDateTime

OUTCOME_OFFERED = "offered"
OUTCOME_ACCEPTED = "accepted"
OUTCOME_DECLINED = "declined"
#: No second offer to the same subscription within this time.
OFFER_COOLDOWN = timedelta(days=90)


class RetentionOfferRecord(Base):
    """One retention offer made in a conversation."""

    __tablename__ = "retention_offers"
    __table_args__ = (
        CheckConstraint("outcome IN ('offered', 'accepted', 'declined')", name="outcome"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    sender_id: Mapped[str] = mapped_column(String(255))
    offered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    outcome: Mapped[str] = mapped_column(String(16), default=OUTCOME_OFFERED)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
