"""Summaries the console keeps beside the store so that lists stay fast at volume.

Three tables, all derived from the store (never the source of truth):

* ``console_customer_facts``: per customer, spend and orders, and segment, churn risk and
  lifetime value, copied from the brain's ``customer_scores`` when that table exists,
  else estimated from orders. Refreshed when orders, customers or scores change; only the
  customers whose values changed are rewritten.
* ``console_conversation_facts``: per conversation, whether the bot fell back, a preview,
  the searchable text, and the inbox's sort key ``risk_cents`` (customer value x churn risk
  x "unresolved" weight) with a copy of ``last_message_at``. New messages are summarised
  incrementally from a watermark on ``messages.id`` (the ingest worker only appends
  messages); a database trigger on ``conversations`` (migration ``0400_console_speed``)
  keeps the sort key current when any writer changes a conversation's status, hand-off,
  reviewed mark or customer.
* ``console_conversation_intents``: (intent, conversation) pairs for the intent filter.

A small backlog is summarised inside the request that notices it; a large one (a fresh
store, a bulk import, new scores for every customer) is worked off by a background thread
in chunks of :data:`CHUNK` conversations, one short transaction each, while the console
keeps answering (the inbox shows the progress). :func:`refresh` does the same work
synchronously for batch jobs (the volume generator, an import, the scoring run).

Full-text search uses SQLite FTS5 with the trigram tokenizer (substring search that works
for Chinese as well as English; one- and two-character needles are answered from the
index's vocabulary) or, on PostgreSQL, a pg_trgm GIN index on ``search_text``; both are
created here at run time because they depend on the database.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Engine, Table, delete, func, insert, inspect, select, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from analytics.store.models import (
    ORDER_CANCELLED,
    ORDER_REFUNDED,
    ROLE_USER,
    Conversation,
    Customer,
    Message,
    Order,
)
from analytics.store.models.console import (
    ConsoleState,
    ConversationFacts,
    ConversationIntent,
    CustomerFacts,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")

SCORES_TABLE = "customer_scores"
FTS_TABLE = "console_search"
FALLBACK_INTENT = "nlu_fallback"
FALLBACK_ACTIONS = frozenset({"utter_fallback", "action_default_fallback", "utter_default"})
STATE_MESSAGE_WATERMARK = "facts_message_id"
STATE_CUSTOMER_FINGERPRINT = "customer_facts_fp"
SEARCH_TEXT_MAX = 4000
PREVIEW_MAX = 200
INLINE_LIMIT = 1000
"""At most this many conversations are (re)summarised inside a request; more go to the
background worker."""
CHUNK = 2000
"""Conversations per background transaction."""
PENDING_SCAN = 20 * INLINE_LIMIT
"""At most this many pending messages are read to decide between inline and background."""
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


def _customer_values(db: Session, scores: Table | None) -> dict[int, dict[str, Any]]:
    """Every customer's facts as they should be now (brain scores, else estimates)."""
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
    values: dict[int, dict[str, Any]] = {}
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
        values[cid] = {
            "customer_id": cid,
            "spend_cents": int(spend_cents or 0),
            "order_count": int(n or 0),
            "last_order_at": last,
            "segment": segment,
            "churn_risk": churn,
            "clv_cents": clv,
            "source": source,
        }
    return values


def _risk_key(row: dict[str, Any]) -> tuple[Any, ...]:
    """What of a customer's facts matters for comparisons (the estimate's risk drifts daily
    with the clock, so it is rounded to avoid rewriting every customer every day)."""
    return (
        row["spend_cents"],
        row["order_count"],
        row["segment"],
        round(float(row["churn_risk"]), 2),
        row["clv_cents"],
        row["source"],
    )


def refresh_customer_facts(db: Session, *, force: bool = False) -> list[int] | None:
    """Brings ``console_customer_facts`` up to date when orders, customers or scores changed.

    Only customers whose values changed are rewritten. The conversations of those customers
    need their sort key recomputed afterwards (:func:`update_risk`).

    Args:
        db: A session on the store (committed here).
        force: Compare every customer even when the fingerprint did not change.

    Returns:
        The ids of customers whose values changed, or ``None`` when nothing was checked.
    """
    engine = db.get_bind()
    scores = SCORES.get(engine)  # type: ignore[arg-type]
    fingerprint = _customer_fingerprint(db, scores)
    if not force and _state(db, STATE_CUSTOMER_FINGERPRINT) == fingerprint:
        return None
    started = time.perf_counter()
    values = _customer_values(db, scores)
    old = {
        int(r["customer_id"]): r
        for r in db.execute(
            select(
                CustomerFacts.customer_id,
                CustomerFacts.spend_cents,
                CustomerFacts.order_count,
                CustomerFacts.segment,
                CustomerFacts.churn_risk,
                CustomerFacts.clv_cents,
                CustomerFacts.source,
            )
        ).mappings()
    }
    changed = [
        cid
        for cid, row in values.items()
        if cid not in old or _risk_key(dict(old[cid])) != _risk_key(row)
    ]
    gone = [cid for cid in old if cid not in values]
    for chunk in _chunks(changed + gone, 500):
        db.execute(delete(CustomerFacts).where(CustomerFacts.customer_id.in_(chunk)))
    for chunk in _chunks([values[c] for c in changed], BATCH):
        db.execute(insert(CustomerFacts), list(chunk))
    _set_state(db, STATE_CUSTOMER_FINGERPRINT, fingerprint)
    db.commit()
    logger.info(
        "Customer facts: %d of %d customers changed (%s) in %.2f s",
        len(changed) + len(gone),
        len(values),
        "brain scores" if scores is not None else "estimates",
        time.perf_counter() - started,
    )
    return changed + gone


# --- the inbox's sort key ----------------------------------------------------------------

WEIGHT_SQL = (
    "(CASE WHEN c.status = 'open' OR (c.needs_handoff AND NOT c.reviewed) THEN 100"
    " WHEN NOT c.reviewed THEN 25 ELSE 5 END)"
)
"""The "unresolved" weight in percent (same rule as the trigger of migration 0400)."""

_BASE_SQL = (
    "COALESCE((SELECT CAST(cf.clv_cents * cf.churn_risk AS INTEGER)"
    " FROM conversations c JOIN console_customer_facts cf ON cf.customer_id = c.customer_id"
    " WHERE c.id = console_conversation_facts.conversation_id), 0)"
)
_RISK_SQL = (
    "COALESCE((SELECT CAST(cf.clv_cents * cf.churn_risk AS BIGINT) * "
    + WEIGHT_SQL
    + " / 100 FROM conversations c JOIN console_customer_facts cf"
    " ON cf.customer_id = c.customer_id"
    " WHERE c.id = console_conversation_facts.conversation_id), 0)"
)
_LAST_AT_SQL = (
    "(SELECT c.last_message_at FROM conversations c"
    " WHERE c.id = console_conversation_facts.conversation_id)"
)
UPDATE_RISK_SQL = (
    f"UPDATE console_conversation_facts SET risk_base_cents = {_BASE_SQL},"
    f" risk_cents = {_RISK_SQL}, last_message_at = {_LAST_AT_SQL}"
)


def update_risk(
    db: Session,
    *,
    conversation_ids: Sequence[int] | None = None,
    customer_ids: Sequence[int] | None = None,
) -> None:
    """Recomputes ``risk_cents`` (and its inputs) of some facts rows from the store.

    Args:
        db: A session on the store (not committed here).
        conversation_ids: These conversations.
        customer_ids: Every conversation of these customers.
    """
    for chunk in _chunks(list(conversation_ids or ()), 500):
        ids = ",".join(str(int(i)) for i in chunk)
        db.execute(text(f"{UPDATE_RISK_SQL} WHERE conversation_id IN ({ids})"))
    for chunk in _chunks(list(customer_ids or ()), 200):
        ids = ",".join(str(int(i)) for i in chunk)
        db.execute(
            text(
                f"{UPDATE_RISK_SQL} WHERE conversation_id IN"
                f" (SELECT id FROM conversations WHERE customer_id IN ({ids}))"
            )
        )


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
            "risk_cents": 0,
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


def _aggregate(db: Session, conversation_ids: Iterable[int]) -> dict[int, _Acc]:
    accs: dict[int, _Acc] = {}
    for chunk in _chunks(sorted(conversation_ids), 500):
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


SEARCH_PAD = "\n\n"
"""Appended to every indexed body: each character then starts a trigram."""
FTS_VOCAB = "console_search_vocab"
"""An ``fts5vocab`` table (``row``: one row per indexed trigram) over :data:`FTS_TABLE`:
short needles look up the trigrams that start with them (every body ends with
:data:`SEARCH_PAD`, so every occurrence of a one- or two-character needle starts some
trigram)."""


def ensure_search(engine: Engine) -> None:
    """Creates the database-specific full-text search structures if missing."""
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} "
                "USING fts5(body, tokenize='trigram')"
            )
            conn.exec_driver_sql(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_VOCAB} "
                f"USING fts5vocab({FTS_TABLE}, 'row')"
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


def _write_facts(db: Session, conversation_ids: Sequence[int]) -> int:
    """(Re)summarises some conversations: facts row, intents, search index, sort key."""
    ids = sorted(set(conversation_ids))
    accs = _aggregate(db, ids)
    rows = [acc.row(cid) for cid, acc in accs.items()]
    sqlite = is_sqlite(db)
    for chunk in _chunks(ids, 500):
        db.execute(delete(ConversationFacts).where(ConversationFacts.conversation_id.in_(chunk)))
        db.execute(delete(ConversationIntent).where(ConversationIntent.conversation_id.in_(chunk)))
        if sqlite:
            db.execute(
                text(f"DELETE FROM {FTS_TABLE} WHERE rowid IN ({','.join(map(str, chunk))})")
            )
    for chunk in _chunks(rows, BATCH):
        db.execute(insert(ConversationFacts), list(chunk))
        pairs = [
            {"intent": intent, "conversation_id": r["conversation_id"]}
            for r in chunk
            for intent in r["intents"].split()
        ]
        if pairs:
            db.execute(insert(ConversationIntent), pairs)
        if sqlite:
            db.execute(
                text(f"INSERT INTO {FTS_TABLE}(rowid, body) VALUES (:conversation_id, :body)"),
                [
                    {"conversation_id": r["conversation_id"], "body": r["search_text"] + SEARCH_PAD}
                    for r in chunk
                ],
            )
    update_risk(db, conversation_ids=[r["conversation_id"] for r in rows])
    return len(rows)


def _wipe(db: Session) -> None:
    db.execute(delete(ConversationIntent))
    db.execute(delete(ConversationFacts))
    if is_sqlite(db):
        db.execute(text(f"DELETE FROM {FTS_TABLE}"))


def _retrying(db: Session, work: Callable[[], T], *, retry: bool, attempts: int = 5) -> T:
    """Runs ``work`` and commits; on a lock conflict rolls back and (if ``retry``) retries."""
    for attempt in range(attempts):
        try:
            result = work()
            db.commit()
            return result
        except OperationalError:
            db.rollback()
            if not retry or attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


@dataclass
class Progress:
    """What the background worker is doing (shown in the inbox)."""

    total: int = 0
    done: int = 0
    started: float = 0.0
    error: str = ""

    @property
    def percent(self) -> int:
        """Done, in percent."""
        return 100 if not self.total else int(100 * self.done / self.total)


@dataclass
class _Plan:
    """Work found by :meth:`FactsSync.sync`."""

    newest: int = 0
    watermark: int = 0
    wipe: bool = False
    conversations: list[int] = field(default_factory=list)
    customers: list[int] = field(default_factory=list)
    customer_conversations: int = 0
    more: bool = False

    @property
    def size(self) -> int:
        return len(self.conversations) + self.customer_conversations


class FactsSync:
    """Keeps the facts tables current; cheap to call on every request (throttled)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_sync = -1e9
        self._last_customer_check = -1e9
        self._search_ready: set[str] = set()
        self._worker: threading.Thread | None = None
        self.progress: Progress | None = None

    @property
    def building(self) -> bool:
        """Whether the background worker is running."""
        return self._worker is not None and self._worker.is_alive()

    def reset(self) -> None:
        """Forgets the throttling state (the next call checks the database)."""
        self.wait()
        with self._lock:
            self._last_sync = -1e9
            self._last_customer_check = -1e9
            self._search_ready.clear()
            self.progress = None

    def wait(self, timeout: float | None = None) -> bool:
        """Waits for the background worker; returns whether it has finished."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)
            return not worker.is_alive()
        return True

    def sync(self, db: Session, *, force: bool = False, background: bool = True) -> int:
        """Brings the facts up to date with the store.

        A small backlog is handled here; a large one is handed to a background thread
        (unless ``background`` is false) and this call returns at once.

        Args:
            db: A session on the store.
            force: Ignore the throttle and re-check customers.
            background: Allow handing a large backlog to a background thread.

        Returns:
            How many conversations were (re)summarised here.
        """
        now = time.monotonic()
        if not force and now - self._last_sync < SYNC_INTERVAL_S:
            return 0
        if self.building or not self._lock.acquire(blocking=False):
            return 0
        try:
            engine: Engine = db.get_bind()  # type: ignore[assignment]
            key = str(engine.url)
            if key not in self._search_ready:
                ensure_search(engine)
                self._search_ready.add(key)
            check_customers = force or now - self._last_customer_check > CUSTOMER_CHECK_INTERVAL_S
            if check_customers:
                self._last_customer_check = now
            try:
                plan = self._plan(db, check_customers=check_customers, force=force)
                if background and (plan.more or plan.size > INLINE_LIMIT):
                    db.rollback()
                    self._start(engine, plan)
                    self._last_sync = time.monotonic()
                    return 0
                changed = self._apply(db, plan)
            except OperationalError as error:
                # Another writer (the ingest worker) won the race for SQLite's write lock:
                # the page is served from the summaries as they are; the next request retries.
                db.rollback()
                if check_customers:
                    self._last_customer_check = -1e9
                logger.warning("Console facts not refreshed this time: %s", error)
                return 0
            self._last_sync = time.monotonic()
            return changed
        finally:
            self._lock.release()

    def _plan(self, db: Session, *, check_customers: bool, force: bool) -> _Plan:
        plan = _Plan()
        if check_customers:
            plan.customers = refresh_customer_facts(db, force=force) or []
        plan.watermark = int(_state(db, STATE_MESSAGE_WATERMARK) or 0)
        plan.newest = int(db.scalar(select(func.max(Message.id))) or 0)
        if plan.newest != plan.watermark:
            if plan.newest < plan.watermark or plan.watermark == 0:
                plan.wipe = True
                plan.watermark = 0
                plan.customers = []  # every facts row is rewritten anyway
            # Read the pending messages by primary key (cheap on both databases, unlike a
            # DISTINCT over every pending message); too many means: background.
            pending = list(
                db.scalars(
                    select(Message.conversation_id)
                    .where(Message.id > plan.watermark)
                    .order_by(Message.id)
                    .limit(PENDING_SCAN)
                )
            )
            plan.conversations = sorted(set(pending))
            plan.more = len(pending) >= PENDING_SCAN or len(plan.conversations) > INLINE_LIMIT
            if plan.more:
                plan.conversations = []  # the worker lists them itself
        for chunk in _chunks(plan.customers, 500):
            plan.customer_conversations += int(
                db.scalar(
                    select(func.count())
                    .select_from(Conversation)
                    .where(Conversation.customer_id.in_(chunk))
                )
                or 0
            )
        return plan

    def _apply(self, db: Session, plan: _Plan, progress: Progress | None = None) -> int:
        started = time.perf_counter()
        if plan.wipe:
            _wipe(db)
            db.commit()
        ids = plan.conversations
        if plan.more:
            ids = sorted(
                db.scalars(
                    select(Message.conversation_id)
                    .where(Message.id > plan.watermark, Message.id <= plan.newest)
                    .distinct()
                )
            )
        if progress is not None:
            progress.total = len(ids) + plan.customer_conversations
        done = 0
        for chunk in _chunks(ids, CHUNK):
            done += _retrying(db, partial(_write_facts, db, chunk), retry=progress is not None)
            if progress is not None:
                progress.done = done
        for chunk in _chunks(plan.customers, 40):
            _retrying(db, partial(update_risk, db, customer_ids=chunk), retry=True)
            if progress is not None:
                progress.done = min(progress.total, progress.done + len(chunk) * 50)
        if plan.newest and (ids or plan.wipe or plan.more):
            _set_state(db, STATE_MESSAGE_WATERMARK, str(plan.newest))
            db.commit()
        if ids or plan.customers:
            logger.info(
                "Console facts: %d conversations summarised, %d customers re-valued in %.2f s",
                done,
                len(plan.customers),
                time.perf_counter() - started,
            )
        return done

    def _start(self, engine: Engine, plan: _Plan) -> None:
        self.progress = Progress(started=time.time())
        progress = self.progress

        def run() -> None:
            try:
                with Session(engine) as db:
                    self._apply(db, plan, progress)
                    db.execute(
                        text("ANALYZE")
                        if engine.dialect.name != "sqlite"
                        else text("PRAGMA optimize")
                    )
                    db.commit()
            except Exception as error:  # noqa: BLE001  (reported in the inbox and the log)
                logger.exception("Console facts worker failed")
                progress.error = str(error)[:300]
            finally:
                self._last_sync = -1e9

        self._worker = threading.Thread(target=run, name="console-facts", daemon=True)
        self._worker.start()


FACTS = FactsSync()


def refresh(engine: Engine) -> int:
    """Brings every console summary up to date now, synchronously.

    For batch jobs that write many conversations or scores at once (the volume generator,
    an import, a scoring run): call this at the end so that the console's first request
    has nothing to catch up on.

    Returns:
        How many conversations were (re)summarised.
    """
    ensure_search(engine)
    with Session(engine) as db:
        plan = FACTS._plan(db, check_customers=True, force=False)
        return FACTS._apply(db, plan)
