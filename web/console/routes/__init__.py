"""HTTP routes of the founder's console, one module per page, all under ``/console``.

* :mod:`~web.console.routes.auth`: sign in and out, interface language, password;
* :mod:`~web.console.routes.inbox`: the inbox, its CSV export, hand-off polling;
* :mod:`~web.console.routes.conversation`: one conversation (tags, review, notes, teaching);
* :mod:`~web.console.routes.takeover`: the founder answering instead of the bot;
* :mod:`~web.console.routes.customer`: the customer list and one customer's page;
* :mod:`~web.console.routes.insights`: the charts;
* :mod:`~web.console.routes.teach`: corrections, training-data diff, retraining;
* :mod:`~web.console.routes.dead_letters`: events the ingest worker could not store;
* :mod:`~web.console.routes.knowledge`: the FAQ files (edit in place) and what they answered.

Routes are thin: they read the request, call the page's module in
:mod:`web.console.queries` and render a template of ``web/templates/console/``; shared
plumbing (database, session, CSRF, cookies, rendering) is in :mod:`web.console.deps`.
:func:`web.app.create_app` includes :data:`router` and calls :func:`setup`.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from web.console.deps import PREFIX, STATIC_DIR, LoginRequired, dispose_engines
from web.console.routes import (
    auth,
    conversation,
    customer,
    dead_letters,
    inbox,
    insights,
    knowledge,
    requests,
    takeover,
    teach,
)

PAGES = (
    auth,
    inbox,
    conversation,
    takeover,
    customer,
    insights,
    teach,
    dead_letters,
    knowledge,
    requests,
)
STATIC_NAME = "console-static"

router = APIRouter(include_in_schema=False)
for _page in PAGES:
    router.include_router(_page.router, prefix=PREFIX)


def setup(app: FastAPI) -> None:
    """Mounts the console's static files and its login redirect."""
    app.mount(f"{PREFIX}/static", StaticFiles(directory=str(STATIC_DIR)), name=STATIC_NAME)

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        if exc.api:
            return JSONResponse({"error": "login required"}, status_code=401)
        return RedirectResponse(f"{PREFIX}/login?next={quote(exc.next_url)}", status_code=303)


__all__ = ["router", "setup", "dispose_engines"]
