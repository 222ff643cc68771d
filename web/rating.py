"""The widget's end-of-chat rating: ``POST /widget/rating`` (and its CORS preflight).

A rating is stored in ``conversations.rating`` only when it proves that it comes from the
chat's own widget, and it costs little to refuse one that does not:

* **Origin.** A browser request with an ``Origin`` must come from one of ``SITE_ORIGINS``
  (the sites the widget runs on) or this app's own origin; that origin is echoed in
  ``Access-Control-Allow-Origin`` (never ``*``), any other gets 403.
* **Rate.** :data:`RATING_PER_MINUTE` requests per client address and minute (IPv6 per /64;
  ``X-Forwarded-For`` only behind ``CHAT_TRUSTED_PROXIES``; loopback exempt unless
  ``CHAT_RATE_EXEMPT_LOOPBACK`` is off), counted before anything else is read; then 429
  with ``Retry-After``.
* **Token.** The body carries the widget's ``session_token`` next to the ``session_id``;
  it is checked locally (:mod:`web.widget_session`, an HMAC keyed from
  ``RASA_JWT_SECRET``), so a made-up or guessed session id never reaches Rasa or the store.
  Without ``RASA_JWT_SECRET`` no token can be checked and ratings are refused (503).
* **Existence.** A conversation the store already has is rated at once. Otherwise (the
  ingest worker has not stored it yet) Rasa is asked for the tracker, without blocking a
  thread, and the conversation must have a customer message.

A rating never links a conversation to a customer (only a door's verified identity does
that, through the ingest worker). Answers are JSON ``{"error", "message"}`` (message in
Chinese and English) on refusal, ``{"ok": true, "rating": n}`` on success.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from analytics.core.vocabulary import LANG_ZH, LANGUAGES
from analytics.store import repositories as repo
from analytics.store.db import make_engine
from web.rasa_auth import rasa_headers
from web.security import (
    RATE_LIMITED_TEXT,
    FixedWindowCounter,
    client_address,
    is_loopback,
    rate_key,
)
from web.settings import WebSettings, get_settings
from web.widget_session import verify_session_token

logger = logging.getLogger(__name__)

RATING_PATH = "/widget/rating"
RATING_PER_MINUTE = 30
MAX_BODY_BYTES = 2048
RASA_TIMEOUT_S = 5.0
COUNTER_STATE = "rating_counter"
PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "86400",
}
VARY = {"Vary": "Origin"}
MESSAGES = {
    "origin_not_allowed": "此网站不能提交评价。 / This site may not send ratings.",
    "too_large": "评价内容太大。 / The rating request is too large.",
    "bad_request": "评价无法读取。 / The rating could not be read.",
    "bad_token": "这次对话的凭证无效或已过期。 / This chat's session token is invalid or expired.",
    "unknown_session": "找不到这次对话。 / This conversation was not found.",
    "unavailable": "暂时无法保存评价。 / Ratings cannot be saved right now.",
}

router = APIRouter()


class RatingIn(BaseModel):
    """An end-of-chat rating sent by the widget."""

    session_id: str = Field(max_length=64)
    session_token: str | None = Field(default=None, max_length=200)
    rating: int = Field(ge=1, le=5)
    language: str = Field(default=LANG_ZH, max_length=8)


def _error(code: str, status: int, headers: dict[str, str], **values: object) -> JSONResponse:
    text = RATE_LIMITED_TEXT.format(**values) if code == "rate_limited" else MESSAGES[code]
    return JSONResponse({"error": code, "message": text}, status_code=status, headers=headers)


def cors_headers(request: Request, settings: WebSettings) -> dict[str, str] | None:
    """The CORS headers of an answer to this request, or ``None`` when its origin is refused.

    Args:
        request: The request (its ``Origin`` header).
        settings: The web settings (``SITE_ORIGINS``).

    Returns:
        ``Vary: Origin`` alone without an ``Origin`` header (not a cross-site browser
        request), plus ``Access-Control-Allow-Origin: <origin>`` for an allowed origin.
    """
    origin = request.headers.get("origin")
    if origin is None:
        return dict(VARY)
    normal = origin.strip().rstrip("/").lower()
    own = f"{request.url.scheme}://{request.url.netloc}".lower()
    if normal in settings.site_origins or normal == own:
        return {"Access-Control-Allow-Origin": origin, **VARY}
    return None


def _counter(request: Request) -> FixedWindowCounter:
    counter = getattr(request.app.state, COUNTER_STATE, None)
    if counter is None:
        counter = FixedWindowCounter()
        setattr(request.app.state, COUNTER_STATE, counter)
    return counter


def _rate_limited(request: Request, settings: WebSettings) -> int:
    """Counts the request against its address; the seconds to wait, or 0."""
    peer = request.client.host if request.client else None
    address = client_address(peer, request.headers, settings.trusted_proxies)
    if settings.rate_exempt_loopback and is_loopback(address):
        return 0
    retry_after, first = _counter(request).hit(rate_key(address), RATING_PER_MINUTE)
    if retry_after and first:
        logger.warning("Rating rate limit reached by %s", address)
    return retry_after


async def _read_body(request: Request) -> RatingIn | str:
    """The parsed body, or the error code (``too_large`` / ``bad_request``)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return "too_large"
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            return "too_large"
    try:
        return RatingIn.model_validate(json.loads(raw))
    except (ValueError, ValidationError):  # bad UTF-8, bad JSON, wrong fields
        return "bad_request"


@lru_cache(maxsize=4)
def _engine(url: str) -> Engine:
    return make_engine(url)


def _store(url: str, body: RatingIn, *, create: bool) -> bool:
    """Stores the rating; an unknown conversation is created only when ``create``.

    The store's one conversation writer does it (an existing row keeps its state: a resolved
    chat is not re-opened by its rating).
    """
    language = body.language if body.language in LANGUAGES else LANG_ZH
    with Session(_engine(url)) as session:
        rated = repo.rate_conversation(
            session,
            body.session_id,
            body.rating,
            create=create,
            language=language,
            at=datetime.now(UTC),
        )
        if rated is None:
            return False
        session.commit()
    return True


async def _rasa_has_messages(settings: WebSettings, session_id: str) -> bool:
    """Whether Rasa's tracker of this (token-proven) session has a customer message."""
    url = f"{settings.rasa_url.rstrip('/')}/conversations/{session_id}/tracker"
    try:
        async with httpx.AsyncClient(timeout=RASA_TIMEOUT_S) as client:
            response = await client.get(url, headers=rasa_headers(settings.rasa_jwt_secret))
    except httpx.HTTPError as error:
        logger.warning("Could not reach Rasa to check a rated session: %s", type(error).__name__)
        return False
    if response.status_code != 200:
        logger.warning("Rasa answered %d to the rated session check", response.status_code)
        return False
    try:
        events: list[Any] = response.json().get("events") or []
    except (ValueError, AttributeError):
        return False
    return any(isinstance(e, dict) and e.get("event") == "user" for e in events)


@router.options(RATING_PATH, include_in_schema=False)
def rating_preflight(request: Request) -> Response:
    """CORS preflight: only ``SITE_ORIGINS`` (and this app's own origin) may post."""
    cors = cors_headers(request, get_settings())
    if cors is None or "Access-Control-Allow-Origin" not in cors:
        return Response(status_code=403, headers=VARY)
    return Response(status_code=204, headers={**cors, **PREFLIGHT_HEADERS})


@router.post(RATING_PATH, name="widget_rating")
async def widget_rating(request: Request) -> Response:
    """Checks origin, rate, session token and conversation, then stores the rating."""
    settings = get_settings()
    cors = cors_headers(request, settings)
    if cors is None:
        return _error("origin_not_allowed", 403, dict(VARY))
    retry_after = _rate_limited(request, settings)
    if retry_after:
        headers = {**cors, "Retry-After": str(retry_after)}
        return _error("rate_limited", 429, headers, seconds=retry_after)
    body = await _read_body(request)
    if isinstance(body, str):
        return _error(body, 413 if body == "too_large" else 400, cors)
    secret = settings.rasa_jwt_secret
    if not secret:
        logger.error("RASA_JWT_SECRET is not set: widget session tokens cannot be checked")
        return _error("unavailable", 503, cors)
    if not verify_session_token(secret, body.session_id, body.session_token):
        return _error("bad_token", 403, cors)
    url = settings.database_url
    if not await run_in_threadpool(_store, url, body, create=False):
        if not await _rasa_has_messages(settings, body.session_id):
            return _error("unknown_session", 404, cors)
        await run_in_threadpool(_store, url, body, create=True)
    logger.info("Conversation %s… rated %d", body.session_id[:8], body.rating)
    return JSONResponse({"ok": True, "rating": body.rating}, headers=cors)


def setup(app: FastAPI) -> None:
    """Gives the app its own per-address rating counter."""
    setattr(app.state, COUNTER_STATE, FixedWindowCounter())
