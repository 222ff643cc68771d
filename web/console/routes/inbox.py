"""Console routes of the inbox: the list, its CSV export, hand-offs and the summaries."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from web.console.config import get_config
from web.console.deps import DB, PREFIX, User, csv_response, render
from web.console.facts import FACTS
from web.console.queries import inbox as queries
from web.console.queries.common import SORT_RISK
from web.console.queries.dead_letters import dead_letter_count
from web.console.queries.inbox_filters import SORT_RECENT, InboxFilters
from web.console.queries.live_risk import KEY_LEVEL, KEY_SCORE
from web.console.teach import domain_intents

MAX_QUERY_CHARS = 200
POLLED_HANDOFFS = 5
FORMAT_CSV = "csv"

router = APIRouter(include_in_schema=False)  # included by web.console.routes under /console


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def inbox_filters(
    q: str = "",
    date_from: str = "",
    date_to: str = "",
    channel: str = "",
    language: str = "",
    intent: str = "",
    segment: str = "",
    risk: str = "",
    fallback: str = "",
    handoff: str = "",
    rating: str = "",
    reviewed: str = "",
    tag: str = "",
    status: str = "",
    customer: str = "",
    sort: str = SORT_RISK,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> InboxFilters:
    """The inbox filters from the query string."""
    return InboxFilters(
        q=q[:MAX_QUERY_CHARS],
        date_from=_date(date_from),
        date_to=_date(date_to),
        channel=channel,
        language=language,
        intent=intent,
        segment=segment,
        risk=risk,
        fallback=fallback,
        handoff=handoff,
        rating=rating,
        reviewed=reviewed,
        tag=tag,
        status=status,
        customer=customer,
        sort=SORT_RECENT if sort == SORT_RECENT else SORT_RISK,
        page=page,
    )


INBOX_CSV_COLUMNS = [
    "id",
    "sender_id",
    "customer_external_id",
    "customer_name",
    "channel",
    "language",
    "started_at",
    "last_message_at",
    "status",
    "needs_handoff",
    "handoff_reason",
    "rating",
    "reviewed",
    "intents",
    "had_fallback",
    "message_count",
    "risk_cents",
    "preview",
    KEY_SCORE,
    KEY_LEVEL,
]


@router.get("/inbox", response_class=HTMLResponse)
def inbox_page(
    request: Request,
    user: User,
    db: DB,
    filters: Annotated[InboxFilters, Depends(inbox_filters)],
    format: str = "",
) -> Response:
    """The inbox: hand-off requests on top, then conversations by revenue at risk."""
    FACTS.sync(db)
    if format == FORMAT_CSV:
        rows = queries.inbox_export(db, filters)
        return csv_response(rows, INBOX_CSV_COLUMNS, "conversations.csv")
    page = queries.inbox(db, filters)
    handoffs = queries.handoff_requests(db) if filters.page == 1 else []
    return render(
        request,
        "inbox.html",
        user,
        page=page,
        f=filters,
        handoffs=handoffs,
        options=queries.filter_options(db),
        intents=domain_intents(get_config().domain_dir),
        summary=queries.handoff_summary(db),
        dead_letters=dead_letter_count(db),
        building=FACTS.progress if FACTS.building else None,
    )


@router.get("/api/handoffs")
def handoffs_api(user: User, db: DB) -> JSONResponse:
    """Open hand-off requests (the browser polls this to notify the founder)."""
    summary = queries.handoff_summary(db)
    summary["dead_letters"] = dead_letter_count(db)
    summary["items"] = [
        {
            "id": r["id"],
            "customer": r["customer_name"] or r["sender_id"],
            "reason": r["handoff_reason"],
            "preview": r["preview"],
            "url": f"{PREFIX}/conversations/{r['id']}",
        }
        for r in queries.handoff_requests(db, limit=POLLED_HANDOFFS)
    ]
    return JSONResponse(summary)


@router.get("/api/facts")
def facts_api(user: User, db: DB) -> JSONResponse:
    """Whether the console's summaries are being (re)built, and how far they are."""
    return JSONResponse(queries.facts_status(db))
