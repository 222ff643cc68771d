"""Console routes of the take-over: the founder pauses the bot, answers, and hands back.

Rasa is called without a read snapshot held (SQLite would otherwise write on a stale
snapshot), then the store records what happened (:mod:`web.console.queries.takeover`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, Response

from web.console.deps import DB, PREFIX, Csrf, back, conversation_or_404, rasa_bridge
from web.console.i18n import t
from web.console.queries import takeover as queries
from web.console.takeover import TakeoverError

MAX_FOUNDER_MESSAGE_CHARS = 2000
JSON_MEDIA_TYPE = "application/json"

router = APIRouter(include_in_schema=False)  # included by web.console.routes under /console


def _here(conversation_id: int) -> str:
    return f"{PREFIX}/conversations/{conversation_id}"


@router.post("/conversations/{conversation_id}/takeover")
def take_over(user: Csrf, db: DB, conversation_id: int) -> Response:
    """Pauses the bot and lets the founder answer."""
    sender_id = conversation_or_404(db, conversation_id).sender_id
    db.rollback()  # no read snapshot across the Rasa call (SQLite: stale snapshot on write)
    try:
        rasa_bridge().pause(sender_id)
    except TakeoverError as error:
        return back(_here(conversation_id), err=t(user.lang, "rasa_unreachable") + str(error))
    queries.start_takeover(db, conversation_or_404(db, conversation_id), user.username)
    return back(_here(conversation_id))


@router.post("/conversations/{conversation_id}/handback")
def hand_back(user: Csrf, db: DB, conversation_id: int) -> Response:
    """Resumes the bot."""
    sender_id = conversation_or_404(db, conversation_id).sender_id
    db.rollback()  # no read snapshot across the Rasa call (SQLite: stale snapshot on write)
    try:
        rasa_bridge().resume(sender_id)
    except TakeoverError as error:
        return back(_here(conversation_id), err=t(user.lang, "rasa_unreachable") + str(error))
    queries.end_takeover(db, conversation_id)
    return back(_here(conversation_id))


@router.post("/conversations/{conversation_id}/say")
def founder_says(
    request: Request, user: Csrf, db: DB, conversation_id: int, text: Annotated[str, Form()] = ""
) -> Response:
    """Sends the founder's message to the customer (and records it)."""
    conversation = conversation_or_404(db, conversation_id)
    body = text.strip()[:MAX_FOUNDER_MESSAGE_CHARS]
    here = _here(conversation_id)
    wants_json = JSON_MEDIA_TYPE in request.headers.get("accept", "")
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
    message = queries.record_founder_message(db, conversation_or_404(db, conversation_id), body)
    if wants_json:
        return JSONResponse({"ok": True, "id": message.id})
    return back(here)
