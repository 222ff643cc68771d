"""Console routes of the inbox and of one conversation (reading, tagging, teaching)."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from analytics.loop.ingest import dead_letter
from analytics.store.models import CONV_OPEN, CONV_RESOLVED, Message
from analytics.store.models.console import ConversationTag, IntentCorrection, Note, utcnow
from web.console import queries
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
from web.console.routes_shop import rasa_bridge
from web.console.teach import (
    TeachError,
    domain_intents,
    language_dir,
    write_correction,
    write_test_conversation,
)

MAX_TAG_CHARS = 50
MAX_NOTE_CHARS = 5000

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
    sort: str = "risk",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> queries.InboxFilters:
    """The inbox filters from the query string."""
    return queries.InboxFilters(
        q=q[:200],
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
        sort="recent" if sort == "recent" else "risk",
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
]


@router.get("/inbox", response_class=HTMLResponse)
def inbox_page(
    request: Request,
    user: User,
    db: DB,
    filters: Annotated[queries.InboxFilters, Depends(inbox_filters)],
    format: str = "",
) -> Response:
    """The inbox: hand-off requests on top, then conversations by revenue at risk."""
    FACTS.sync(db)
    if format == "csv":
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
        dead_letters=dead_letter.count(db),
        building=FACTS.progress if FACTS.building else None,
    )


@router.get("/api/handoffs")
def handoffs_api(user: User, db: DB) -> JSONResponse:
    """Open hand-off requests (the browser polls this to notify the founder)."""
    summary = queries.handoff_summary(db)
    summary["dead_letters"] = dead_letter.count(db)
    summary["items"] = [
        {
            "id": r["id"],
            "customer": r["customer_name"] or r["sender_id"],
            "reason": r["handoff_reason"],
            "preview": r["preview"],
            "url": f"{PREFIX}/conversations/{r['id']}",
        }
        for r in queries.handoff_requests(db, limit=5)
    ]
    return JSONResponse(summary)


@router.get("/api/facts")
def facts_api(user: User, db: DB) -> JSONResponse:
    """Whether the console's summaries are being (re)built, and how far they are."""
    FACTS.sync(db)
    progress = FACTS.progress
    return JSONResponse(
        {
            "building": FACTS.building,
            "done": progress.done if progress else 0,
            "total": progress.total if progress else 0,
            "percent": progress.percent if progress else 100,
            "error": progress.error if progress else "",
        }
    )


# --- conversation ------------------------------------------------------------------------


@router.get("/conversations/{conversation_id}", response_class=HTMLResponse)
def conversation_page(request: Request, user: User, db: DB, conversation_id: int) -> HTMLResponse:
    """Every turn of a conversation beside the customer's panel."""
    detail = queries.conversation_detail(db, conversation_id)
    if detail is None:
        raise HTTPException(status_code=404, detail="no such conversation")
    bridge = rasa_bridge()
    return render(
        request,
        "conversation.html",
        user,
        d=detail,
        intents=domain_intents(get_config().domain_dir),
        via_widget=bridge.via_widget,
        diff=request.query_params.get("diff", ""),
    )


@router.get("/api/conversations/{conversation_id}/messages")
def messages_api(user: User, db: DB, conversation_id: int, after: int = 0) -> JSONResponse:
    """Messages after ``after`` (the conversation page polls this while taken over)."""
    conversation_or_404(db, conversation_id)
    rows = db.scalars(
        select(Message)
        .where(Message.conversation_id == conversation_id, Message.id > after)
        .order_by(Message.created_at, Message.id)
        .limit(200)
    )
    return JSONResponse(
        [
            {
                "id": m.id,
                "role": m.role,
                "text": m.text,
                "intent": m.intent,
                "at": dt(m.created_at),
            }
            for m in rows
        ]
    )


@router.post("/conversations/{conversation_id}/tags")
def add_tag(user: Csrf, db: DB, conversation_id: int, tag: Annotated[str, Form()] = "") -> Response:
    """Adds a tag (idempotent)."""
    conversation_or_404(db, conversation_id)
    value = " ".join(tag.split())[:MAX_TAG_CHARS]
    if value:
        db.add(ConversationTag(conversation_id=conversation_id, tag=value))
        try:
            db.commit()
        except IntegrityError:
            db.rollback()
    return back(f"{PREFIX}/conversations/{conversation_id}")


@router.post("/conversations/{conversation_id}/tags/remove")
def remove_tag(
    user: Csrf, db: DB, conversation_id: int, tag: Annotated[str, Form()] = ""
) -> Response:
    """Removes a tag."""
    db.execute(
        delete(ConversationTag).where(
            ConversationTag.conversation_id == conversation_id, ConversationTag.tag == tag
        )
    )
    db.commit()
    return back(f"{PREFIX}/conversations/{conversation_id}")


@router.post("/conversations/{conversation_id}/reviewed")
def set_reviewed(
    user: Csrf, db: DB, conversation_id: int, reviewed: Annotated[str, Form()] = "1"
) -> Response:
    """Marks the conversation reviewed (or not)."""
    conversation = conversation_or_404(db, conversation_id)
    conversation.reviewed = reviewed == "1"
    db.commit()
    return back(f"{PREFIX}/conversations/{conversation_id}")


@router.post("/conversations/{conversation_id}/status")
def set_status(
    user: Csrf, db: DB, conversation_id: int, status: Annotated[str, Form()] = CONV_RESOLVED
) -> Response:
    """Resolves (or reopens) the conversation; resolving clears the hand-off request."""
    conversation = conversation_or_404(db, conversation_id)
    if status not in (CONV_OPEN, CONV_RESOLVED):
        raise HTTPException(status_code=400, detail="bad status")
    conversation.status = status
    if status == CONV_RESOLVED:
        conversation.needs_handoff = False
    db.commit()
    return back(f"{PREFIX}/conversations/{conversation_id}")


@router.post("/conversations/{conversation_id}/notes")
def add_note(
    user: Csrf, db: DB, conversation_id: int, text: Annotated[str, Form()] = ""
) -> Response:
    """Adds a note to the conversation (shown on the customer's page too)."""
    conversation = conversation_or_404(db, conversation_id)
    body = text.strip()[:MAX_NOTE_CHARS]
    if body:
        db.add(
            Note(
                conversation_id=conversation_id,
                customer_id=conversation.customer_id,
                author=user.username,
                text=body,
            )
        )
        db.commit()
    return back(f"{PREFIX}/conversations/{conversation_id}")


@router.post("/messages/{message_id}/intent")
def correct_intent(
    request: Request, user: Csrf, db: DB, message_id: int, intent: Annotated[str, Form()] = ""
) -> Response:
    """Confirms or corrects the intent of a user message and writes it into ``nlu_data/``."""
    message = queries.user_message(db, message_id)
    if message is None:
        raise HTTPException(status_code=404, detail="no such user message")
    config = get_config()
    if intent not in domain_intents(config.domain_dir):
        raise HTTPException(status_code=400, detail="unknown intent")
    here = f"{PREFIX}/conversations/{message.conversation_id}#m{message.id}"
    try:
        result = write_correction(config.nlu_dir, message.text, intent)
    except TeachError as error:
        return back(here, err=t(user.lang, "correction_conflict") + str(error))
    correction = db.scalar(
        select(IntentCorrection).where(IntentCorrection.message_id == message.id)
    )
    if correction is None:
        correction = IntentCorrection(message_id=message.id, predicted_intent=message.intent)
        db.add(correction)
    correction.intent = intent
    correction.language = language_dir(message.text)
    correction.written_to = str(result.path.relative_to(config.nlu_dir.parent))
    correction.author = user.username
    correction.created_at = utcnow()
    db.commit()
    if result.status == "present":
        return back(here, msg=t(user.lang, "already_present"))
    msg = f"{t(user.lang, 'written_to')} {correction.written_to}: {result.example}"
    url = f"{PREFIX}/conversations/{message.conversation_id}?msg={quote(msg)}&diff={quote(result.diff)}#m{message.id}"
    return RedirectResponse(url, status_code=303)


@router.post("/conversations/{conversation_id}/save-test")
def save_test(user: Csrf, db: DB, conversation_id: int) -> Response:
    """Saves the conversation (with corrected intents) as a Rasa test story."""
    detail = queries.conversation_detail(db, conversation_id)
    if detail is None:
        raise HTTPException(status_code=404, detail="no such conversation")
    turns = []
    for m in detail["messages"]:
        correction = detail["corrections"].get(m.id)
        turns.append(
            {
                "role": m.role,
                "text": m.text,
                "intent": correction.intent if correction else m.intent,
                "action": m.action,
            }
        )
    here = f"{PREFIX}/conversations/{conversation_id}"
    try:
        path = write_test_conversation(
            get_config().test_conversations_dir,
            conversation_id,
            detail["conversation"].sender_id,
            turns,
        )
    except TeachError as error:
        return back(here, err=str(error))
    return back(here, msg=t(user.lang, "saved_test") + path.name)
