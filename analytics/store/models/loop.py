"""Tables of the conversation loop: live risk, ingest checkpoints, dead letters, id gaps.

Written by :mod:`analytics.loop` (the ingest worker and live risk); read by the console.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from analytics.store.models.shop import Base


class LiveRisk(Base):
    """The live churn risk of one customer (current row)."""

    __tablename__ = "live_risk"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    score: Mapped[float] = mapped_column(Float)
    base_score: Mapped[float] = mapped_column(Float)
    level: Mapped[str] = mapped_column(String(16), index=True)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    features: Mapped[dict[str, float]] = mapped_column(JSON)
    sender_id: Mapped[str | None] = mapped_column(String(255))
    event_key: Mapped[str | None] = mapped_column(String(255))
    alert: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(index=True)

    def __repr__(self) -> str:
        return f"LiveRisk(customer_id={self.customer_id!r}, score={self.score:.3f})"


class IngestCheckpoint(Base):
    """Progress of one ingest source."""

    __tablename__ = "ingest_checkpoints"

    source: Mapped[str] = mapped_column(String(255), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, default=0)
    events: Mapped[int] = mapped_column(BigInteger, default=0)
    messages: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"IngestCheckpoint(source={self.source!r}, position={self.position!r})"


class DeadLetter(Base):
    """One event the ingest worker could not process."""

    __tablename__ = "ingest_dead_letters"
    __table_args__ = (Index("ix_ingest_dead_letters_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(255))
    position: Mapped[int | None] = mapped_column(BigInteger)
    event_key: Mapped[str | None] = mapped_column(String(255))
    sender_id: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"DeadLetter(id={self.id!r}, source={self.source!r}, position={self.position!r})"


class IngestGap(Base):
    """An event id below the poller's position that has not been seen yet."""

    __tablename__ = "ingest_gaps"

    source: Mapped[str] = mapped_column(String(255), primary_key=True)
    event_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    first_seen_at: Mapped[datetime]
    snapshot_xmax: Mapped[int | None] = mapped_column(BigInteger)

    def __repr__(self) -> str:
        return f"IngestGap(source={self.source!r}, event_id={self.event_id!r})"
