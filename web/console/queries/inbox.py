"""Read queries of the console: inbox, conversation, customers, charts.

All lists are paginated and driven by indexed columns of the store and the console's
facts tables (see :mod:`web.console.facts`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from time import monotonic
from typing import Any

from sqlalchemy import Select, and_, column, false, func, literal_column, or_, select, table, text
from sqlalchemy.orm import Session, selectinload

from analytics.store.models import (
    CONV_OPEN,
    ROLE_USER,
    Conversation,
    Customer,
    Message,
    Order,
    Product,
    Subscription,
)
from analytics.store.models.console import (
    ConversationFacts,
    ConversationIntent,
    ConversationTag,
    CustomerFacts,
    IntentCorrection,
    Note,
    Takeover,
)
from web.console.facts import (
    FTS_TABLE,
    FTS_VOCAB,
    RISK_HIGH,
    RISK_LOW,
    is_sqlite,
    load_json,
    risk_band,
    scores_for,
)

PAGE_SIZE = 50
MAX_EXPORT_ROWS = 100_000
RISK_BANDS = ("low", "medium", "high")

# "Unresolved" weight, in percent, of a conversation's value at risk.
WEIGHT_OPEN = 100
WEIGHT_UNREVIEWED = 25
WEIGHT_DONE = 5


@dataclass
class InboxFilters:
    """The inbox's filters, as given in the query string (all optional)."""

    q: str = ""
    date_from: date | None = None
    date_to: date | None = None
    channel: str = ""
    language: str = ""
    intent: str = ""
    segment: str = ""
    risk: str = ""
    fallback: str = ""
    handoff: str = ""
    rating: str = ""
    reviewed: str = ""
    tag: str = ""
    status: str = ""
    customer: str = ""
    sort: str = "risk"
    page: int = 1

    def query_string(self, **changes: Any) -> str:
        """The filters as a query string, with some values changed (for links)."""
        from urllib.parse import urlencode

        values = {k: v for k, v in self.__dict__.items()}
        values.update(changes)
        pairs = {
            k: (v.isoformat() if isinstance(v, date) else v)
            for k, v in values.items()
            if v not in ("", None)
            and not (k == "page" and v == 1)
            and not (k == "sort" and v == "risk")
        }
        return urlencode(pairs)


def _flag(value: str) -> bool | None:
    if value in ("1", "yes", "true"):
        return True
    if value in ("0", "no", "false"):
        return False
    return None


def _day_start(value: date) -> datetime:
    return datetime.combine(value, time.min, tzinfo=UTC)


def risk_expression() -> Any:
    """Revenue at risk of a conversation, in cents: value x churn risk x unresolved weight.

    Stored in ``console_conversation_facts.risk_cents`` (kept current by the facts sync and
    the trigger of migration ``0400_console_speed``), so the inbox sorts by an index.
    """
    return func.coalesce(ConversationFacts.risk_cents, 0)


def _like_needle(needle: str) -> str:
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


SHORT_NEEDLE_MAX_TERMS = 64
"""Above this many index terms a one- or two-character needle is answered by a scan."""


def _match_phrase(needle: str) -> str:
    return '"' + needle.replace('"', '""') + '"'


def search_condition(db: Session, q: str, *, driving: bool = True) -> Any:
    """A condition matching conversations whose transcript contains ``q`` (any case).

    On SQLite, needles of 3+ characters are a phrase query on the FTS5 trigram index;
    shorter needles (e.g. two Chinese characters) become an ``OR`` of the index terms
    that start with them (every indexed body ends with two newlines, so each occurrence of
    the needle starts a trigram); needles with too many such terms scan. On PostgreSQL,
    ``LIKE`` on ``search_text`` uses the pg_trgm index (3+ characters) or scans.

    Args:
        db: A session on the store.
        q: The needle as typed.
        driving: Whether the condition may drive the query (else it is only checked per
            row of the inbox's index order; SQLite only).
    """
    needle = q.strip().lower()
    facts_id = _key(db, ConversationFacts.conversation_id, driving)
    if is_sqlite(db):
        expression = ""
        if len(needle) >= 3:
            expression = _match_phrase(needle)
        else:
            vocab = table(FTS_VOCAB, column("term"))
            terms = list(
                db.scalars(
                    select(vocab.c.term)
                    .where(vocab.c.term >= needle, vocab.c.term < needle + "\U0010ffff")
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


def _key(db: Session, column_: Any, driving: bool) -> Any:
    """``column_``, or on SQLite ``+column_`` when it must not drive the query plan.

    SQLite's planner (without statistics for subquery results) likes to drive an inbox
    query from an ``IN (subquery)`` and sort every match; for filters that match many
    conversations, scanning the inbox's order index and checking each row is far cheaper.
    The unary ``+`` keeps the condition but takes it out of index selection.
    """
    if driving or not is_sqlite(db):
        return column_
    return literal_column("+" + _qualified(column_))


def _qualified(column_: Any) -> str:
    return f"{column_.table.name}.{column_.name}"


_CONVERSATION_FILTERS = (
    "date_to",
    "channel",
    "language",
    "handoff",
    "reviewed",
    "rating",
    "status",
    "customer",
    "segment",
    "risk",
)


def _customers_where(*conditions: Any) -> Any:
    return select(CustomerFacts.customer_id).where(*conditions)


def _filtered(
    db: Session, f: InboxFilters, columns: list[Any], *, driving: bool = True
) -> Select[Any]:
    """The facts table, joined to ``conversations`` only when a filter needs it.

    Args:
        db: A session on the store.
        f: The filters.
        columns: What to select.
        driving: Whether filters may drive the plan (see :func:`_key`); pass ``False``
            when many rows match and the query is ordered and limited.
    """
    facts_id = _key(db, ConversationFacts.conversation_id, driving)
    customer_id = _key(db, Conversation.customer_id, driving)
    query = select(*columns).select_from(ConversationFacts)
    if any(getattr(f, name) for name in _CONVERSATION_FILTERS):
        query = query.join(Conversation, Conversation.id == facts_id)
    conditions: list[Any] = []
    if f.q.strip():
        conditions.append(search_condition(db, f.q, driving=driving))
    if f.date_from:
        conditions.append(
            _key(db, ConversationFacts.last_message_at, driving) >= _day_start(f.date_from)
        )
    if f.date_to:
        conditions.append(Conversation.started_at < _day_start(f.date_to + timedelta(days=1)))
    if f.channel:
        conditions.append(Conversation.channel == f.channel)
    if f.language:
        conditions.append(Conversation.language == f.language)
    if f.intent:
        conditions.append(
            facts_id.in_(
                select(ConversationIntent.conversation_id).where(
                    ConversationIntent.intent == f.intent
                )
            )
        )
    if f.segment:
        conditions.append(customer_id.in_(_customers_where(CustomerFacts.segment == f.segment)))
    if f.risk == "high":
        conditions.append(customer_id.in_(_customers_where(CustomerFacts.churn_risk >= RISK_HIGH)))
    elif f.risk == "medium":
        conditions.append(
            customer_id.in_(
                _customers_where(
                    CustomerFacts.churn_risk >= RISK_LOW, CustomerFacts.churn_risk < RISK_HIGH
                )
            )
        )
    elif f.risk == "low":
        conditions.append(
            or_(
                Conversation.customer_id.is_(None),
                customer_id.not_in(_customers_where(CustomerFacts.churn_risk >= RISK_LOW)),
            )
        )
    handoff = _flag(f.handoff)
    if handoff is not None:
        had = or_(Conversation.needs_handoff.is_(True), Conversation.handoff_reason.is_not(None))
        conditions.append(had if handoff else ~had)
    for value, col in (
        (f.fallback, ConversationFacts.had_fallback),
        (f.reviewed, Conversation.reviewed),
    ):
        flag = _flag(value)
        if flag is not None:
            conditions.append(col.is_(True) if flag else or_(col.is_(False), col.is_(None)))
    if f.rating == "none":
        conditions.append(Conversation.rating.is_(None))
    elif f.rating == "low":
        conditions.append(Conversation.rating <= 3)
    elif f.rating.isdigit():
        conditions.append(Conversation.rating == int(f.rating))
    if f.tag:
        conditions.append(
            facts_id.in_(
                select(ConversationTag.conversation_id).where(ConversationTag.tag == f.tag)
            )
        )
    if f.status:
        conditions.append(Conversation.status == f.status)
    if f.customer:
        conditions.append(
            customer_id
            == select(Customer.id).where(Customer.external_id == f.customer).scalar_subquery()
        )
    if conditions:
        query = query.where(*conditions)
    return query


def _order(f: InboxFilters) -> list[Any]:
    """The inbox order; both orders are served by an index of the facts table."""
    if f.sort == "recent":
        return [ConversationFacts.last_message_at.desc(), ConversationFacts.conversation_id.desc()]
    return [
        ConversationFacts.risk_cents.desc(),
        ConversationFacts.last_message_at.desc(),
        ConversationFacts.conversation_id.desc(),
    ]


@dataclass
class Page:
    """A page of rows with what pagination needs."""

    rows: list[dict[str, Any]]
    total: int
    page: int
    pages: int
    capped: bool = False
    """Whether ``total`` is a lower bound (there are more matches)."""


INBOX_COLUMNS = [
    Conversation.id,
    Conversation.sender_id,
    Conversation.channel,
    Conversation.language,
    Conversation.started_at,
    Conversation.last_message_at,
    Conversation.needs_handoff,
    Conversation.handoff_reason,
    Conversation.status,
    Conversation.rating,
    Conversation.reviewed,
    Customer.external_id.label("customer_external_id"),
    Customer.name.label("customer_name"),
    ConversationFacts.intents,
    ConversationFacts.preview,
    ConversationFacts.had_fallback,
    ConversationFacts.message_count,
    ConversationFacts.risk_cents,
]


def _rows_for(db: Session, ids: list[int]) -> list[dict[str, Any]]:
    """The inbox columns of these conversations, in the given order."""
    if not ids:
        return []
    query = (
        select(*INBOX_COLUMNS)
        .select_from(ConversationFacts)
        .join(Conversation, Conversation.id == ConversationFacts.conversation_id)
        .outerjoin(Customer, Customer.id == Conversation.customer_id)
        .where(ConversationFacts.conversation_id.in_(ids))
    )
    by_id = {r["id"]: dict(r) for r in db.execute(query).mappings()}
    return [by_id[i] for i in ids if i in by_id]


COUNT_CAP = 2_000
"""Filtered lists count at most this many matches (shown as "2000+")."""
DENSE = 1_000
"""With more matches than this, a page is found by scanning the order index."""


def _has_filters(f: InboxFilters) -> bool:
    return bool(f.q.strip() or f.date_from or f.intent or f.fallback or f.tag) or any(
        getattr(f, name) for name in _CONVERSATION_FILTERS
    )


def _count(db: Session, f: InboxFilters, cap: int) -> tuple[int, bool]:
    """How many conversations match (exact without filters, else up to ``cap``)."""
    if not _has_filters(f):
        return int(db.scalar(select(func.count()).select_from(ConversationFacts)) or 0), False
    matches = _filtered(db, f, [literal_column("1").label("one")]).limit(cap + 1).subquery()
    total = int(db.scalar(select(func.count()).select_from(matches)) or 0)
    return min(total, cap), total > cap


def inbox(db: Session, f: InboxFilters, *, page_size: int = PAGE_SIZE) -> Page:
    """One page of the inbox.

    The page's ids come from the facts table (joined to ``conversations`` only for filters
    on its columns): when many conversations match, by walking the order index and
    checking each row; when few match, from the filters' own indexes, sorted. The count of
    a filtered list stops at :data:`COUNT_CAP` (or just past the requested page). Then the
    page's rows are fetched by primary key.

    Args:
        db: A session on the store.
        f: The filters (and page and sort order).
        page_size: Rows per page.

    Returns:
        The page; each row has the conversation's columns plus ``risk_cents``.
    """
    total, capped = _count(db, f, max(COUNT_CAP, f.page * page_size))
    pages = max(1, math.ceil(total / page_size))
    page = min(max(1, f.page), pages)
    ids_query = (
        _filtered(db, f, [ConversationFacts.conversation_id], driving=total <= DENSE)
        .order_by(*_order(f))
        .limit(page_size)
        .offset((page - 1) * page_size)
    )
    rows = _rows_for(db, list(db.scalars(ids_query)))
    _attach_tags(db, rows)
    return Page(rows, total, page, pages, capped)


def inbox_export(db: Session, f: InboxFilters) -> list[dict[str, Any]]:
    """Every row matching the filters (capped), in the inbox's order, for CSV export."""
    ids = list(
        db.scalars(
            _filtered(db, f, [ConversationFacts.conversation_id], driving=False)
            .order_by(*_order(f))
            .limit(MAX_EXPORT_ROWS)
        )
    )
    rows: list[dict[str, Any]] = []
    for start in range(0, len(ids), 500):
        rows.extend(_rows_for(db, ids[start : start + 500]))
    return rows


def _attach_tags(db: Session, rows: list[dict[str, Any]]) -> None:
    ids = [r["id"] for r in rows]
    tags: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        for cid, tag in db.execute(
            select(ConversationTag.conversation_id, ConversationTag.tag)
            .where(ConversationTag.conversation_id.in_(ids))
            .order_by(ConversationTag.tag)
        ):
            tags[cid].append(tag)
    for row in rows:
        row["tags"] = tags.get(row["id"], [])
        row["intent_list"] = (row.get("intents") or "").split()


def handoff_requests(db: Session, limit: int = 10) -> list[dict[str, Any]]:
    """Open conversations where the bot asked for the founder, newest first."""
    query = (
        select(*INBOX_COLUMNS)
        .select_from(Conversation)
        .outerjoin(ConversationFacts, ConversationFacts.conversation_id == Conversation.id)
        .outerjoin(Customer, Customer.id == Conversation.customer_id)
        .where(Conversation.needs_handoff.is_(True), Conversation.status == CONV_OPEN)
        .order_by(Conversation.last_message_at.desc())
        .limit(limit)
    )
    rows = [dict(r) for r in db.execute(query).mappings()]
    _attach_tags(db, rows)
    return rows


def handoff_summary(db: Session) -> dict[str, Any]:
    """Count and newest id of open hand-off requests (polled by the browser)."""
    row = db.execute(
        select(func.count(Conversation.id), func.max(Conversation.id)).where(
            Conversation.needs_handoff.is_(True), Conversation.status == CONV_OPEN
        )
    ).one()
    return {"count": int(row[0] or 0), "latest_id": int(row[1] or 0)}


OPTIONS_TTL_S = 60.0
_options_cache: dict[str, tuple[float, dict[str, list[str]]]] = {}


def _cached_options(db: Session) -> dict[str, list[str]]:
    """Channels and segments seen in the store (scans, so cached for a minute)."""
    key = str(db.get_bind().engine.url)
    cached = _options_cache.get(key)
    if cached is not None and monotonic() - cached[0] < OPTIONS_TTL_S:
        return cached[1]
    options = {
        "channels": sorted(
            c for c in db.scalars(select(Conversation.channel).distinct().limit(50)) if c
        ),
        "segments": [
            s
            for s in db.scalars(
                select(CustomerFacts.segment).distinct().order_by(CustomerFacts.segment)
            )
            if s
        ],
    }
    _options_cache[key] = (monotonic(), options)
    return options


def filter_options(db: Session) -> dict[str, list[str]]:
    """Values offered in the drop-downs (channels and segments cached for a minute)."""
    return {
        **_cached_options(db),
        "tags": list(
            db.scalars(
                select(ConversationTag.tag).distinct().order_by(ConversationTag.tag).limit(200)
            )
        ),
    }


# --- one conversation --------------------------------------------------------------------


def conversation_detail(db: Session, conversation_id: int) -> dict[str, Any] | None:
    """Everything the conversation page shows, or ``None`` when it does not exist."""
    conversation = db.get(Conversation, conversation_id)
    if conversation is None:
        return None
    messages = list(
        db.scalars(
            select(Message)
            .where(Message.conversation_id == conversation_id)
            .order_by(Message.created_at, Message.id)
        )
    )
    corrections = {
        c.message_id: c
        for c in db.scalars(
            select(IntentCorrection).where(
                IntentCorrection.message_id.in_([m.id for m in messages])
            )
        )
    }
    tags = list(
        db.scalars(
            select(ConversationTag.tag)
            .where(ConversationTag.conversation_id == conversation_id)
            .order_by(ConversationTag.tag)
        )
    )
    notes = list(
        db.scalars(
            select(Note).where(Note.conversation_id == conversation_id).order_by(Note.created_at)
        )
    )
    takeover = db.scalar(
        select(Takeover)
        .where(Takeover.conversation_id == conversation_id, Takeover.active.is_(True))
        .limit(1)
    )
    panel = customer_panel(db, conversation.customer_id) if conversation.customer_id else None
    return {
        "conversation": conversation,
        "messages": messages,
        "corrections": corrections,
        "tags": tags,
        "notes": notes,
        "takeover": takeover,
        "panel": panel,
    }


def _as_list(value: Any) -> list[Any]:
    value = load_json(value)
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return [value]
    return [value]


def describe(item: Any) -> str:
    """A readable text for one churn reason or recommendation (str, dict or other)."""
    if isinstance(item, dict):
        for key in ("text", "text_en", "reason", "label", "name", "name_en", "sku", "code"):
            if item.get(key):
                extra = ""
                if "weight" in item or "score" in item:
                    extra = f" ({item.get('weight', item.get('score'))})"
                return f"{item[key]}{extra}"
        return ", ".join(f"{k}: {v}" for k, v in item.items())
    return str(item)


def customer_panel(db: Session, customer_id: int) -> dict[str, Any] | None:
    """The customer's panel: scores (or estimates), orders, subscription, conversations."""
    customer = db.get(Customer, customer_id)
    if customer is None:
        return None
    facts = db.get(CustomerFacts, customer_id)
    scores = scores_for(db, customer_id)
    orders = list(
        db.scalars(
            select(Order)
            .where(Order.customer_id == customer_id)
            .options(selectinload(Order.items))
            .order_by(Order.created_at.desc())
            .limit(20)
        )
    )
    product_ids = {item.product_id for o in orders for item in o.items}
    products = (
        {p.id: p for p in db.scalars(select(Product).where(Product.id.in_(product_ids)))}
        if product_ids
        else {}
    )
    subscription = db.scalar(
        select(Subscription)
        .where(Subscription.customer_id == customer_id)
        .order_by(Subscription.started_at.desc())
        .limit(1)
    )
    conversations = [
        dict(r)
        for r in db.execute(
            select(
                Conversation.id,
                Conversation.started_at,
                Conversation.last_message_at,
                Conversation.status,
                Conversation.needs_handoff,
                Conversation.rating,
                ConversationFacts.intents,
                ConversationFacts.preview,
                ConversationFacts.avg_sentiment,
            )
            .outerjoin(ConversationFacts, ConversationFacts.conversation_id == Conversation.id)
            .where(Conversation.customer_id == customer_id)
            .order_by(Conversation.started_at.desc())
            .limit(50)
        ).mappings()
    ]
    churn = scores.get("churn_risk") if scores else (facts.churn_risk if facts else None)
    return {
        "customer": customer,
        "facts": facts,
        "scores": scores,
        "has_scores": scores is not None,
        "segment": (scores or {}).get("segment") or (facts.segment if facts else None),
        "churn_risk": churn,
        "risk_band": risk_band(churn),
        "reasons": [describe(r) for r in _as_list((scores or {}).get("churn_reasons"))],
        "clv_cents": (scores or {}).get("clv_cents")
        if scores
        else (facts.clv_cents if facts else None),
        "health": (scores or {}).get("health"),
        "lifecycle_stage": (scores or {}).get("lifecycle_stage"),
        "recommendations": [describe(r) for r in _as_list((scores or {}).get("recommendations"))],
        "orders": orders,
        "products": products,
        "subscription": subscription,
        "conversations": conversations,
        "notes": list(
            db.scalars(
                select(Note)
                .join(Conversation, Conversation.id == Note.conversation_id, isouter=True)
                .where(
                    or_(Note.customer_id == customer_id, Conversation.customer_id == customer_id)
                )
                .order_by(Note.created_at.desc())
                .limit(20)
            )
        ),
    }


# --- customers ---------------------------------------------------------------------------


@dataclass
class CustomerFilters:
    """Filters of the customer list."""

    q: str = ""
    segment: str = ""
    risk: str = ""
    language: str = ""
    sort: str = "risk"
    page: int = 1

    def query_string(self, **changes: Any) -> str:
        """The filters as a query string, with some values changed."""
        from urllib.parse import urlencode

        values = dict(self.__dict__)
        values.update(changes)
        return urlencode(
            {
                k: v
                for k, v in values.items()
                if v not in ("", None)
                and not (k == "page" and v == 1)
                and not (k == "sort" and v == "risk")
            }
        )


CUSTOMER_COLUMNS = [
    Customer.id,
    Customer.external_id,
    Customer.name,
    Customer.email,
    Customer.language,
    Customer.city,
    Customer.created_at,
    CustomerFacts.segment,
    CustomerFacts.churn_risk,
    CustomerFacts.clv_cents,
    CustomerFacts.spend_cents,
    CustomerFacts.order_count,
    CustomerFacts.last_order_at,
    CustomerFacts.source,
]


def _customers_query(f: CustomerFilters, columns: list[Any]) -> Select[Any]:
    query = (
        select(*columns)
        .select_from(Customer)
        .outerjoin(CustomerFacts, CustomerFacts.customer_id == Customer.id)
    )
    conditions: list[Any] = []
    if f.q.strip():
        needle = f"%{f.q.strip()}%"
        conditions.append(
            or_(
                Customer.name.ilike(needle),
                Customer.email.ilike(needle),
                Customer.external_id.ilike(needle),
            )
        )
    if f.segment:
        conditions.append(CustomerFacts.segment == f.segment)
    if f.risk == "high":
        conditions.append(CustomerFacts.churn_risk >= RISK_HIGH)
    elif f.risk == "medium":
        conditions.append(
            and_(CustomerFacts.churn_risk >= RISK_LOW, CustomerFacts.churn_risk < RISK_HIGH)
        )
    elif f.risk == "low":
        conditions.append(CustomerFacts.churn_risk < RISK_LOW)
    if f.language:
        conditions.append(Customer.language == f.language)
    return query.where(*conditions) if conditions else query


def customers(db: Session, f: CustomerFilters, *, page_size: int = PAGE_SIZE) -> Page:
    """One page of the customer list, by value at risk (or name / spend)."""
    total = int(db.scalar(_customers_query(f, [func.count()])) or 0)
    pages = max(1, math.ceil(total / page_size))
    page = min(max(1, f.page), pages)
    query = _customers_query(f, CUSTOMER_COLUMNS)
    if f.sort == "name":
        query = query.order_by(Customer.name, Customer.id)
    elif f.sort == "spend":
        query = query.order_by(CustomerFacts.spend_cents.desc(), Customer.id)
    else:
        query = query.order_by(
            (CustomerFacts.clv_cents * CustomerFacts.churn_risk).desc(), Customer.id
        )
    rows = [
        dict(r)
        for r in db.execute(query.limit(page_size).offset((page - 1) * page_size)).mappings()
    ]
    for row in rows:
        row["risk_band"] = risk_band(row["churn_risk"])
    return Page(rows, total, page, pages)


def customers_export(db: Session, f: CustomerFilters) -> list[dict[str, Any]]:
    """Every customer matching the filters (capped), for CSV export."""
    query = _customers_query(f, CUSTOMER_COLUMNS).order_by(Customer.id).limit(MAX_EXPORT_ROWS)
    return [dict(r) for r in db.execute(query).mappings()]


def customer_by_external_id(db: Session, external_id: str) -> Customer | None:
    """Looks a customer up by their external id."""
    return db.scalar(select(Customer).where(Customer.external_id == external_id))


@dataclass
class Charts:
    """Data series of the charts page."""

    segments: list[tuple[str, int]] = field(default_factory=list)
    risk_months: list[str] = field(default_factory=list)
    risk_series: dict[str, list[float]] = field(default_factory=dict)
    reasons: list[tuple[str, int]] = field(default_factory=list)
    reasons_source: str = ""
    weeks: list[str] = field(default_factory=list)
    intents_per_week: dict[str, list[float]] = field(default_factory=dict)
    fallback_rate: list[float] = field(default_factory=list)
    satisfaction: list[float] = field(default_factory=list)
    sentiment: list[float] = field(default_factory=list)


def _week_start(value: datetime) -> date:
    d = value.date()
    return d - timedelta(days=d.weekday())


def charts(db: Session, *, weeks: int = 12, months: int = 12) -> Charts:
    """Computes the series of the charts page.

    Args:
        db: A session on the store.
        weeks: Weeks of conversation history (intents, fallback rate, satisfaction).
        months: Months of risk history.
    """
    out = Charts()
    out.segments = [
        (s, int(n))
        for s, n in db.execute(
            select(CustomerFacts.segment, func.count())
            .group_by(CustomerFacts.segment)
            .order_by(func.count().desc())
        )
    ]
    # Risk over time: at each month end, customers with at least one order bucketed by days
    # since their latest order up to then (<45 low, 45-90 medium, >90 high).
    end = db.scalar(select(func.max(Order.created_at))) or datetime.now(UTC)
    if isinstance(end, str):
        end = datetime.fromisoformat(end)
    end = end.replace(tzinfo=UTC) if end.tzinfo is None else end
    month_ends = []
    cursor = date(end.year, end.month, 1)
    for _ in range(months):
        month_ends.append(cursor)
        cursor = (cursor - timedelta(days=1)).replace(day=1)
    month_ends.reverse()
    out.risk_months = [m.strftime("%Y-%m") for m in month_ends]
    bands: dict[str, list[float]] = {"low": [], "medium": [], "high": []}
    for m in month_ends:
        nxt = (m + timedelta(days=32)).replace(day=1)
        cutoff = datetime.combine(nxt, time.min, tzinfo=UTC)
        last = (
            select(Order.customer_id, func.max(Order.created_at).label("last"))
            .where(Order.created_at < cutoff)
            .group_by(Order.customer_id)
            .subquery()
        )
        rows = db.execute(select(last.c.last)).scalars().all()
        counts = {"low": 0, "medium": 0, "high": 0}
        for value in rows:
            if isinstance(value, str):
                value = datetime.fromisoformat(value)
            value = value.replace(tzinfo=UTC) if value.tzinfo is None else value
            days = (cutoff - value).days
            counts["low" if days < 45 else "medium" if days <= 90 else "high"] += 1
        for key in bands:
            bands[key].append(counts[key])
    out.risk_series = bands
    # Top reasons: from the brain's churn reasons when scored, else hand-off reasons.
    from web.console.facts import SCORES

    table = SCORES.get(db.get_bind())  # type: ignore[arg-type]
    reason_counts: dict[str, int] = {}
    if table is not None and "churn_reasons" in table.c:
        out.reasons_source = "brain"
        query = select(table.c.churn_reasons)
        if "churn_risk" in table.c:
            query = query.where(table.c.churn_risk >= RISK_HIGH)
        for value in db.scalars(query.limit(50_000)):
            for item in _as_list(value)[:3]:
                label = describe(item)
                if isinstance(item, dict):
                    label = str(item.get("code") or item.get("key") or describe(item))
                reason_counts[label] = reason_counts.get(label, 0) + 1
    else:
        out.reasons_source = "handoff"
        for reason, n in db.execute(
            select(Conversation.handoff_reason, func.count())
            .where(Conversation.handoff_reason.is_not(None))
            .group_by(Conversation.handoff_reason)
        ):
            reason_counts[str(reason)] = int(n)
    out.reasons = sorted(reason_counts.items(), key=lambda kv: -kv[1])[:8]
    # Weekly conversation series over the last `weeks` weeks of conversations.
    last_at = db.scalar(select(func.max(Conversation.last_message_at))) or datetime.now(UTC)
    if isinstance(last_at, str):
        last_at = datetime.fromisoformat(last_at).replace(tzinfo=UTC)
    first_week = _week_start(last_at) - timedelta(weeks=weeks - 1)
    week_list = [first_week + timedelta(weeks=i) for i in range(weeks)]
    out.weeks = [w.strftime("%m-%d") for w in week_list]
    since = datetime.combine(first_week, time.min, tzinfo=UTC)
    index = {w: i for i, w in enumerate(week_list)}
    intent_counts: dict[str, list[float]] = {}
    total_conv = [0] * weeks
    fallback_conv = [0] * weeks
    rating_sum = [0.0] * weeks
    rating_n = [0] * weeks
    sentiment_sum = [0.0] * weeks
    sentiment_n = [0] * weeks
    conv_rows = db.execute(
        select(
            Conversation.started_at,
            Conversation.rating,
            ConversationFacts.intents,
            ConversationFacts.had_fallback,
            ConversationFacts.avg_sentiment,
        )
        .outerjoin(ConversationFacts, ConversationFacts.conversation_id == Conversation.id)
        .where(Conversation.started_at >= since)
    )
    for started, rating, intents, fallback, sentiment in conv_rows:
        i = index.get(_week_start(started))
        if i is None:
            continue
        total_conv[i] += 1
        fallback_conv[i] += 1 if fallback else 0
        if rating is not None:
            rating_sum[i] += rating
            rating_n[i] += 1
        if sentiment is not None:
            sentiment_sum[i] += sentiment
            sentiment_n[i] += 1
        for intent in (intents or "").split():
            intent_counts.setdefault(intent, [0.0] * weeks)[i] += 1
    top = sorted(intent_counts.items(), key=lambda kv: -sum(kv[1]))[:6]
    out.intents_per_week = dict(top)
    out.fallback_rate = [
        round(100 * fb / n, 1) if n else 0.0
        for fb, n in zip(fallback_conv, total_conv, strict=True)
    ]
    out.satisfaction = [
        round(s / n, 2) if n else 0.0 for s, n in zip(rating_sum, rating_n, strict=True)
    ]
    out.sentiment = [
        round(s / n, 2) if n else 0.0 for s, n in zip(sentiment_sum, sentiment_n, strict=True)
    ]
    return out


def user_message(db: Session, message_id: int) -> Message | None:
    """A user message by id (``None`` for other roles)."""
    message = db.get(Message, message_id)
    if message is None or message.role != ROLE_USER:
        return None
    return message


def spend_per_month(
    db: Session, customer_id: int, months: int = 12
) -> tuple[list[str], list[float]]:
    """A customer's spend per month (CNY) over the last ``months`` months with orders."""
    rows = db.execute(
        select(Order.created_at, Order.total_cents).where(Order.customer_id == customer_id)
    ).all()
    if not rows:
        return [], []
    end = max(r[0] for r in rows)
    labels: list[str] = []
    cursor = date(end.year, end.month, 1)
    for _ in range(months):
        labels.append(cursor.strftime("%Y-%m"))
        cursor = (cursor - timedelta(days=1)).replace(day=1)
    labels.reverse()
    totals = dict.fromkeys(labels, 0.0)
    for created, cents in rows:
        key = created.strftime("%Y-%m")
        if key in totals:
            totals[key] += cents / 100
    return labels, [round(v, 2) for v in totals.values()]
