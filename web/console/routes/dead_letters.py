"""Console route of the dead-letter page: events the ingest worker could not store."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from web.console.deps import DB, User, render
from web.console.queries.dead_letters import (
    DEAD_LETTERS_SHOWN,
    dead_letter_count,
    recent_dead_letters,
)

router = APIRouter(include_in_schema=False)  # included by web.console.routes under /console


@router.get("/dead-letters", response_class=HTMLResponse)
def dead_letters_page(request: Request, user: User, db: DB) -> HTMLResponse:
    """Events the ingest worker could not store (newest first), with their errors."""
    return render(
        request,
        "dead_letters.html",
        user,
        nav="dead_letters",
        rows=recent_dead_letters(db, DEAD_LETTERS_SHOWN),
        total=dead_letter_count(db),
        shown=DEAD_LETTERS_SHOWN,
    )
