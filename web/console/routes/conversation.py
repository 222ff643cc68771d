"""Console routes of one conversation: reading, tagging, reviewing, notes, teaching the bot.

The customer's photos (widget uploads, ``attachments``) are shown on the page and served
at ``/conversations/<id>/attachments/<attachment id>``, behind the login, only for their
own conversation.

Teaching is confirming or correcting intents (written into ``nlu_data/``) and saving the
conversation as a test story.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from analytics.core.settings import get_settings
from analytics.loop.alerts.message import REASON_TEXTS
from analytics.store.models import CONV_RESOLVED
from analytics.store.repositories.alerts import alerts_of_conversation, deliveries_of
from web.console.config import get_config
from web.console.deps import (
    DB,
    PREFIX,
    Csrf,
    User,
    back,
    conversation_or_404,
    dt,
    rasa_bridge,
    render,
)
from web.console.i18n import t
from web.console.queries import conversation as queries
from web.console.queries.attachments import photo_file, photos_by_message
from web.console.teach import (
    TeachError,
    domain_intents,
    language_dir,
    write_correction,
    write_test_conversation,
)

MAX_TAG_CHARS = 50
MAX_NOTE_CHARS = 5000
STATUS_PRESENT = "present"
NOT_FOUND = "no such conversation"
BAD_STATUS = "状态只能是 open 或 resolved。 / The status must be open or resolved."
#: A founder alert's (and a delivery's) state -> (Chinese, English).
ALERT_STATE_NAMES = {
    "pending": ("待发送", "pending"),
    "sent": ("已发送", "sent"),
    "failed": ("失败", "failed"),
}

router = APIRouter(include_in_schema=False)  # included by web.console.routes under /console


def _here(conversation_id: int) -> str:
    return f"{PREFIX}/conversations/{conversation_id}"


@router.get("/conversations/{conversation_id}", response_class=HTMLResponse)
def conversation_page(request: Request, user: User, db: DB, conversation_id: int) -> HTMLResponse:
    """Every turn of a conversation beside the customer's panel."""
    detail = queries.conversation_detail(db, conversation_id)
    if detail is None:
        raise HTTPException(status_code=404, detail=NOT_FOUND)
    alerts = alerts_of_conversation(db, conversation_id)
    return render(
        request,
        "conversation.html",
        user,
        d=detail,
        intents=domain_intents(get_config().domain_dir),
        via_widget=rasa_bridge().via_widget,
        diff=request.query_params.get("diff", ""),
        photos=photos_by_message(db, conversation_id),
        alerts=alerts,
        alert_deliveries=deliveries_of(db, [a.id for a in alerts]),
        alert_reason_names=REASON_TEXTS,
        alert_state_names=ALERT_STATE_NAMES,
    )


#: The headers of a customer's photo: never sniffed, never cached, never a document.
PHOTO_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, no-store",
    "Content-Disposition": "inline",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cross-Origin-Resource-Policy": "same-origin",
}


@router.get("/conversations/{conversation_id}/attachments/{attachment_id}")
def attachment(user: User, db: DB, conversation_id: int, attachment_id: int) -> Response:
    """A customer's photo (``attachments``), only on its own conversation's address."""
    photo = photo_file(db, get_settings().upload_dir, conversation_id, attachment_id)
    if photo is None:
        raise HTTPException(status_code=404, detail="no such photo in this conversation")
    return Response(photo.data, media_type=photo.content_type, headers=PHOTO_HEADERS)


@router.get("/api/conversations/{conversation_id}/messages")
def messages_api(user: User, db: DB, conversation_id: int, after: int = 0) -> JSONResponse:
    """Messages after ``after`` (the conversation page polls this while taken over)."""
    conversation_or_404(db, conversation_id)
    photos = photos_by_message(db, conversation_id)
    here = _here(conversation_id)
    return JSONResponse(
        [
            {
                "id": m.id,
                "role": m.role,
                "text": m.text,
                "intent": m.intent,
                "at": dt(m.created_at),
                "photos": [f"{here}/attachments/{a.id}" for a in photos.get(m.id, [])],
            }
            for m in queries.messages_after(db, conversation_id, after)
        ]
    )


@router.post("/conversations/{conversation_id}/tags")
def add_tag(user: Csrf, db: DB, conversation_id: int, tag: Annotated[str, Form()] = "") -> Response:
    """Adds a tag (idempotent)."""
    conversation_or_404(db, conversation_id)
    value = " ".join(tag.split())[:MAX_TAG_CHARS]
    if value:
        queries.add_tag(db, conversation_id, value)
    return back(_here(conversation_id))


@router.post("/conversations/{conversation_id}/tags/remove")
def remove_tag(
    user: Csrf, db: DB, conversation_id: int, tag: Annotated[str, Form()] = ""
) -> Response:
    """Removes a tag."""
    queries.remove_tag(db, conversation_id, tag)
    return back(_here(conversation_id))


@router.post("/conversations/{conversation_id}/reviewed")
def set_reviewed(
    user: Csrf, db: DB, conversation_id: int, reviewed: Annotated[str, Form()] = "1"
) -> Response:
    """Marks the conversation reviewed (or not)."""
    queries.set_reviewed(db, conversation_or_404(db, conversation_id), reviewed == "1")
    return back(_here(conversation_id))


@router.post("/conversations/{conversation_id}/status")
def set_status(
    user: Csrf, db: DB, conversation_id: int, status: Annotated[str, Form()] = CONV_RESOLVED
) -> Response:
    """Resolves (or reopens) the conversation; resolving clears the hand-off request."""
    conversation = conversation_or_404(db, conversation_id)
    try:
        queries.set_status(db, conversation, status)
    except ValueError as error:
        raise HTTPException(status_code=400, detail=BAD_STATUS) from error
    return back(_here(conversation_id))


@router.post("/conversations/{conversation_id}/notes")
def add_note(
    user: Csrf, db: DB, conversation_id: int, text: Annotated[str, Form()] = ""
) -> Response:
    """Adds a note to the conversation (shown on the customer's page too)."""
    conversation = conversation_or_404(db, conversation_id)
    body = text.strip()[:MAX_NOTE_CHARS]
    if body:
        queries.add_note(db, conversation, user.username, body)
    return back(_here(conversation_id))


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
    here = f"{_here(message.conversation_id)}#m{message.id}"
    try:
        result = write_correction(config.nlu_dir, message.text, intent)
    except TeachError as error:
        return back(here, err=t(user.lang, "correction_conflict") + str(error))
    written_to = str(result.path.relative_to(config.nlu_dir.parent))
    record = queries.CorrectionRecord(
        intent=intent,
        language=language_dir(message.text),
        written_to=written_to,
        author=user.username,
    )
    queries.record_correction(db, message, record)
    if result.status == STATUS_PRESENT:
        return back(here, msg=t(user.lang, "already_present"))
    msg = f"{t(user.lang, 'written_to')} {written_to}: {result.example}"
    url = (
        f"{_here(message.conversation_id)}?msg={quote(msg)}&diff={quote(result.diff)}#m{message.id}"
    )
    return RedirectResponse(url, status_code=303)


@router.post("/conversations/{conversation_id}/save-test")
def save_test(user: Csrf, db: DB, conversation_id: int) -> Response:
    """Saves the conversation (with corrected intents) as a Rasa test story."""
    detail = queries.conversation_detail(db, conversation_id)
    if detail is None:
        raise HTTPException(status_code=404, detail=NOT_FOUND)
    here = _here(conversation_id)
    try:
        path = write_test_conversation(
            get_config().test_conversations_dir,
            conversation_id,
            detail["conversation"].sender_id,
            queries.story_turns(detail),
        )
    except TeachError as error:
        return back(here, err=str(error))
    return back(here, msg=t(user.lang, "saved_test") + path.name)
