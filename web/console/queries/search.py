"""Transcript search for the inbox, and the planner hint its filters share.

On SQLite, needles of 3+ characters are a phrase query on the FTS5 trigram index; shorter
needles (e.g. two Chinese characters) become an ``OR`` of the index terms that start with
them (every indexed body ends with two newlines, so each occurrence of the needle starts a
trigram); needles with too many such terms scan. On PostgreSQL, ``LIKE`` on
``search_text`` uses the pg_trgm index (3+ characters) or scans. The index itself is built
by :mod:`web.console.facts.search`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import column, false, literal_column, select, table, text
from sqlalchemy.orm import Session

from analytics.store.models.console import ConversationFacts
from web.console.facts import FTS_TABLE, FTS_VOCAB, is_sqlite

SHORT_NEEDLE_MAX_TERMS = 64
"""Above this many index terms a one- or two-character needle is answered by a scan."""
PHRASE_MIN_CHARS = 3
"""Needles from this length are a phrase query on the trigram index."""
_LAST_CHAR = "\U0010ffff"


def _like_needle(needle: str) -> str:
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _match_phrase(needle: str) -> str:
    return '"' + needle.replace('"', '""') + '"'


def key(db: Session, column_: Any, driving: bool) -> Any:
    """``column_``, or on SQLite ``+column_`` when it must not drive the query plan.

    SQLite's planner (without statistics for subquery results) likes to drive an inbox
    query from an ``IN (subquery)`` and sort every match; for filters that match many
    conversations, scanning the inbox's order index and checking each row is far cheaper.
    The unary ``+`` keeps the condition but takes it out of index selection.
    """
    if driving or not is_sqlite(db):
        return column_
    return literal_column(f"+{column_.table.name}.{column_.name}")


def search_condition(db: Session, q: str, *, driving: bool = True) -> Any:
    """A condition matching conversations whose transcript contains ``q`` (any case).

    Args:
        db: A session on the store.
        q: The needle as typed.
        driving: Whether the condition may drive the query (else it is only checked per
            row of the inbox's index order; SQLite only).

    Returns:
        A SQL condition on the conversation facts.
    """
    needle = q.strip().lower()
    facts_id = key(db, ConversationFacts.conversation_id, driving)
    if is_sqlite(db):
        expression = ""
        if len(needle) >= PHRASE_MIN_CHARS:
            expression = _match_phrase(needle)
        else:
            vocab = table(FTS_VOCAB, column("term"))
            terms = list(
                db.scalars(
                    select(vocab.c.term)
                    .where(vocab.c.term >= needle, vocab.c.term < needle + _LAST_CHAR)
                    .limit(SHORT_NEEDLE_MAX_TERMS + 1)
                )
            )
            if not terms:
                return false()
            if len(terms) <= SHORT_NEEDLE_MAX_TERMS:
                expression = " OR ".join(_match_phrase(t) for t in terms)
        if expression:
            fts = table(FTS_TABLE, column("rowid"))
            return facts_id.in_(
                select(fts.c.rowid).where(
                    text(f"{FTS_TABLE} MATCH :fts_query").bindparams(fts_query=expression)
                )
            )
    return ConversationFacts.search_text.like(_like_needle(needle), escape="\\")
