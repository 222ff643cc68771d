"""Console routes of signing in and out, the interface language and the password.

Signing in reserves an attempt in the store's throttle *before* the password is checked
(:mod:`web.console.throttle`; 429 with ``Retry-After`` when the limit is reached), then
starts a server-side session (:mod:`web.console.auth`). Logout ends it; a password change
ends every session of the user and starts a new one for this browser.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from analytics.core.identity import secrets_equal
from web.console import auth, throttle
from web.console.deps import (
    DB,
    PREFIX,
    Csrf,
    User,
    back,
    clear_cookie,
    client_ip,
    ensure_founder,
    render,
    safe_next,
    set_login_csrf,
    set_session_cookie,
)
from web.console.i18n import LANGS, normalize_lang, t
from web.console.queries.auth import user_by_id

logger = logging.getLogger(__name__)

MAX_PASSWORD_CHARS = 1024

router = APIRouter(include_in_schema=False)  # included by web.console.routes under /console


def _both(key: str, **values: object) -> str:
    """A text in both languages (for answers read before the language is known)."""
    return " / ".join(t(lang, key, **values) for lang in LANGS)


# --- login -----------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, db: DB, next: str = "", lang: str = "") -> HTMLResponse:
    """The login form (with a double-submit CSRF token)."""
    ensure_founder(db)
    token = auth.new_csrf_token()
    response = render(request, "login.html", None, next=safe_next(next), login_csrf=token)
    set_login_csrf(request, response, token)
    return response


@router.post("/login")
def login(
    request: Request,
    db: DB,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
    lang: Annotated[str, Form()] = "",
) -> Response:
    """Reserves an attempt, checks the password and starts a session."""
    if not secrets_equal(csrf_token, request.cookies.get(auth.LOGIN_CSRF_COOKIE)):
        raise HTTPException(status_code=403, detail="CSRF token missing or wrong")
    client = client_ip(request)
    ui = normalize_lang(lang)
    name = username.strip()
    verdict = throttle.reserve(db, name, client)
    if not verdict.allowed:
        logger.warning("Console login throttled for a client at %s", client)
        error = _both("too_many_attempts", seconds=verdict.retry_after)
        refused = _login_error(request, ui, error, next, 429)
        refused.headers["Retry-After"] = str(verdict.retry_after)
        return refused
    ensure_founder(db)
    user = None
    if len(password) <= MAX_PASSWORD_CHARS:
        user = auth.authenticate(db, name, password)
    if user is None:
        logger.warning("Failed console login from %s", client)
        return _login_error(request, ui, t(ui, "wrong_login"), next, 401)
    throttle.succeeded(db, name, client)
    session = auth.start_session(db, user, normalize_lang(lang or user.language))
    response = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookie(request, response, session.sid)
    clear_cookie(request, response, auth.LOGIN_CSRF_COOKIE)
    return response


def _login_error(
    request: Request, lang: str, error: str, next_url: str, status: int
) -> HTMLResponse:
    token = auth.new_csrf_token()
    request.scope["query_string"] = f"lang={lang}".encode()
    response = render(
        request,
        "login.html",
        None,
        status=status,
        next=safe_next(next_url),
        login_csrf=token,
        error=error,
    )
    set_login_csrf(request, response, token)
    return response


@router.post("/logout")
def logout(request: Request, user: Csrf, db: DB) -> Response:
    """Ends the session in the store (the cookie then opens nothing) and drops the cookie."""
    auth.end_session(db, user.sid)
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    clear_cookie(request, response, auth.SESSION_COOKIE)
    return response


@router.post("/lang")
def switch_language(
    user: Csrf, db: DB, lang: Annotated[str, Form()] = "", back: Annotated[str, Form()] = ""
) -> Response:
    """Switches the interface language (remembered for the session and the user)."""
    auth.set_session_language(db, user, normalize_lang(lang))
    return RedirectResponse(safe_next(back), status_code=303)


@router.get("")
@router.get("/")
def home(user: User) -> Response:
    """The console starts at the inbox."""
    return RedirectResponse(f"{PREFIX}/inbox", status_code=303)


# --- password ----------------------------------------------------------------------------


@router.get("/password", response_class=HTMLResponse)
def password_page(request: Request, user: User) -> HTMLResponse:
    """The form to change the password."""
    return render(request, "password.html", user, nav="password", min_chars=auth.MIN_PASSWORD_CHARS)


@router.post("/password")
def change_password(
    request: Request,
    user: Csrf,
    db: DB,
    current_password: Annotated[str, Form()] = "",
    new_password: Annotated[str, Form()] = "",
    confirm_password: Annotated[str, Form()] = "",
) -> Response:
    """Checks the current password, sets the new one, ends every other session."""

    def refuse(key: str, status: int, **values: object) -> HTMLResponse:
        return render(
            request,
            "password.html",
            user,
            status=status,
            nav="password",
            min_chars=auth.MIN_PASSWORD_CHARS,
            error=t(user.lang, key, **values),
        )

    client = client_ip(request)
    verdict = throttle.reserve(db, user.username, client)
    if not verdict.allowed:
        refused = refuse("too_many_attempts", 429, seconds=verdict.retry_after)
        refused.headers["Retry-After"] = str(verdict.retry_after)
        return refused
    row = user_by_id(db, user.user_id)
    if (
        row is None
        or len(current_password) > MAX_PASSWORD_CHARS
        or not auth.verify_password(row.password_hash, current_password)
    ):
        logger.warning("Wrong current password in a password change from %s", client)
        return refuse("wrong_current_password", 401)
    if not auth.MIN_PASSWORD_CHARS <= len(new_password) <= MAX_PASSWORD_CHARS:
        return refuse("password_too_short", 400, n=auth.MIN_PASSWORD_CHARS)
    if new_password != confirm_password:
        return refuse("password_mismatch", 400)
    throttle.succeeded(db, user.username, client)
    auth.change_password(db, user.user_id, new_password)
    row = user_by_id(db, user.user_id)
    if row is None:  # pragma: no cover - deleted in between
        raise HTTPException(status_code=404, detail="no such user")
    session = auth.start_session(db, row, user.lang)
    response = back(f"{PREFIX}/inbox", msg=t(user.lang, "password_changed"))
    set_session_cookie(request, response, session.sid)
    return response
