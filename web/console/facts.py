"""Summaries the console keeps beside the store so that lists stay fast at volume.

Two tables, both rebuilt from the store (never the source of truth):

* ``console_customer_facts``: per customer, spend and orders, and segment, churn risk and
  lifetime value, copied from the brain's ``customer_scores`` when that table exists,
  else estimated from orders. Refreshed when orders, customers or scores change.
* ``console_conversation_facts``: per conversation, the intents seen, whether the bot fell
  back, a preview, the searchable text and the customer's value at risk
  (``clv_cents * churn_risk``). Refreshed incrementally from a watermark on
  ``messages.id`` (the ingest worker only appends messages).

Full-text search uses SQLite FTS5 with the trigram tokenizer (substring search that works
for Chinese as well as English) or, on PostgreSQL, a pg_trgm GIN index on
``search_text``; both are created here at run time because they depend on the database.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Table, delete, func, insert, inspect, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from analytics.models import (
    ORDER_CANCELLED,
    ORDER_REFUNDED,
    ROLE_USER,
    Customer,
    Message,
    Order,
)
from web.console.models import ConsoleState, ConversationFacts, CustomerFacts

logger = logging.getLogger(__name__)

SCORES_TABLE = "customer_scores"
FTS_TABLE = "console_search"
FALLBACK_INTENT = "nlu_fallback"
FALLBACK_ACTIONS = frozenset({"utter_fallback", "action_default_fallback", "utter_default"})
STATE_MESSAGE_WATERMARK = "facts_message_id"
STATE_CUSTOMER_FINGERPRINT = "customer_facts_fp"
SEARCH_TEXT_MAX = 4000
PREVIEW_MAX = 200
INCREMENTAL_LIMIT = 5000
SYNC_INTERVAL_S = 2.0
CUSTOMER_CHECK_INTERVAL_S = 30.0
SCORES_RECHECK_S = 60.0
BATCH = 2000

SEGMENT_NEW = "new"
SEGMENT_PROSPECT = "prospect"
SEGMENT_AT_RISK = "at_risk"
SEGMENT_LOYAL = "loyal"
SEGMENT_ACTIVE = "active"
SOURCE_BRAIN = "brain"
SOURCE_ESTIMATE = "estimate"

RISK_LOW = 0.3
RISK_HIGH = 0.6


def risk_band(churn_risk: float | None) -> str:
    """Returns ``low``, ``medium`` or ``high`` for a churn probability."""
    if churn_risk is None:
        return "low"
    if churn_risk >= RISK_HIGH:
        return "high"
    return "medium" if churn_risk >= RISK_LOW else "low"


# --- the brain's scores (optional) ------------------------------------------------------


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
                    from sqlalchemy import MetaData

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
    table = SCORES.get(db.get_bind())  # type: ignore[arg-type]
    if table is None or "customer_id" not in table.c:
        return None
    query = select(table).where(table.c.customer_id == customer_id)
    if "scored_at" in table.c:
        query = query.order_by(table.c.scored_at.desc())
    row = db.execute(query.limit(1)).mappings().first()
    if row is None:
        return None
    return {key: load_json(value) for key, value in row.items()}


def _scores_fingerprint(db: Session, table: Table | None) -> str:
    if table is None:
        return "none"
    parts: list[Any] = [db.scalar(select(func.count()).select_from(table))]
    for name in ("scored_at", "updated_at", "computed_at"):
        if name in table.c:
            parts.append(db.scalar(select(func.max(table.c[name]))))
    return "|".join(str(p) for p in parts)


# --- customer facts ---------------------------------------------------------------------


def estimate(
    spend_cents: int,
    order_count: int,
    last_order_at: datetime | None,
    created_at: datetime,
    now: datetime,
) -> tuple[str, float, int]:
    """Estimates segment, churn risk and value of a customer from orders alone.

    Used only when the brain has not scored the customer.

    Returns:
        ``(segment, churn_risk, clv_cents)``; the value is the spend so far.
    """
    if order_count == 0 or last_order_at is None:
        new = (now - created_at).days < 30
        return (SEGMENT_NEW if new else SEGMENT_PROSPECT), (0.3 if new else 0.7), 0
    days = max(0.0, (now - last_order_at).total_seconds() / 86400)
    churn = min(0.95, max(0.05, days / 150))
    if churn >= RISK_HIGH:
        segment = SEGMENT_AT_RISK
    elif order_count >= 6:
        segment = SEGMENT_LOYAL
    else:
        segment = SEGMENT_ACTIVE
    return segment, round(churn, 3), spend_cents


def _customer_fingerprint(db: Session, scores: Table | None) -> str:
    orders = db.execute(select(func.count(Order.id), func.max(Order.id))).one()
    customers = db.execute(select(func.count(Customer.id), func.max(Customer.id))).one()
    return f"{tuple(orders)}|{tuple(customers)}|{_scores_fingerprint(db, scores)}"


def _state(db: Session, key: str) -> str | None:
    return db.scalar(select(ConsoleState.value).where(ConsoleState.key == key))


def _set_state(db: Session, key: str, value: str) -> None:
    row = db.get(ConsoleState, key)
    if row is None:
        db.add(ConsoleState(key=key, value=value))
    else:
        row.value = value


def refresh_customer_facts(db: Session, *, force: bool = False) -> bool:
    """Rebuilds ``console_customer_facts`` when orders, customers or scores changed.

    Args:
        db: A session on the store (committed here).
        force: Rebuild even when nothing seems to have changed.

    Returns:
        Whether the table was rebuilt.
    """
    engine = db.get_bind()
    scores = SCORES.get(engine)  # type: ignore[arg-type]
    fingerprint = _customer_fingerprint(db, scores)
    if not force and _state(db, STATE_CUSTOMER_FINGERPRINT) == fingerprint:
        return False
    started = time.perf_counter()
    live = Order.status.not_in((ORDER_CANCELLED, ORDER_REFUNDED))
    spend = (
        select(
            Order.customer_id.label("cid"),
            func.coalesce(func.sum(Order.total_cents).filter(live), 0).label("spend"),
            func.count(Order.id).filter(live).label("n"),
            func.max(Order.created_at).label("last"),
        )
        .group_by(Order.customer_id)
        .subquery()
    )
    rows = db.execute(
        select(Customer.id, Customer.created_at, spend.c.spend, spend.c.n, spend.c.last).outerjoin(
            spend, spend.c.cid == Customer.id
        )
    ).all()
    brain: dict[int, dict[str, Any]] = {}
    if scores is not None and "customer_id" in scores.c:
        wanted = [c for c in ("segment", "churn_risk", "clv_cents") if c in scores.c]
        for row in db.execute(
            select(scores.c.customer_id, *[scores.c[c] for c in wanted])
        ).mappings():
            brain[int(row["customer_id"])] = dict(row)
    now = datetime.now(UTC)
    values: list[dict[str, Any]] = []
    for cid, created_at, spend_cents, n, last in rows:
        if isinstance(last, str):
            last = datetime.fromisoformat(last)
        if last is not None and last.tzinfo is None:
            last = last.replace(tzinfo=UTC)
        segment, churn, clv = estimate(int(spend_cents or 0), int(n or 0), last, created_at, now)
        source = SOURCE_ESTIMATE
        scored = brain.get(cid)
        if scored is not None:
            source = SOURCE_BRAIN
            segment = str(scored.get("segment") or segment)
            if scored.get("churn_risk") is not None:
                churn = float(scored["churn_risk"])
            if scored.get("clv_cents") is not None:
                clv = int(scored["clv_cents"])
        values.append(
            {
                "customer_id": cid,
                "spend_cents": int(spend_cents or 0),
                "order_count": int(n or 0),
                "last_order_at": last,
                "segment": segment,
                "churn_risk": churn,
                "clv_cents": clv,
                "source": source,
            }
        )
    db.execute(delete(CustomerFacts))
    for chunk in _chunks(values, BATCH):
        db.execute(insert(CustomerFacts), chunk)
    db.execute(
        text(
            "UPDATE console_conversation_facts SET risk_base_cents = COALESCE(("
            " SELECT CAST(cf.clv_cents * cf.churn_risk AS INTEGER)"
            " FROM conversations c JOIN console_customer_facts cf ON cf.customer_id = c.customer_id"
            " WHERE c.id = console_conversation_facts.conversation_id), 0)"
        )
    )
    _set_state(db, STATE_CUSTOMER_FINGERPRINT, fingerprint)
    db.commit()
    logger.info(
        "Customer facts rebuilt for %d customers (%s) in %.2f s",
        len(values),
        "brain scores" if scores is not None else "estimates",
        time.perf_counter() - started,
    )
    return True


# --- conversation facts -----------------------------------------------------------------


@dataclass
class _Acc:
    intents: list[str] = field(default_factory=list)
    fallback: bool = False
    count: int = 0
    min_conf: float | None = None
    sentiments: list[float] = field(default_factory=list)
    preview: str = ""
    texts: list[str] = field(default_factory=list)
    size: int = 0
    last_id: int = 0

    def add(self, row: Any) -> None:
        mid, role, body, intent, confidence, sentiment, action = row
        self.count += 1
        self.last_id = max(self.last_id, int(mid))
        if role == ROLE_USER:
            if intent and intent not in self.intents:
                self.intents.append(intent)
            if intent == FALLBACK_INTENT:
                self.fallback = True
            if confidence is not None:
                self.min_conf = (
                    confidence if self.min_conf is None else min(self.min_conf, confidence)
                )
            if sentiment is not None:
                self.sentiments.append(float(sentiment))
            if not self.preview and body:
                self.preview = body[:PREVIEW_MAX]
        if action in FALLBACK_ACTIONS:
            self.fallback = True
        if body and self.size < SEARCH_TEXT_MAX:
            self.texts.append(body)
            self.size += len(body) + 1

    def row(self, conversation_id: int) -> dict[str, Any]:
        return {
            "conversation_id": conversation_id,
            "intents": (" " + " ".join(self.intents) + " ")[:1000] if self.intents else "",
            "had_fallback": self.fallback,
            "message_count": self.count,
            "min_confidence": self.min_conf,
            "avg_sentiment": (sum(self.sentiments) / len(self.sentiments))
            if self.sentiments
            else None,
            "preview": self.preview,
            "search_text": "\n".join(self.texts)[:SEARCH_TEXT_MAX].lower(),
            "risk_base_cents": 0,
            "last_message_id": self.last_id,
        }


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


_MESSAGE_COLUMNS = (
    Message.id,
    Message.role,
    Message.text,
    Message.intent,
    Message.confidence,
    Message.sentiment,
    Message.action,
)


def _aggregate(db: Session, conversation_ids: Iterable[int] | None) -> dict[int, _Acc]:
    accs: dict[int, _Acc] = {}
    if conversation_ids is None:
        query = select(Message.conversation_id, *_MESSAGE_COLUMNS).order_by(
            Message.conversation_id, Message.created_at, Message.id
        )
        for row in db.execute(query.execution_options(yield_per=20000)):
            accs.setdefault(row[0], _Acc()).add(row[1:])
        return accs
    ids = list(conversation_ids)
    for chunk in _chunks(ids, 500):
        query = (
            select(Message.conversation_id, *_MESSAGE_COLUMNS)
            .where(Message.conversation_id.in_(chunk))
            .order_by(Message.conversation_id, Message.created_at, Message.id)
        )
        for row in db.execute(query):
            accs.setdefault(row[0], _Acc()).add(row[1:])
    return accs


def is_sqlite(db: Session) -> bool:
    """Whether the store is SQLite."""
    return db.get_bind().dialect.name == "sqlite"


def ensure_search(engine: Engine) -> None:
    """Creates the database-specific full-text search structures if missing."""
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} "
                "USING fts5(body, tokenize='trigram')"
            )
        elif conn.dialect.name == "postgresql":
            try:
                with conn.begin_nested():
                    conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
                    conn.exec_driver_sql(
                        "CREATE INDEX IF NOT EXISTS ix_console_facts_search_trgm "
                        "ON console_conversation_facts USING gin (search_text gin_trgm_ops)"
                    )
            except SQLAlchemyError:
                logger.warning("pg_trgm is not available; search scans the facts table")


def _write_facts(db: Session, rows: list[dict[str, Any]], *, full: bool) -> None:
    ids = [r["conversation_id"] for r in rows]
    sqlite = is_sqlite(db)
    if full:
        db.execute(delete(ConversationFacts))
        if sqlite:
            db.execute(text(f"DELETE FROM {FTS_TABLE}"))
    else:
        for chunk in _chunks(ids, 500):
            db.execute(
                delete(ConversationFacts).where(ConversationFacts.conversation_id.in_(chunk))
            )
            if sqlite:
                db.execute(
                    text(f"DELETE FROM {FTS_TABLE} WHERE rowid IN ({','.join(map(str, chunk))})")
                )
    for chunk in _chunks(rows, BATCH):
        db.execute(insert(ConversationFacts), list(chunk))
        if sqlite:
            db.execute(
                text(
                    f"INSERT INTO {FTS_TABLE}(rowid, body) VALUES (:conversation_id, :search_text)"
                ),
                [
                    {"conversation_id": r["conversation_id"], "search_text": r["search_text"]}
                    for r in chunk
                ],
            )
    id_filter = "" if full else f" WHERE conversation_id IN ({','.join(map(str, ids))})"
    if ids:
        db.execute(
            text(
                "UPDATE console_conversation_facts SET risk_base_cents = COALESCE(("
                " SELECT CAST(cf.clv_cents * cf.churn_risk AS INTEGER)"
                " FROM conversations c JOIN console_customer_facts cf"
                " ON cf.customer_id = c.customer_id"
                " WHERE c.id = console_conversation_facts.conversation_id), 0)" + id_filter
            )
        )


class FactsSync:
    """Keeps both facts tables current; cheap to call on every request (throttled)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_sync = -1e9
        self._last_customer_check = -1e9
        self._search_ready: set[str] = set()

    def reset(self) -> None:
        """Forgets the throttling state (the next call checks the database)."""
        with self._lock:
            self._last_sync = -1e9
            self._last_customer_check = -1e9
            self._search_ready.clear()

    def sync(self, db: Session, *, force: bool = False) -> int:
        """Brings the facts up to date with the store.

        Args:
            db: A session on the store.
            force: Ignore the throttle.

        Returns:
            How many conversations were (re)summarised.
        """
        now = time.monotonic()
        if not force and now - self._last_sync < SYNC_INTERVAL_S:
            return 0
        with self._lock:
            engine = db.get_bind()
            key = str(engine.url)  # type: ignore[union-attr]
            if key not in self._search_ready:
                ensure_search(engine)  # type: ignore[arg-type]
                self._search_ready.add(key)
            if force or now - self._last_customer_check > CUSTOMER_CHECK_INTERVAL_S:
                self._last_customer_check = now
                refresh_customer_facts(db)
            changed = self._sync_conversations(db)
            self._last_sync = time.monotonic()
            return changed

    def _sync_conversations(self, db: Session) -> int:
        watermark = int(_state(db, STATE_MESSAGE_WATERMARK) or 0)
        newest = int(db.scalar(select(func.max(Message.id))) or 0)
        if newest == watermark:
            return 0
        started = time.perf_counter()
        full = newest < watermark or watermark == 0
        ids: list[int] | None = None
        if not full:
            ids = list(
                db.scalars(
                    select(Message.conversation_id)
                    .where(Message.id > watermark)
                    .distinct()
                    .limit(INCREMENTAL_LIMIT + 1)
                )
            )
            full = len(ids) > INCREMENTAL_LIMIT
        accs = _aggregate(db, None if full else ids)
        rows = [acc.row(cid) for cid, acc in accs.items()]
        _write_facts(db, rows, full=full)
        _set_state(db, STATE_MESSAGE_WATERMARK, str(newest))
        db.commit()
        logger.info(
            "Conversation facts: %d conversations %s in %.2f s",
            len(rows),
            "rebuilt" if full else "updated",
            time.perf_counter() - started,
        )
        return len(rows)


FACTS = FactsSync()
