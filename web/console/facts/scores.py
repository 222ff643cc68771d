"""The brain's scores as the console reads them: the optional ``customer_scores`` table.

The console never requires the brain: when the scoring run has not created the table yet,
every customer is estimated from orders (:mod:`web.console.facts.customers`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from sqlalchemy import Engine, MetaData, Table, func, inspect, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

logger = logging.getLogger(__name__)

SCORES_TABLE = "customer_scores"
SCORES_RECHECK_S = 60.0
"""How long a finding (table there or not) is trusted before the database is inspected again."""
_FINGERPRINT_COLUMNS = ("scored_at", "updated_at", "computed_at")


class ScoresTable:
    """Finds the brain's ``customer_scores`` table, if it exists (re-checked every minute)."""

    def __init__(self) -> None:
        self._table: Table | None = None
        self._checked_at = -1e9
        self._lock = threading.Lock()

    def get(self, engine: Engine) -> Table | None:
        """Returns the reflected table, or ``None`` when the brain has not created it."""
        with self._lock:
            if time.monotonic() - self._checked_at < SCORES_RECHECK_S:
                return self._table
            self._checked_at = time.monotonic()
            try:
                if inspect(engine).has_table(SCORES_TABLE):
                    self._table = Table(SCORES_TABLE, MetaData(), autoload_with=engine)
                else:
                    self._table = None
            except SQLAlchemyError:
                logger.exception("Could not inspect %s", SCORES_TABLE)
                self._table = None
            return self._table

    def reset(self) -> None:
        """Forgets what was found (the next call inspects the database again)."""
        with self._lock:
            self._checked_at = -1e9
            self._table = None


SCORES = ScoresTable()


def scores_table(db: Session) -> Table | None:
    """The brain's table on this session's database, or ``None``."""
    return SCORES.get(db.get_bind().engine)


def load_json(value: Any) -> Any:
    """Decodes a JSON column that some backends return as text."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def scores_for(db: Session, customer_id: int) -> dict[str, Any] | None:
    """The brain's row for one customer (every column), or ``None``."""
    table = scores_table(db)
    if table is None or "customer_id" not in table.c:
        return None
    query = select(table).where(table.c.customer_id == customer_id)
    if "scored_at" in table.c:
        query = query.order_by(table.c.scored_at.desc())
    row = db.execute(query.limit(1)).mappings().first()
    if row is None:
        return None
    return {key: load_json(value) for key, value in row.items()}


def scores_fingerprint(db: Session, table: Table | None) -> str:
    """Changes whenever the scoring run writes (row count and newest timestamps)."""
    if table is None:
        return "none"
    parts: list[Any] = [db.scalar(select(func.count()).select_from(table))]
    for name in _FINGERPRINT_COLUMNS:
        if name in table.c:
            parts.append(db.scalar(select(func.max(table.c[name]))))
    return "|".join(str(p) for p in parts)
