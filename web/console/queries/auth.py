"""Queries of signing in and the password page: the founder's account row."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.store.models.console import ConsoleUser


def user_by_id(db: Session, user_id: int) -> ConsoleUser | None:
    """A console user by id, read fresh from the store (``None`` when deleted)."""
    return db.scalar(
        select(ConsoleUser)
        .where(ConsoleUser.id == user_id)
        .execution_options(populate_existing=True)
    )
