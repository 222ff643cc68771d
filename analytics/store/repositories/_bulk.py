"""Multi-row inserts that leave rows with an existing unique key alone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Insert, Table, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_ignoring_conflicts(
    session: Session, table: Table, key: str, rows: Sequence[Mapping[str, Any]]
) -> int:
    """Multi-row ``INSERT .. ON CONFLICT (key) DO NOTHING`` (PostgreSQL and SQLite).

    A row whose ``key`` another transaction inserted meanwhile is skipped, not an error:
    concurrent writers of the same rows both succeed and read the stored row back.

    Args:
        session: The database session.
        table: The table.
        key: The unique column.
        rows: The rows.

    Returns:
        How many rows were inserted.
    """
    dialect = session.get_bind().dialect.name
    stmt: Insert
    if dialect == "postgresql":
        stmt = postgresql.insert(table).on_conflict_do_nothing(index_elements=[key])
    elif dialect == "sqlite":
        stmt = sqlite.insert(table).on_conflict_do_nothing(index_elements=[key])
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        stmt = insert(table)
    outcome = session.execute(stmt, rows)
    count = getattr(outcome, "rowcount", None)
    return int(count) if isinstance(count, int) and count >= 0 else len(rows)
