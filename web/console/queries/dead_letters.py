"""Queries of the dead-letter page and badge: events the ingest worker could not store."""

from __future__ import annotations

from sqlalchemy.orm import Session

from analytics.loop.ingest import dead_letter
from analytics.store.models import DeadLetter

DEAD_LETTERS_SHOWN = 100


def dead_letter_count(db: Session) -> int:
    """How many events are in the dead-letter table."""
    return dead_letter.count(db)


def recent_dead_letters(db: Session, limit: int = DEAD_LETTERS_SHOWN) -> list[DeadLetter]:
    """The newest dead letters (redacted, truncated by the ingest worker)."""
    return list(dead_letter.recent(db, limit))
