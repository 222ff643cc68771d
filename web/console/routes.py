"""HTTP routes of the founder's console (server-rendered pages and a few JSON endpoints).

Every route except the login page and the static files requires a signed session; every
POST requires the session's CSRF token. Templates live in ``web/templates/console/``
(Jinja autoescaping on; customer text is never marked safe).
"""

from __future__ import annotations

import csv
import io
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlparse

from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from analytics.db import make_engine, make_sessionmaker
from analytics.models import (
    CONV_OPEN,
    CONV_RESOLVED,
    LANGUAGES,
    ROLE_FOUNDER,
    ROLE_USER,
    Conversation,
    Message,
)
from web.console import auth, charts, queries
from web.console.config import get_config
from web.console.facts import FACTS, risk_band
from web.console.i18n import normalize_lang, t
from web.console.models import ConversationTag, IntentCorrection, Note, Takeover, utcnow
from web.console.retrain import RETRAINER
from web.console.takeover import RasaBridge, TakeoverError
from web.console.teach import (
    TeachError,
    corrections_overview,
    domain_intents,
    git_diff,
    language_dir,
    write_correction,
    write_test_conversation,
)
from web.settings import get_settings

logger = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent
TEMPLATES = Jinja2Templates(directory=str(WEB_DIR / "templates"))
STATIC_DIR = WEB_DIR / "static" / "console"
PREFIX = "/console"
MAX_TAG_CHARS = 50
MAX_NOTE_CHARS = 5000
MAX_FOUNDER_MESSAGE_CHARS = 2000

router = APIRouter(prefix=PREFIX, include_in_schema=False)
_throttle = auth.LoginThrottle()


# --- database and session plumbing ------------------------------------------------------

_engines: dict[str, tuple[Engine, sessionmaker[Session]]] = {}
_engines_lock = threading.Lock()
_founder_ready: set[str] = set()


def _factory() -> sessionmaker[Session]:
    url = get_settings().database_url
    with _engines_lock:
        if url not in _engines:
            engine = make_engine(url)
            _engines[url] = (engine, make_sessionmaker(engine))
        return _engines[url][1]


def get_db() -> Iterator[Session]:
    """A session on the store for one request."""
    with _factory()() as db:
        yield db


def dispose_engines() -> None:
    """Closes every engine (tests call this between stores)."""
    with _engines_lock:
        for engine, _ in _engines.values():
            engine.dispose()
        _engines.clear()
        _founder_ready.clear()
    FACTS.reset()
    _throttle.clear()


def _codec() -> auth.SessionCodec:
    return auth.SessionCodec(get_settings().session_secret)


def _ensure_founder(db: Session) -> None:
    url = get_settings().database_url
    if url in _founder_ready:
        return
    settings = get_settings()
    auth.ensure_founder(db, settings.console_user, settings.console_password)
    _founder_ready.add(url)


class LoginRequired(Exception):
    """Raised by :func:`current_user` when there is no valid session."""

    def __init__(self, api: bool, next_url: str) -> None:
        super().__init__("login required")
        self.api = api
        self.next_url = next_url


def current_user(request: Request) -> auth.ConsoleSession:
    """The signed-in founder, or :class:`LoginRequired`."""
    session = _codec().loads(request.cookies.get(auth.SESSION_COOKIE))
    if session is None:
        path = request.url.path
        api = path.startswith(f"{PREFIX}/api/") or request.query_params.get("format") == "csv"
        next_url = path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(api, next_url)
    return session


User = Annotated[auth.ConsoleSession, Depends(current_user)]
DB = Annotated[Session, Depends(get_db)]


async def require_csrf(request: Request, user: User) -> auth.ConsoleSession:
    """Rejects a POST without the session's CSRF token (form field or header)."""
    given = request.headers.get(auth.CSRF_HEADER)
    if not given:
        form = await request.form()
        value = form.get(auth.CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not auth.tokens_match(user.csrf, given):
        raise HTTPException(status_code=403, detail="CSRF token missing or wrong")
    return user


Csrf = Annotated[auth.ConsoleSession, Depends(require_csrf)]


def _safe_next(value: str | None) -> str:
    if not value:
        return f"{PREFIX}/inbox"
    parsed = urlparse(value)
    if parsed.scheme or parsed.netloc or not value.startswith(PREFIX + "/") or "\\" in value:
        return f"{PREFIX}/inbox"
    return value


def _set_session(response: Response, session: auth.ConsoleSession) -> None:
    response.set_cookie(
        auth.SESSION_COOKIE,
        _codec().dumps(session),
        max_age=auth.SESSION_MAX_AGE_S,
        path=PREFIX,
        httponly=True,
        samesite="lax",
        secure=get_config().cookie_secure,
    )


def _money(cents: Any) -> str:
    if cents is None:
        return "—"
    return f"¥{cents / 100:,.0f}" if abs(cents) >= 10000 else f"¥{cents / 100:,.2f}"


def _dt(value: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.strftime(fmt)


def _pct(value: Any) -> str:
    return "—" if value is None else f"{float(value) * 100:.0f}%"


TEMPLATES.env.filters["money"] = _money
TEMPLATES.env.filters["dt"] = _dt
TEMPLATES.env.filters["pct"] = _pct
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
        tr=lambda key, **values: t(lang, key, **values),
        flash=request.query_params.get("msg", ""),
        flash_error=request.query_params.get("err", ""),
    )
    return TEMPLATES.TemplateResponse(request, f"console/{name}", context, status_code=status)


def _back(url: str, *, msg: str = "", err: str = "") -> RedirectResponse:
    params = []
    if msg:
        params.append(f"msg={quote(msg)}")
    if err:
        params.append(f"err={quote(err)}")
    url, _, fragment = url.partition("#")
    sep = "&" if "?" in url else "?"
    url += sep + "&".join(params) if params else ""
    return RedirectResponse(url + (f"#{fragment}" if fragment else ""), status_code=303)


def _csv(rows: list[dict[str, Any]], columns: list[str], filename: str) -> Response:
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


# --- login -----------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, db: DB, next: str = "", lang: str = "") -> HTMLResponse:
    """The login form (with a double-submit CSRF token)."""
    _ensure_founder(db)
    token = auth.new_csrf_token()
    response = render(request, "login.html", None, next=_safe_next(next), login_csrf=token)
    response.set_cookie(
        auth.LOGIN_CSRF_COOKIE, token, max_age=3600, path=PREFIX, httponly=True, samesite="lax"
    )
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
    """Checks the password and starts a session."""
    _ensure_founder(db)
    if not auth.tokens_match(request.cookies.get(auth.LOGIN_CSRF_COOKIE), csrf_token):
        raise HTTPException(status_code=403, detail="CSRF token missing or wrong")
    client = request.client.host if request.client else "?"
    ui = normalize_lang(lang)
    if _throttle.blocked(client):
        return _login_error(request, ui, "too_many_attempts", next, 429)
    user = auth.authenticate(db, username.strip(), password)
    if user is None:
        _throttle.failed(client)
        logger.warning("Failed console login for %r from %s", username[:100], client)
        return _login_error(request, ui, "wrong_login", next, 401)
    _throttle.succeeded(client)
    response = RedirectResponse(_safe_next(next), status_code=303)
    session = auth.ConsoleSession(
        user.id, user.username, auth.new_csrf_token(), normalize_lang(lang or user.language)
    )
    _set_session(response, session)
    response.delete_cookie(auth.LOGIN_CSRF_COOKIE, path=PREFIX)
    return response


def _login_error(request: Request, lang: str, key: str, next_url: str, status: int) -> HTMLResponse:
    token = auth.new_csrf_token()
    request.scope["query_string"] = f"lang={lang}".encode()
    response = render(
        request,
        "login.html",
        None,
        status=status,
        next=_safe_next(next_url),
        login_csrf=token,
        error=t(lang, key),
    )
    response.set_cookie(
        auth.LOGIN_CSRF_COOKIE, token, max_age=3600, path=PREFIX, httponly=True, samesite="lax"
    )
    return response


@router.post("/logout")
def logout(user: Csrf) -> Response:
    """Ends the session."""
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    response.delete_cookie(auth.SESSION_COOKIE, path=PREFIX)
    return response


@router.post("/lang")
def switch_language(
    user: Csrf, db: DB, lang: Annotated[str, Form()] = "", back: Annotated[str, Form()] = ""
) -> Response:
    """Switches the interface language (remembered for the user)."""
    from web.console.models import ConsoleUser

    new = normalize_lang(lang)
    row = db.get(ConsoleUser, user.user_id)
    if row is not None:
        row.language = new
        db.commit()
    response = RedirectResponse(_safe_next(back), status_code=303)
    _set_session(response, auth.ConsoleSession(user.user_id, user.username, user.csrf, new))
    return response


@router.get("")
@router.get("/")
def home(user: User) -> Response:
    """The console starts at the inbox."""
    return RedirectResponse(f"{PREFIX}/inbox", status_code=303)


# --- inbox -----------------------------------------------------------------------------


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
        return _csv(rows, INBOX_CSV_COLUMNS, "conversations.csv")
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
        building=FACTS.progress if FACTS.building else None,
    )


@router.get("/api/handoffs")
def handoffs_api(user: User, db: DB) -> JSONResponse:
    """Open hand-off requests (the browser polls this to notify the founder)."""
    summary = queries.handoff_summary(db)
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


def _conversation_or_404(db: Session, conversation_id: int) -> Conversation:
    conversation = db.get(Conversation, conversation_id)
    if conversation is None:
        raise HTTPException(status_code=404, detail="no such conversation")
    return conversation


@router.get("/conversations/{conversation_id}", response_class=HTMLResponse)
def conversation_page(request: Request, user: User, db: DB, conversation_id: int) -> HTMLResponse:
    """Every turn of a conversation beside the customer's panel."""
    detail = queries.conversation_detail(db, conversation_id)
    if detail is None:
        raise HTTPException(status_code=404, detail="no such conversation")
    bridge = _bridge()
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
    _conversation_or_404(db, conversation_id)
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
                "at": _dt(m.created_at),
            }
            for m in rows
        ]
    )


@router.post("/conversations/{conversation_id}/tags")
def add_tag(user: Csrf, db: DB, conversation_id: int, tag: Annotated[str, Form()] = "") -> Response:
    """Adds a tag (idempotent)."""
    _conversation_or_404(db, conversation_id)
    value = " ".join(tag.split())[:MAX_TAG_CHARS]
    if value:
        db.add(ConversationTag(conversation_id=conversation_id, tag=value))
        try:
            db.commit()
        except IntegrityError:
            db.rollback()
    return _back(f"{PREFIX}/conversations/{conversation_id}")


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
    return _back(f"{PREFIX}/conversations/{conversation_id}")


@router.post("/conversations/{conversation_id}/reviewed")
def set_reviewed(
    user: Csrf, db: DB, conversation_id: int, reviewed: Annotated[str, Form()] = "1"
) -> Response:
    """Marks the conversation reviewed (or not)."""
    conversation = _conversation_or_404(db, conversation_id)
    conversation.reviewed = reviewed == "1"
    db.commit()
    return _back(f"{PREFIX}/conversations/{conversation_id}")


@router.post("/conversations/{conversation_id}/status")
def set_status(
    user: Csrf, db: DB, conversation_id: int, status: Annotated[str, Form()] = CONV_RESOLVED
) -> Response:
    """Resolves (or reopens) the conversation; resolving clears the hand-off request."""
    conversation = _conversation_or_404(db, conversation_id)
    if status not in (CONV_OPEN, CONV_RESOLVED):
        raise HTTPException(status_code=400, detail="bad status")
    conversation.status = status
    if status == CONV_RESOLVED:
        conversation.needs_handoff = False
    db.commit()
    return _back(f"{PREFIX}/conversations/{conversation_id}")


@router.post("/conversations/{conversation_id}/notes")
def add_note(
    user: Csrf, db: DB, conversation_id: int, text: Annotated[str, Form()] = ""
) -> Response:
    """Adds a note to the conversation (shown on the customer's page too)."""
    conversation = _conversation_or_404(db, conversation_id)
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
    return _back(f"{PREFIX}/conversations/{conversation_id}")


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
    back = f"{PREFIX}/conversations/{message.conversation_id}#m{message.id}"
    try:
        result = write_correction(config.nlu_dir, message.text, intent)
    except TeachError as error:
        return _back(back, err=t(user.lang, "correction_conflict") + str(error))
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
        return _back(back, msg=t(user.lang, "already_present"))
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
    back = f"{PREFIX}/conversations/{conversation_id}"
    try:
        path = write_test_conversation(
            get_config().test_conversations_dir,
            conversation_id,
            detail["conversation"].sender_id,
            turns,
        )
    except TeachError as error:
        return _back(back, err=str(error))
    return _back(back, msg=t(user.lang, "saved_test") + path.name)


# --- take-over ---------------------------------------------------------------------------


def _bridge() -> RasaBridge:
    settings = get_settings()
    return RasaBridge(settings.rasa_url, settings.rasa_auth_token)


def _active_takeover(db: Session, conversation_id: int) -> Takeover | None:
    return db.scalar(
        select(Takeover).where(
            Takeover.conversation_id == conversation_id, Takeover.active.is_(True)
        )
    )


@router.post("/conversations/{conversation_id}/takeover")
def take_over(user: Csrf, db: DB, conversation_id: int) -> Response:
    """Pauses the bot and lets the founder answer."""
    sender_id = _conversation_or_404(db, conversation_id).sender_id
    db.rollback()  # no read snapshot across the Rasa call (SQLite: stale snapshot on write)
    back = f"{PREFIX}/conversations/{conversation_id}"
    try:
        _bridge().pause(sender_id)
    except TakeoverError as error:
        return _back(back, err=t(user.lang, "rasa_unreachable") + str(error))
    conversation = _conversation_or_404(db, conversation_id)
    if _active_takeover(db, conversation_id) is None:
        db.add(Takeover(conversation_id=conversation_id, author=user.username, active=True))
    conversation.needs_handoff = False
    conversation.status = CONV_OPEN
    db.commit()
    return _back(back)


@router.post("/conversations/{conversation_id}/handback")
def hand_back(user: Csrf, db: DB, conversation_id: int) -> Response:
    """Resumes the bot."""
    sender_id = _conversation_or_404(db, conversation_id).sender_id
    db.rollback()  # no read snapshot across the Rasa call (SQLite: stale snapshot on write)
    back = f"{PREFIX}/conversations/{conversation_id}"
    try:
        _bridge().resume(sender_id)
    except TakeoverError as error:
        return _back(back, err=t(user.lang, "rasa_unreachable") + str(error))
    takeover = _active_takeover(db, conversation_id)
    if takeover is not None:
        takeover.active = False
        takeover.ended_at = utcnow()
    db.commit()
    return _back(back)


@router.post("/conversations/{conversation_id}/say")
def founder_says(
    request: Request, user: Csrf, db: DB, conversation_id: int, text: Annotated[str, Form()] = ""
) -> Response:
    """Sends the founder's message to the customer (and records it)."""
    conversation = _conversation_or_404(db, conversation_id)
    body = text.strip()[:MAX_FOUNDER_MESSAGE_CHARS]
    back = f"{PREFIX}/conversations/{conversation_id}"
    wants_json = "application/json" in request.headers.get("accept", "")
    if not body:
        return JSONResponse({"ok": False}, status_code=400) if wants_json else _back(back)
    sender_id = conversation.sender_id
    db.rollback()  # no read snapshot across the Rasa call (SQLite: stale snapshot on write)
    try:
        _bridge().say(sender_id, body)
    except TakeoverError as error:
        if wants_json:
            return JSONResponse({"ok": False, "error": str(error)}, status_code=502)
        return _back(back, err=t(user.lang, "rasa_unreachable") + str(error))
    conversation = _conversation_or_404(db, conversation_id)
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
    return _back(back)


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
        return _csv(queries.customers_export(db, filters), CUSTOMER_CSV_COLUMNS, "customers.csv")
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
        [_dt(c["started_at"], "%m-%d") for c in timeline],
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
    job = RETRAINER.start(get_config(), settings.rasa_url, settings.rasa_auth_token)
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse(job.as_dict())
    return _back(f"{PREFIX}/teach")


@router.get("/api/retrain")
def retrain_status(user: User) -> JSONResponse:
    """Progress of the current (or last) retraining job."""
    job = RETRAINER.job
    return JSONResponse(job.as_dict() if job else {"status": "none"})


# --- app wiring --------------------------------------------------------------------------


def setup(app: FastAPI) -> None:
    """Mounts the console's static files and its login redirect."""
    app.mount(f"{PREFIX}/static", StaticFiles(directory=str(STATIC_DIR)), name="console-static")

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        if exc.api:
            return JSONResponse({"error": "login required"}, status_code=401)
        return RedirectResponse(f"{PREFIX}/login?next={quote(exc.next_url)}", status_code=303)


__all__ = ["router", "setup", "ROLE_USER"]
