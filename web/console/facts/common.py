"""Small helpers shared by the console's summaries: chunking, the state table, the backend."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.store.models.console import ConsoleState

BATCH = 2000
"""Rows per bulk ``INSERT``."""


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """``items`` in slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def is_sqlite(db: Session) -> bool:
    """Whether the store is SQLite."""
    return db.get_bind().dialect.name == "sqlite"


def get_state(db: Session, key: str) -> str | None:
    """A value of ``console_state`` (watermarks, fingerprints), or ``None``."""
    return db.scalar(select(ConsoleState.value).where(ConsoleState.key == key))


def set_state(db: Session, key: str, value: str) -> None:
    """Sets a value of ``console_state`` (not committed here)."""
    row = db.get(ConsoleState, key)
    if row is None:
        db.add(ConsoleState(key=key, value=value))
    else:
        row.value = value
