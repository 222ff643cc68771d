"""The brain's latest scores per customer (``customer_scores``, one current row each).

Written by the scoring pipeline (:mod:`analytics.brain.pipeline`), read by the actions and
the console through :mod:`analytics.store.scores`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from analytics.store.models.shop import Base


class CustomerScore(Base):
    """The brain's latest scores for one customer."""

    __tablename__ = "customer_scores"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    segment: Mapped[str] = mapped_column(String(32), index=True)
    churn_risk: Mapped[float] = mapped_column(Float, index=True)
    churn_reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    clv_cents: Mapped[int] = mapped_column(Integer)
    expected_purchases_90d: Mapped[float] = mapped_column(Float)
    p_alive: Mapped[float] = mapped_column(Float)
    health: Mapped[float] = mapped_column(Float)
    health_components: Mapped[dict[str, float]] = mapped_column(JSON)
    lifecycle_stage: Mapped[str] = mapped_column(String(16), index=True)
    recommendations: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    model_version: Mapped[str] = mapped_column(String(64))
    scored_at: Mapped[datetime]

    def __repr__(self) -> str:
        return (
            f"CustomerScore(customer_id={self.customer_id!r}, segment={self.segment!r}, "
            f"model_version={self.model_version!r})"
        )
