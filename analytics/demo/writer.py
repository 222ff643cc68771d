"""Write the generated demo shop into a migrated store (bulk insert), count and clear it."""

from __future__ import annotations

import logging

from sqlalchemy import Engine, func, insert, select, text
from tqdm import tqdm

from analytics.demo.tables import ShopData
from analytics.store.models import ALL_MODELS, Base

logger = logging.getLogger(__name__)

INSERT_CHUNK = 5000


def tables_in_insert_order() -> list[str]:
    """Return the store's table names, parents before children."""
    return [model.__tablename__ for model in ALL_MODELS]


def count_rows(engine: Engine) -> dict[str, int]:
    """Count the rows of every store table.

    Args:
        engine: The engine of a migrated store.

    Returns:
        Rows per table name.
    """
    counts: dict[str, int] = {}
    with engine.connect() as conn:
        for model in ALL_MODELS:
            table = Base.metadata.tables[model.__tablename__]
            counts[table.name] = conn.execute(select(func.count()).select_from(table)).scalar_one()
    return counts


def clear_store(engine: Engine) -> None:
    """Delete every row of the store tables (children first).

    Args:
        engine: The engine of a migrated store.
    """
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(tables_in_insert_order())
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            return
        for name in reversed(tables_in_insert_order()):
            conn.execute(Base.metadata.tables[name].delete())


def write_shop(engine: Engine, data: ShopData, *, progress: bool = False) -> None:
    """Bulk-insert generated rows into an empty, migrated store in one transaction.

    On PostgreSQL the id sequences are moved past the inserted ids afterwards.

    Args:
        engine: The engine of the store.
        data: The generated data.
        progress: Show a tqdm progress bar.
    """
    total = sum(len(rows) for rows in data.tables.values())
    with (
        engine.begin() as conn,
        tqdm(total=total, desc="insert", unit="row", disable=not progress, leave=False) as bar,
    ):
        for name in tables_in_insert_order():
            rows = data.tables[name]
            table = Base.metadata.tables[name]
            for start in range(0, len(rows), INSERT_CHUNK):
                chunk = rows[start : start + INSERT_CHUNK]
                conn.execute(insert(table), chunk)
                bar.update(len(chunk))
        if conn.dialect.name == "postgresql":
            for name in tables_in_insert_order():
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM {name}"
                    )
                )
