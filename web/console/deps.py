"""Plumbing shared by the console's routes: database, session, CSRF, cookies, rendering.

Every route except the login page and the static files depends on :data:`User` (a live
server-side session, else :class:`LoginRequired`); every POST depends on :data:`Csrf` (the
session's CSRF token in the form field or the ``X-CSRF-Token`` header). Templates live in
``web/templates/console/`` (Jinja autoescaping on; customer text is never marked safe).
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlparse

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from analytics.core.identity import secrets_equal
from analytics.core.vocabulary import (
    LANG_EN,
    LANG_ZH,
    RISK_BANDS,
    SEGMENT_NAMES,
    risk_band,
    segment_name,
)
from analytics.store.db import make_engine, make_sessionmaker
from analytics.store.models import Conversation
from web.console import auth
from web.console.config import get_config
from web.console.facts import FACTS
from web.console.i18n import normalize_lang, t
from web.console.takeover import RasaBridge
from web.security import NONCE_KEY, client_address
from web.settings import get_settings

WEB_DIR = Path(__file__).resolve().parent.parent
TEMPLATES = Jinja2Templates(directory=str(WEB_DIR / "templates"))
STATIC_DIR = WEB_DIR / "static" / "console"
PREFIX = "/console"
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
LOGIN_CSRF_MAX_AGE_S = 3600
LANGUAGE_OPTIONS = ((LANG_ZH, "中文"), (LANG_EN, "English"))
"""The customers' languages as the filters offer them (names in their own language)."""


# --- database ---------------------------------------------------------------------------

_engines: dict[str, tuple[Engine, sessionmaker[Session]]] = {}
_writers: dict[str, sessionmaker[Session]] = {}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Requests that never change state (their sessions only read)."""
_engines_lock = threading.Lock()
_founder_ready: set[str] = set()


def _factory(*, write_intent: bool = False) -> sessionmaker[Session]:
    url = get_settings().database_url
    with _engines_lock:
        if url not in _engines:
            engine = make_engine(url)
            _engines[url] = (engine, make_sessionmaker(engine))
        engine, readers = _engines[url]
        if not write_intent:
            return readers
        if url not in _writers:
            _writers[url] = make_sessionmaker(engine, write_intent=True)
        return _writers[url]


def get_db(request: Request) -> Iterator[Session]:
    """A session on the store for one request.

    A request that changes state (anything but GET, HEAD and OPTIONS) reads and then writes;
    its session declares that up front (``BEGIN IMMEDIATE`` on SQLite), so it waits for the
    ingest worker's commit instead of failing with "database is locked".
    """
    write_intent = request.method not in SAFE_METHODS
    with _factory(write_intent=write_intent)() as db:
        yield db


def dispose_engines() -> None:
    """Closes every engine (tests call this between stores)."""
    with _engines_lock:
        for engine, _ in _engines.values():
            engine.dispose()
        _engines.clear()
        _writers.clear()
        _founder_ready.clear()
    FACTS.reset()


def ensure_founder(db: Session) -> None:
    """Creates the founder's account on first use (once per process and store)."""
    settings = get_settings()
    if settings.database_url in _founder_ready:
        return
    auth.ensure_founder(db, settings.console_user, settings.console_password, get_config().work_dir)
    _founder_ready.add(settings.database_url)


DB = Annotated[Session, Depends(get_db)]


# --- session and CSRF -------------------------------------------------------------------


def codec() -> auth.SessionCodec:
    """The signer of session cookies (``SESSION_SECRET``)."""
    return auth.SessionCodec(get_settings().session_secret)


class LoginRequired(Exception):
    """Raised by :func:`current_user` when there is no valid session."""

    def __init__(self, api: bool, next_url: str) -> None:
        super().__init__("login required")
        self.api = api
        self.next_url = next_url


def current_user(request: Request, db: DB) -> auth.ConsoleSession:
    """The signed-in founder (a live session in the store), or :class:`LoginRequired`."""
    sid = codec().loads(request.cookies.get(auth.SESSION_COOKIE))
    session = auth.load_session(db, sid)
    db.rollback()  # no read snapshot held into the route (SQLite: stale snapshot on write)
    if session is None:
        path = request.url.path
        api = path.startswith(f"{PREFIX}/api/") or request.query_params.get("format") == "csv"
        next_url = path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(api, next_url)
    return session


User = Annotated[auth.ConsoleSession, Depends(current_user)]


async def require_csrf(request: Request, user: User) -> auth.ConsoleSession:
    """Rejects a POST without the session's CSRF token (form field or header)."""
    given = request.headers.get(auth.CSRF_HEADER)
    if not given:
        form = await request.form()
        value = form.get(auth.CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not secrets_equal(given, user.csrf):
        raise HTTPException(status_code=403, detail="CSRF token missing or wrong")
    return user


Csrf = Annotated[auth.ConsoleSession, Depends(require_csrf)]


def client_ip(request: Request) -> str:
    """The client's address (``X-Forwarded-For`` only behind ``CHAT_TRUSTED_PROXIES``)."""
    peer = request.client.host if request.client else None
    return client_address(peer, request.headers, get_settings().trusted_proxies)


def cookie_secure(request: Request) -> bool:
    """Whether cookies get ``Secure``.

    ``PROFILE=production`` always sets it. Otherwise ``CONSOLE_SECURE_COOKIES=on|off``
    decides, and ``auto`` (the default) leaves it off only for a plain-HTTP request to a
    local host. The scheme is the request's own: uvicorn takes ``X-Forwarded-Proto`` from
    the proxies in ``FORWARDED_ALLOW_IPS`` (default 127.0.0.1), so an HTTPS proxy on this
    machine gets ``Secure`` although it passes ``Host: 127.0.0.1``.

    Args:
        request: The request being answered.

    Returns:
        The flag.
    """
    settings = get_settings()
    if settings.production:
        return True
    if settings.secure_cookies in ("on", "off"):
        return settings.secure_cookies == "on"
    if request.url.scheme != "http":
        return True
    return (request.url.hostname or "").lower() not in LOCAL_HOSTS


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    """Sets a console cookie: ``Path=/console``, ``HttpOnly``, ``SameSite=Lax``, ``Secure``."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PREFIX,
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request),
    )


def clear_cookie(request: Request, response: Response, name: str) -> None:
    """Deletes a console cookie (same attributes as when it was set)."""
    response.delete_cookie(
        name, path=PREFIX, httponly=True, samesite="lax", secure=cookie_secure(request)
    )


def set_session_cookie(request: Request, response: Response, sid: str) -> None:
    """Puts the signed session id into the response's cookie."""
    set_cookie(request, response, auth.SESSION_COOKIE, codec().dumps(sid), auth.SESSION_MAX_AGE_S)


def set_login_csrf(request: Request, response: Response, token: str) -> None:
    """The login form's double-submit token."""
    set_cookie(request, response, auth.LOGIN_CSRF_COOKIE, token, LOGIN_CSRF_MAX_AGE_S)


def safe_next(value: str | None) -> str:
    """A console-local URL to go to after login, else the inbox."""
    if not value:
        return f"{PREFIX}/inbox"
    parsed = urlparse(value)
    if parsed.scheme or parsed.netloc or not value.startswith(PREFIX + "/") or "\\" in value:
        return f"{PREFIX}/inbox"
    return value


# --- rendering --------------------------------------------------------------------------


def money(cents: Any) -> str:
    """Cents as yuan (no decimals from ¥100 on)."""
    if cents is None:
        return "—"
    return f"¥{cents / 100:,.0f}" if abs(cents) >= 10000 else f"¥{cents / 100:,.2f}"


def dt(value: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A datetime (or ISO string) in UTC, formatted."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.strftime(fmt)


def pct(value: Any) -> str:
    """A fraction as a whole percentage."""
    return "—" if value is None else f"{float(value) * 100:.0f}%"


def segment_label(key: str | None, lang: str) -> str:
    """A segment's name in ``lang`` (:func:`analytics.core.vocabulary.segment_name`).

    A key the vocabulary does not know is shown as it is.
    """
    if not key:
        return "—"
    return segment_name(key, lang) if key in SEGMENT_NAMES else key


TEMPLATES.env.filters["money"] = money
TEMPLATES.env.filters["dt"] = dt
TEMPLATES.env.filters["pct"] = pct
TEMPLATES.env.filters["risk_band"] = risk_band
TEMPLATES.env.globals["risk_band"] = risk_band


def render(
    request: Request, name: str, user: auth.ConsoleSession | None, status: int = 200, **context: Any
) -> HTMLResponse:
    """Renders a console template with the common context."""
    lang = user.lang if user else normalize_lang(request.query_params.get("lang"))
    context.update(
        request=request,
        user=user,
        lang=lang,
        csrf=user.csrf if user else "",
        prefix=PREFIX,
        csp_nonce=getattr(request.state, NONCE_KEY, ""),
        tr=lambda key, **values: t(lang, key, **values),
        segment=lambda key: segment_label(key, lang),
        segment_options=lambda keys: [(key, segment_label(key, lang)) for key in keys],
        risk_options=[(band, t(lang, band)) for band in reversed(RISK_BANDS)],
        language_options=LANGUAGE_OPTIONS,
        flash=request.query_params.get("msg", ""),
        flash_error=request.query_params.get("err", ""),
    )
    return TEMPLATES.TemplateResponse(request, f"console/{name}", context, status_code=status)


def back(url: str, *, msg: str = "", err: str = "") -> RedirectResponse:
    """Redirects (303) to ``url`` with an optional flash message or error."""
    params = []
    if msg:
        params.append(f"msg={quote(msg)}")
    if err:
        params.append(f"err={quote(err)}")
    url, _, fragment = url.partition("#")
    sep = "&" if "?" in url else "?"
    url += sep + "&".join(params) if params else ""
    return RedirectResponse(url + (f"#{fragment}" if fragment else ""), status_code=303)


def csv_response(rows: list[dict[str, Any]], columns: list[str], filename: str) -> Response:
    """Rows as a UTF-8 CSV download; cells that look like formulas are neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in rows:
        values = []
        for column in columns:
            value = row.get(column)
            if isinstance(value, list):
                value = " ".join(map(str, value))
            if isinstance(value, datetime):
                value = value.isoformat()
            text = "" if value is None else str(value)
            if text[:1] in ("=", "+", "-", "@") and not _is_number(text):
                text = "'" + text  # no formula injection in spreadsheets
            values.append(text)
        writer.writerow(values)
    return Response(
        "\ufeff" + buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def rasa_bridge() -> RasaBridge:
    """Rasa as the console reaches it (``RASA_URL``, JWTs from ``RASA_JWT_SECRET``)."""
    settings = get_settings()
    return RasaBridge(settings.rasa_url, settings.rasa_jwt_secret)


def conversation_or_404(db: Session, conversation_id: int) -> Conversation:
    """The conversation, or HTTP 404."""
    conversation = db.get(Conversation, conversation_id)
    if conversation is None:
        raise HTTPException(status_code=404, detail="no such conversation")
    return conversation
