"""Console routes of the "Requests" queue: refund requests and changes made in chat.

``GET /console/requests?status=open|approved|rejected`` lists them; the founder approves
or refuses an open refund request or account change with a note
(``POST .../{refunds,changes}/<id>/decide``, login and CSRF like every console POST). The decision is stored first, then sent to the
conversation the request came from through :class:`web.console.takeover.RasaBridge`, in
the customer's language and Chinese script (:func:`web.console.queries.requests.decision_text`,
the founder's note as typed); when Rasa
cannot be reached the decision stays stored and the page offers to send it again
(``POST .../{refunds,changes}/<id>/notify``).

Hostile input: the body is refused before it is parsed when it is larger than
:data:`MAX_BODY_BYTES`; a note longer than :data:`MAX_NOTE_CHARS`, an unknown decision or
an id that is not a request get a clear error and change nothing; control characters are
dropped from the note (:func:`analytics.store.repositories.refunds.clean_text`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.store import repositories as repo
from analytics.store.models import (
    DECIDED_BY_BOT,
    REFUND_OPEN,
    ChangeRequest,
    Conversation,
    RefundRequest,
)
from analytics.store.repositories.refunds import MAX_NOTE_CHARS
from web.console.config import get_config
from web.console.deps import DB, PREFIX, Csrf, User, back, rasa_bridge, render
from web.console.i18n import t
from web.console.queries import requests as queries
from web.console.queries.takeover import record_founder_message
from web.console.takeover import TakeoverError

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
"""A decision form is a token, a word and a note: anything bigger is refused unread."""
DECISIONS = {"approve": True, "refuse": False}
HERE = f"{PREFIX}/requests"

router = APIRouter(include_in_schema=False)  # included by web.console.routes under /console


def small_body(request: Request) -> None:
    """Refuses (413) a body over :data:`MAX_BODY_BYTES` before anything reads it."""
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit() or int(declared) > MAX_BODY_BYTES:
        raise HTTPException(status_code=413, detail="request body too large or unsized")


SmallBody = Annotated[None, Depends(small_body)]
MAX_ID = 2**31 - 1
RequestId = Annotated[int, Path(ge=1, le=MAX_ID)]
"""A request id: a positive 32-bit integer (anything else is 422, never a database error)."""


@router.get("/requests", response_class=HTMLResponse)
def requests_page(request: Request, user: User, db: DB, status: str = REFUND_OPEN) -> HTMLResponse:
    """The queue: refund requests and changes in one status (open by default)."""
    shown = queries.normalize_status(status)
    return render(
        request,
        "requests.html",
        user,
        nav="requests",
        shown=shown,
        statuses=queries.STATUS_FILTERS,
        refunds=queries.refund_rows(db, shown),
        changes=queries.change_rows(db, shown),
        open_refunds=queries.open_count(db),
        max_note=MAX_NOTE_CHARS,
    )


@dataclass(frozen=True)
class Queue:
    """How one kind of request is decided, loaded and marked as delivered."""

    decide: Callable[..., RefundRequest | ChangeRequest]
    load: Callable[[Session, int], RefundRequest | ChangeRequest | None]
    mark_notified: Callable[..., None]


QUEUES: dict[str, Queue] = {
    "refunds": Queue(repo.decide_refund, queries.refund_request, repo.mark_refund_notified),
    "changes": Queue(repo.decide_change, queries.change_request, repo.mark_change_notified),
}
"""The path's ``{kind}``: refund requests, and change requests (open ones are account
changes the bot cannot make; the ones the bot made are approved already)."""


def queue_of(kind: str) -> Queue:
    """The queue named in the path, or 404."""
    queue = QUEUES.get(kind)
    if queue is None:
        raise HTTPException(status_code=404, detail="no such queue")
    return queue


async def _decision_form(request: Request) -> tuple[str, str]:
    form = await request.form()
    decision, note = form.get("decision"), form.get("note", "")
    if not isinstance(decision, str) or not isinstance(note, str):
        raise HTTPException(status_code=400, detail="decision and note must be text fields")
    return decision, note


@router.post("/requests/{kind}/{request_id}/decide")
async def decide_request(
    request: Request, _: SmallBody, user: Csrf, db: DB, kind: str, request_id: RequestId
) -> Response:
    """Approves or refuses an open request, then tells the customer."""
    queue = queue_of(kind)
    decision, note = await _decision_form(request)
    if decision not in DECISIONS:
        return back(HERE, err=t(user.lang, "requests_bad_decision"))
    if len(note) > MAX_NOTE_CHARS:
        return back(HERE, err=t(user.lang, "requests_note_too_long", n=MAX_NOTE_CHARS))
    try:
        queue.decide(
            db,
            request_id,
            approve=DECISIONS[decision],
            note=note,
            by=user.username,
            at=datetime.now(UTC),
        )
    except LookupError:
        raise HTTPException(status_code=404, detail="no such request") from None
    except repo.AlreadyDecidedError:
        db.rollback()
        return back(HERE, err=t(user.lang, "requests_already_decided", id=request_id))
    db.commit()
    return _notify(db, user.lang, queue, request_id)


@router.post("/requests/{kind}/{request_id}/notify")
def notify_request(_: SmallBody, user: Csrf, db: DB, kind: str, request_id: RequestId) -> Response:
    """Sends a stored decision again (after Rasa could not be reached)."""
    queue = queue_of(kind)
    found = queue.load(db, request_id)
    if found is None:
        raise HTTPException(status_code=404, detail="no such request")
    if found.status == REFUND_OPEN or found.decided_by == DECIDED_BY_BOT:
        return back(HERE, err=t(user.lang, "requests_not_decided", id=request_id))
    return _notify(db, user.lang, queue, request_id)


def _notify(db: Session, lang: str, queue: Queue, request_id: int) -> Response:
    """Sends the decision to the request's conversation and records that it arrived."""
    found = queue.load(db, request_id)
    assert found is not None
    status_page = f"{HERE}?status={found.status}"
    if not found.sender_id:
        return back(status_page, msg=t(lang, "requests_decided_no_conversation", id=request_id))
    language = found.language or queries.conversation_language(db, found.sender_id)
    script = queries.customer_script(db, found.sender_id)  # Traditional writers: Traditional
    try:
        text = queries.decision_text(
            queries.domain_responses(get_config().domain_dir), found, language, script
        )
    except queries.DecisionTextError:
        logger.exception("Cannot word the decision on request %s", request_id)
        return back(status_page, err=t(lang, "requests_not_sent", id=request_id, error="domain"))
    sender_id = found.sender_id
    db.rollback()  # no read snapshot across the Rasa call (SQLite: stale snapshot on write)
    try:
        rasa_bridge().say(sender_id, text)
    except TakeoverError as error:
        logger.warning("Decision on request %s not delivered: %s", request_id, error)
        return back(status_page, err=t(lang, "requests_not_sent", id=request_id, error=str(error)))
    queue.mark_notified(db, request_id, at=datetime.now(UTC))
    conversation = db.scalar(select(Conversation).where(Conversation.sender_id == sender_id))
    if conversation is not None:
        record_founder_message(db, conversation, text)  # commits
    db.commit()
    return back(status_page, msg=t(lang, "requests_sent", id=request_id))
