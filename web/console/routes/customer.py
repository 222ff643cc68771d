"""Console routes of take-over, customers, charts, teaching and ingest dead letters."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.core.vocabulary import LANGUAGES
from analytics.loop.ingest import dead_letter
from analytics.store.models import CONV_OPEN, ROLE_FOUNDER, Message
from analytics.store.models.console import IntentCorrection, Takeover, utcnow
from web.console import charts, queries
from web.console.config import get_config
from web.console.deps import (
    DB,
    PREFIX,
    Csrf,
    User,
    back,
    conversation_or_404,
    csv_response,
    dt,
    render,
)
from web.console.facts import FACTS
from web.console.i18n import t
from web.console.retrain import RETRAINER
from web.console.takeover import RasaBridge, TakeoverError
from web.console.teach import corrections_overview, git_diff, language_dir
from web.settings import get_settings

MAX_FOUNDER_MESSAGE_CHARS = 2000
DEAD_LETTERS_SHOWN = 100

router = APIRouter(include_in_schema=False)  # included by web.console.routes under /console


# --- take-over ---------------------------------------------------------------------------


def rasa_bridge() -> RasaBridge:
    """Rasa as the console reaches it (``RASA_URL``, JWTs from ``RASA_JWT_SECRET``)."""
    settings = get_settings()
    return RasaBridge(settings.rasa_url, settings.rasa_jwt_secret)


def _active_takeover(db: Session, conversation_id: int) -> Takeover | None:
    return db.scalar(
        select(Takeover).where(
            Takeover.conversation_id == conversation_id, Takeover.active.is_(True)
        )
    )


@router.post("/conversations/{conversation_id}/takeover")
def take_over(user: Csrf, db: DB, conversation_id: int) -> Response:
    """Pauses the bot and lets the founder answer."""
    sender_id = conversation_or_404(db, conversation_id).sender_id
    db.rollback()  # no read snapshot across the Rasa call (SQLite: stale snapshot on write)
    here = f"{PREFIX}/conversations/{conversation_id}"
    try:
        rasa_bridge().pause(sender_id)
    except TakeoverError as error:
        return back(here, err=t(user.lang, "rasa_unreachable") + str(error))
    conversation = conversation_or_404(db, conversation_id)
    if _active_takeover(db, conversation_id) is None:
        db.add(Takeover(conversation_id=conversation_id, author=user.username, active=True))
    conversation.needs_handoff = False
    conversation.status = CONV_OPEN
    db.commit()
    return back(here)


@router.post("/conversations/{conversation_id}/handback")
def hand_back(user: Csrf, db: DB, conversation_id: int) -> Response:
    """Resumes the bot."""
    sender_id = conversation_or_404(db, conversation_id).sender_id
    db.rollback()  # no read snapshot across the Rasa call (SQLite: stale snapshot on write)
    here = f"{PREFIX}/conversations/{conversation_id}"
    try:
        rasa_bridge().resume(sender_id)
    except TakeoverError as error:
        return back(here, err=t(user.lang, "rasa_unreachable") + str(error))
    takeover = _active_takeover(db, conversation_id)
    if takeover is not None:
        takeover.active = False
        takeover.ended_at = utcnow()
    db.commit()
    return back(here)


@router.post("/conversations/{conversation_id}/say")
def founder_says(
    request: Request, user: Csrf, db: DB, conversation_id: int, text: Annotated[str, Form()] = ""
) -> Response:
    """Sends the founder's message to the customer (and records it)."""
    conversation = conversation_or_404(db, conversation_id)
    body = text.strip()[:MAX_FOUNDER_MESSAGE_CHARS]
    here = f"{PREFIX}/conversations/{conversation_id}"
    wants_json = "application/json" in request.headers.get("accept", "")
    if not body:
        return JSONResponse({"ok": False}, status_code=400) if wants_json else back(here)
    sender_id = conversation.sender_id
    db.rollback()  # no read snapshot across the Rasa call (SQLite: stale snapshot on write)
    try:
        rasa_bridge().say(sender_id, body)
    except TakeoverError as error:
        if wants_json:
            return JSONResponse({"ok": False, "error": str(error)}, status_code=502)
        return back(here, err=t(user.lang, "rasa_unreachable") + str(error))
    conversation = conversation_or_404(db, conversation_id)
    now = utcnow()
    lang = language_dir(body)
    message = Message(
        conversation_id=conversation_id,
        event_key=f"console:{sender_id}:{now.timestamp():.6f}",
        role=ROLE_FOUNDER,
        text=body,
        language=lang if lang in LANGUAGES else conversation.language,
        created_at=now,
    )
    db.add(message)
    conversation.last_message_at = now
    db.commit()
    if wants_json:
        return JSONResponse({"ok": True, "id": message.id})
    return back(here)


# --- customers ---------------------------------------------------------------------------


def customer_filters(
    q: str = "",
    segment: str = "",
    risk: str = "",
    language: str = "",
    sort: str = "risk",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> queries.CustomerFilters:
    """The customer-list filters from the query string."""
    return queries.CustomerFilters(
        q=q[:200],
        segment=segment,
        risk=risk,
        language=language,
        sort=sort if sort in ("risk", "name", "spend") else "risk",
        page=page,
    )


CUSTOMER_CSV_COLUMNS = [
    "external_id",
    "name",
    "email",
    "language",
    "city",
    "created_at",
    "segment",
    "churn_risk",
    "clv_cents",
    "spend_cents",
    "order_count",
    "last_order_at",
    "source",
]


@router.get("/customers", response_class=HTMLResponse)
def customers_page(
    request: Request,
    user: User,
    db: DB,
    filters: Annotated[queries.CustomerFilters, Depends(customer_filters)],
    format: str = "",
) -> Response:
    """Customers by value at risk, with segment and risk filters."""
    FACTS.sync(db)
    if format == "csv":
        rows = queries.customers_export(db, filters)
        return csv_response(rows, CUSTOMER_CSV_COLUMNS, "customers.csv")
    page = queries.customers(db, filters)
    return render(
        request,
        "customers.html",
        user,
        page=page,
        f=filters,
        options=queries.filter_options(db),
    )


@router.get("/customers/{external_id}", response_class=HTMLResponse)
def customer_page(request: Request, user: User, db: DB, external_id: str) -> HTMLResponse:
    """One customer: scores, orders, subscription, conversations, charts."""
    FACTS.sync(db)
    customer = queries.customer_by_external_id(db, external_id)
    if customer is None:
        raise HTTPException(status_code=404, detail="no such customer")
    panel = queries.customer_panel(db, customer.id)
    months, spend = queries.spend_per_month(db, customer.id)
    timeline = list(reversed(panel["conversations"])) if panel else []
    spend_chart = charts.line_chart(months, {"¥": spend}, t(user.lang, "orders_chart"))
    sentiment_chart = charts.line_chart(
        [dt(c["started_at"], "%m-%d") for c in timeline],
        {t(user.lang, "sentiment"): [round((c["avg_sentiment"] or 0) + 1, 2) for c in timeline]},
        t(user.lang, "sentiment_chart"),
    )
    return render(
        request,
        "customer.html",
        user,
        p=panel,
        spend_chart=spend_chart,
        sentiment_chart=sentiment_chart,
    )


@router.get("/insights", response_class=HTMLResponse)
def insights_page(request: Request, user: User, db: DB) -> HTMLResponse:
    """Charts: segments, risk over time, reasons, intents, fallback rate, satisfaction."""
    FACTS.sync(db)
    data = queries.charts(db)
    tr = user.lang
    return render(
        request,
        "insights.html",
        user,
        segments=charts.hbar_chart(data.segments, t(tr, "segment_sizes")),
        risk=charts.stacked_bars(
            data.risk_months,
            {t(tr, band): values for band, values in data.risk_series.items()},
            t(tr, "risk_over_time"),
        ),
        reasons=charts.hbar_chart(data.reasons, t(tr, "top_reasons")),
        reasons_source=data.reasons_source,
        intents=charts.line_chart(data.weeks, data.intents_per_week, t(tr, "intents_per_week")),
        fallback=charts.line_chart(
            data.weeks, {"%": data.fallback_rate}, t(tr, "fallback_rate"), "%"
        ),
        satisfaction=charts.line_chart(data.weeks, {"★": data.satisfaction}, t(tr, "satisfaction")),
    )


# --- teach -------------------------------------------------------------------------------


@router.get("/teach", response_class=HTMLResponse)
def teach_page(request: Request, user: User, db: DB) -> HTMLResponse:
    """Corrections so far, the training-data diff and the retrain button."""
    config = get_config()
    recent = db.execute(
        select(IntentCorrection, Message.text, Message.conversation_id)
        .join(Message, Message.id == IntentCorrection.message_id)
        .order_by(IntentCorrection.created_at.desc())
        .limit(50)
    ).all()
    return render(
        request,
        "teach.html",
        user,
        recent=recent,
        files=corrections_overview(config.nlu_dir),
        diff=git_diff(config.repo_root, config.nlu_dir),
        job=RETRAINER.job,
    )


@router.post("/teach/retrain")
def retrain(request: Request, user: Csrf) -> Response:
    """Starts retraining in the background (one job at a time)."""
    settings = get_settings()
    job = RETRAINER.start(get_config(), settings.rasa_url, settings.rasa_jwt_secret)
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse(job.as_dict())
    return back(f"{PREFIX}/teach")


@router.get("/api/retrain")
def retrain_status(user: User) -> JSONResponse:
    """Progress of the current (or last) retraining job."""
    job = RETRAINER.job
    return JSONResponse(job.as_dict() if job else {"status": "none"})


# --- ingest dead letters -----------------------------------------------------------------


@router.get("/dead-letters", response_class=HTMLResponse)
def dead_letters_page(request: Request, user: User, db: DB) -> HTMLResponse:
    """Events the ingest worker could not store (newest first), with their errors."""
    return render(
        request,
        "dead_letters.html",
        user,
        nav="dead_letters",
        rows=dead_letter.recent(db, DEAD_LETTERS_SHOWN),
        total=dead_letter.count(db),
        shown=DEAD_LETTERS_SHOWN,
    )
