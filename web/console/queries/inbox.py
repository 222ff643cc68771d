"""Read queries of the inbox.

The paginated list, its CSV export, hand-off requests, the filters' drop-downs and the
progress of the summaries.

Lists are driven by indexed columns of the store and of the console's facts tables (see
:mod:`web.console.facts`); each row carries its customer's live risk, read in the same
query (:mod:`web.console.queries.live_risk`).
"""

from __future__ import annotations

import math
from time import monotonic
from typing import Any

from sqlalchemy import Select, func, literal_column, select
from sqlalchemy.orm import Session

from analytics.store.models import CONV_OPEN, Conversation, Customer, LiveRisk
from analytics.store.models.console import ConversationFacts, ConversationTag, CustomerFacts
from web.console.facts import FACTS
from web.console.queries.common import MAX_EXPORT_ROWS, PAGE_SIZE, Page
from web.console.queries.inbox_filters import InboxFilters, filtered, has_filters, order
from web.console.queries.live_risk import LIVE_RISK_COLUMNS, attach_live_risks

COUNT_CAP = 2_000
"""Filtered lists count at most this many matches (shown as "2000+")."""
DENSE = 1_000
"""With more matches than this, a page is found by scanning the order index."""
EXPORT_CHUNK = 500
HANDOFFS_SHOWN = 10
OPTIONS_TTL_S = 60.0
MAX_CHANNELS = 50
MAX_TAGS = 200

INBOX_COLUMNS: list[Any] = [
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
    *LIVE_RISK_COLUMNS,
]


def _with_customer(query: Select[Any]) -> Select[Any]:
    """Outer-joins the conversation's customer and their live risk (one row each at most)."""
    return query.outerjoin(Customer, Customer.id == Conversation.customer_id).outerjoin(
        LiveRisk, LiveRisk.customer_id == Conversation.customer_id
    )


def _rows_for(db: Session, ids: list[int]) -> list[dict[str, Any]]:
    """The inbox columns of these conversations, in the given order."""
    if not ids:
        return []
    query = _with_customer(
        select(*INBOX_COLUMNS)
        .select_from(ConversationFacts)
        .join(Conversation, Conversation.id == ConversationFacts.conversation_id)
    ).where(ConversationFacts.conversation_id.in_(ids))
    by_id = {r["id"]: dict(r) for r in db.execute(query).mappings()}
    return attach_live_risks([by_id[i] for i in ids if i in by_id])


def _count(db: Session, f: InboxFilters, cap: int) -> tuple[int, bool]:
    """How many conversations match (exact without filters, else up to ``cap``)."""
    if not has_filters(f):
        return int(db.scalar(select(func.count()).select_from(ConversationFacts)) or 0), False
    matches = filtered(db, f, [literal_column("1").label("one")]).limit(cap + 1).subquery()
    total = int(db.scalar(select(func.count()).select_from(matches)) or 0)
    return min(total, cap), total > cap


def inbox(db: Session, f: InboxFilters, *, page_size: int = PAGE_SIZE) -> Page:
    """One page of the inbox.

    The page's ids come from the facts table (joined to ``conversations`` only for filters
    on its columns): when many conversations match, by walking the order index and
    checking each row; when few match, from the filters' own indexes, sorted. The count of
    a filtered list stops at :data:`COUNT_CAP` (or just past the requested page). Then the
    page's rows are fetched by primary key, with their customer and live risk.

    Args:
        db: A session on the store.
        f: The filters (and page and sort order).
        page_size: Rows per page.

    Returns:
        The page; each row has the conversation's columns plus ``risk_cents``, ``tags``,
        ``intent_list`` and ``live_risk`` (a view, or ``None``).
    """
    total, capped = _count(db, f, max(COUNT_CAP, f.page * page_size))
    pages = max(1, math.ceil(total / page_size))
    page = min(max(1, f.page), pages)
    ids_query = (
        filtered(db, f, [ConversationFacts.conversation_id], driving=total <= DENSE)
        .order_by(*order(f))
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
            filtered(db, f, [ConversationFacts.conversation_id], driving=False)
            .order_by(*order(f))
            .limit(MAX_EXPORT_ROWS)
        )
    )
    rows: list[dict[str, Any]] = []
    for start in range(0, len(ids), EXPORT_CHUNK):
        rows.extend(_rows_for(db, ids[start : start + EXPORT_CHUNK]))
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


def _open_handoff() -> list[Any]:
    return [Conversation.needs_handoff.is_(True), Conversation.status == CONV_OPEN]


def handoff_requests(db: Session, limit: int = HANDOFFS_SHOWN) -> list[dict[str, Any]]:
    """Open conversations where the bot asked for the founder, newest first."""
    query = (
        _with_customer(
            select(*INBOX_COLUMNS)
            .select_from(Conversation)
            .outerjoin(ConversationFacts, ConversationFacts.conversation_id == Conversation.id)
        )
        .where(*_open_handoff())
        .order_by(Conversation.last_message_at.desc())
        .limit(limit)
    )
    rows = attach_live_risks([dict(r) for r in db.execute(query).mappings()])
    _attach_tags(db, rows)
    return rows


def handoff_summary(db: Session) -> dict[str, Any]:
    """Count and newest id of open hand-off requests (polled by the browser)."""
    row = db.execute(
        select(func.count(Conversation.id), func.max(Conversation.id)).where(*_open_handoff())
    ).one()
    return {"count": int(row[0] or 0), "latest_id": int(row[1] or 0)}


_options_cache: dict[str, tuple[float, dict[str, list[str]]]] = {}


def _cached_options(db: Session) -> dict[str, list[str]]:
    """Channels and segments seen in the store (scans, so cached for a minute)."""
    cache_key = str(db.get_bind().engine.url)
    cached = _options_cache.get(cache_key)
    if cached is not None and monotonic() - cached[0] < OPTIONS_TTL_S:
        return cached[1]
    channels = db.scalars(select(Conversation.channel).distinct().limit(MAX_CHANNELS))
    segments = db.scalars(select(CustomerFacts.segment).distinct().order_by(CustomerFacts.segment))
    options = {"channels": sorted(c for c in channels if c), "segments": [s for s in segments if s]}
    _options_cache[cache_key] = (monotonic(), options)
    return options


def filter_options(db: Session) -> dict[str, list[str]]:
    """Values offered in the drop-downs (channels and segments cached for a minute)."""
    tags = select(ConversationTag.tag).distinct().order_by(ConversationTag.tag).limit(MAX_TAGS)
    return {**_cached_options(db), "tags": list(db.scalars(tags))}


def facts_status(db: Session) -> dict[str, Any]:
    """Brings the summaries up to date (or starts that) and says how far the build is."""
    FACTS.sync(db)
    progress = FACTS.progress
    return {
        "building": FACTS.building,
        "done": progress.done if progress else 0,
        "total": progress.total if progress else 0,
        "percent": progress.percent if progress else 100,
        "error": progress.error if progress else "",
    }
