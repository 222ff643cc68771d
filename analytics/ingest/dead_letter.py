"""Events the ingest worker could not process, and id gaps it is still waiting on.

A *dead letter* is one broker event that failed (a store error, a value the store refuses,
anything): it is recorded here, redacted and truncated, with the error, and the worker moves
on. The console lists them. An *ingest gap* is an ``events.id`` the SQL poller has not seen
although a later id is committed (a slower transaction may still commit it); the poller
keeps re-reading gaps until they are filled or provably abandoned.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from analytics.models import Base

logger = logging.getLogger(__name__)


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
