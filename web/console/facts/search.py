"""The full-text index of transcripts (created at run time: it depends on the database).

SQLite: an FTS5 table with the trigram tokenizer (substring search that works for Chinese as
well as English; one- and two-character needles are answered from the index's vocabulary,
:data:`FTS_VOCAB`). PostgreSQL: a pg_trgm GIN index on
``console_conversation_facts.search_text``. The queries are in
:mod:`web.console.queries.search`.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

logger = logging.getLogger(__name__)

FTS_TABLE = "console_search"
"""The FTS5 table (SQLite): ``rowid`` is the conversation id, ``body`` its text."""
SEARCH_PAD = "\n\n"
"""Appended to every indexed body: each character then starts a trigram."""
FTS_VOCAB = "console_search_vocab"
"""An ``fts5vocab`` table (``row``: one row per indexed trigram) over :data:`FTS_TABLE`:
short needles look up the trigrams that start with them (every body ends with
:data:`SEARCH_PAD`, so every occurrence of a one- or two-character needle starts some
trigram)."""
SQLITE = "sqlite"
POSTGRESQL = "postgresql"


def ensure_search(engine: Engine) -> None:
    """Creates the database-specific full-text search structures if missing."""
    with engine.begin() as conn:
        if conn.dialect.name == SQLITE:
            conn.exec_driver_sql(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} "
                "USING fts5(body, tokenize='trigram')"
            )
            conn.exec_driver_sql(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_VOCAB} "
                f"USING fts5vocab({FTS_TABLE}, 'row')"
            )
        elif conn.dialect.name == POSTGRESQL:
            try:
                with conn.begin_nested():
                    conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
                    conn.exec_driver_sql(
                        "CREATE INDEX IF NOT EXISTS ix_console_facts_search_trgm "
                        "ON console_conversation_facts USING gin (search_text gin_trgm_ops)"
                    )
            except SQLAlchemyError:
                logger.warning("pg_trgm is not available; search scans the facts table")
