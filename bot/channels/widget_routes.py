"""The widget channel's HTTP routes: the session history and the founder's takeover.

Under ``/webhooks/widget`` on the Rasa server:

* ``GET /history/<session_id>`` with ``Authorization: Bearer <session token>`` (the token
  the channel issued to that session's socket, see :mod:`bot.channels.widget_session`) or
  ``Bearer <founder JWT>``: the session's messages (role, text, buttons, image, timestamp,
  client id) and whether it is paused, nothing else of the tracker. A browser request whose
  ``Origin`` is not one of ``SITE_ORIGINS`` gets 403; an allowed origin is echoed in
  ``Access-Control-Allow-Origin`` (never ``*``), always with ``Vary: Origin``.
* ``POST /upload``: a customer's photo (:mod:`bot.channels.uploads`).
* ``POST /founder/<sender_id>/message`` ``{"text", "image"?}``, ``.../pause``,
  ``.../resume``, ``.../typing`` ``{"on": bool}``: the founder's console. They need
  ``Authorization: Bearer <JWT>``, HS256 with ``RASA_JWT_SECRET`` (the secret Rasa's own API
  checks), an ``exp`` and ``{"user": {"role": "admin"}}``: 401 for a missing, forged or expired
  token, 403 for another role, 503 when ``RASA_JWT_SECRET`` is not set. A founder message
  to a conversation whose customer writes on a messaging channel (Telegram, WeCom...) is also
  sent there (:func:`bot.channels.messaging.registry.deliver_founder_message`); the answer
  then adds ``"channel"`` and ``"delivered"`` (true, false, or null while still retrying).
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import jwt
from rasa.shared.core.events import (
    BotUttered,
    ConversationPaused,
    ConversationResumed,
    Event,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.hygiene import clean_text
from bot.channels.limits import client_address
from bot.channels.messaging.outbound import OutMessage
from bot.channels.messaging.registry import deliver_founder_message
from bot.channels.uploads import META_UPLOAD_ID, add_upload_route
from bot.channels.widget_session import is_session_id

if TYPE_CHECKING:
    from bot.channels.widget import WidgetInput

logger = logging.getLogger(__name__)

ENV_JWT_SECRET = "RASA_JWT_SECRET"
JWT_ALGORITHM = "HS256"
ROLE_ADMIN = "admin"
MAX_FOUNDER_MESSAGE_CHARS = 4000
AUTHOR_BOT = "bot"
AUTHOR_FOUNDER = "founder"
META_AUTHOR = "author"
META_CLIENT_ID = "client_id"
META_DISPLAY_TEXT = "display_text"
MAX_DISPLAY_CHARS = 2000
# Request flag of Sanic-CORS (``sanic_cors.core.SANIC_CORS_EVALUATED``): headers already set.
SANIC_CORS_EVALUATED = "_sanic_cors_e"
# The founder's console may address any conversation (e.g. one started over REST).
SENDER_ID_RE = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")
CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def is_safe_url(value: Any) -> bool:
    """Whether ``value`` is an absolute http(s) URL (what the widget may link or show)."""
    return isinstance(value, str) and re.match(r"^https?://[^\s]+$", value, re.I) is not None


def history_item(event: Event) -> dict[str, Any] | None:
    """What the widget may show of one tracker event: only texts, buttons, images and times.

    Args:
        event: A tracker event.

    Returns:
        ``{"role", "text", "timestamp", ...}`` for a user or bot message with content,
        else None (every other event, and every metadata field, stays private).
    """
    if isinstance(event, UserUttered):
        if not event.text:
            return None
        metadata = event.metadata or {}
        text = event.text
        display = metadata.get(META_DISPLAY_TEXT)
        if text.startswith("/") and isinstance(display, str) and display.strip():
            text = display.strip()[:MAX_DISPLAY_CHARS]
        item: dict[str, Any] = {"role": "user", "text": text, "timestamp": event.timestamp}
        client_id = metadata.get(META_CLIENT_ID)
        if isinstance(client_id, str) and CLIENT_ID_RE.match(client_id):
            item["client_id"] = client_id
        if isinstance(metadata.get(META_UPLOAD_ID), str):
            item["photo"] = True  # the customer attached a photo (not served back)
        return item
    if isinstance(event, BotUttered):
        data = event.data or {}
        image = data.get("image")
        attachment = data.get("attachment")
        if not is_safe_url(image) and isinstance(attachment, dict):
            image = (attachment.get("payload") or {}).get("src")
        image = image if is_safe_url(image) else None
        if not event.text and not image:
            return None
        author = (event.metadata or {}).get(META_AUTHOR)
        item = {
            "role": AUTHOR_FOUNDER if author == AUTHOR_FOUNDER else AUTHOR_BOT,
            "text": event.text or "",
            "timestamp": event.timestamp,
        }
        buttons = [
            {"title": b["title"], "payload": b["payload"]}
            for b in data.get("buttons") or []
            if isinstance(b, dict)
            and isinstance(b.get("title"), str)
            and isinstance(b.get("payload"), str)
        ]
        if buttons:
            item["buttons"] = buttons
        if image:
            item["image"] = image
        return item
    return None


def history_of(tracker: DialogueStateTracker | None) -> list[dict[str, Any]]:
    """The visible messages of a tracker, oldest first (empty for an unknown session)."""
    if tracker is None:
        return []
    return [item for item in map(history_item, tracker.events) if item is not None]


def client_ids_of(tracker: DialogueStateTracker | None) -> set[str]:
    """Client message ids of the user messages stored in a tracker."""
    if tracker is None:
        return set()
    return {
        e.metadata[META_CLIENT_ID]
        for e in tracker.events
        if isinstance(e, UserUttered) and isinstance((e.metadata or {}).get(META_CLIENT_ID), str)
    }


def bearer(request: Request) -> str:
    """The token of an ``Authorization: Bearer`` header, or ``""``."""
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header[:7].lower() == "bearer " else ""


def founder_denial(token: str, secret: str | None) -> tuple[int, str] | None:
    """Why a founder JWT is refused (status and error), or None if it is an admin's.

    Args:
        token: The bearer token.
        secret: ``RASA_JWT_SECRET``.

    Returns:
        None, or ``(503, ...)`` without a secret, ``(401, ...)`` for a missing, forged,
        malformed or expired token, ``(403, ...)`` for a valid token of another role.
    """
    if not secret:
        return 503, f"founder endpoints are disabled: {ENV_JWT_SECRET} is not set"
    if not token:
        return 401, "unauthorized"
    try:
        claims = jwt.decode(token, secret, algorithms=[JWT_ALGORITHM], options={"require": ["exp"]})
    except jwt.PyJWTError as error:
        logger.warning("Refused a founder token: %s", type(error).__name__)
        return 401, "unauthorized"
    user = claims.get("user") if isinstance(claims, dict) else None
    role = user.get("role") if isinstance(user, dict) else None
    if role != ROLE_ADMIN:
        return 403, "forbidden: the token's role is not admin"
    return None


def _founder_denied(request: Request) -> HTTPResponse | None:
    denial = founder_denial(bearer(request), os.environ.get(ENV_JWT_SECRET))
    if denial is None:
        return None
    return response.json({"error": denial[1]}, status=denial[0])


def add_routes(bp: Blueprint, channel: WidgetInput) -> None:
    """Adds the health, history and founder routes of ``channel`` to its blueprint."""

    @bp.route("/", methods=["GET"])
    async def health(_: Request) -> HTTPResponse:
        return response.json({"status": "ok"})

    add_upload_route(bp, channel, SANIC_CORS_EVALUATED)

    @bp.route("/history/<session_id>", methods=["GET"])
    async def history(request: Request, session_id: str) -> HTTPResponse:
        # This route sets its own CORS headers: tell Sanic-CORS not to add others.
        setattr(request.ctx, SANIC_CORS_EVALUATED, True)
        headers = {"Cache-Control": "no-store", "Vary": "Origin"}
        origin = request.headers.get("Origin")
        if origin is not None:
            if not channel.limits.origin_allowed(origin):
                return response.json({"error": "origin not allowed"}, status=403, headers=headers)
            headers["Access-Control-Allow-Origin"] = origin
        address = client_address(
            request.ip or "", request.headers.get("X-Forwarded-For"), channel.limits.trusted_proxies
        )
        if (refusal := channel.guard.check_address(address)) is not None:
            headers["Retry-After"] = str(refusal.retry_after)
            return response.json(refusal.body(), status=refusal.status, headers=headers)
        if not is_session_id(session_id):
            return response.json({"error": "unknown session"}, status=404, headers=headers)
        token = bearer(request)
        if not channel.tokens.verify(session_id, token) and (
            founder_denial(token, os.environ.get(ENV_JWT_SECRET)) is not None
        ):
            return response.json({"error": "unauthorized"}, status=401, headers=headers)
        tracker = await channel.tracker(session_id)
        return response.json(
            {
                "session_id": session_id,
                "paused": bool(tracker is not None and tracker.is_paused()),
                "messages": history_of(tracker),
            },
            headers=headers,
        )

    def founder_route(
        what: str,
    ) -> Callable[[Callable[..., Awaitable[HTTPResponse]]], Any]:
        def register(handler: Callable[..., Awaitable[HTTPResponse]]) -> Any:
            async def guarded(request: Request, sender_id: str) -> HTTPResponse:
                if (denied := _founder_denied(request)) is not None:
                    return denied
                if not SENDER_ID_RE.match(sender_id):
                    return response.json({"error": "bad conversation id"}, status=400)
                return await handler(request, sender_id)

            guarded.__name__ = f"founder_{what}"
            return bp.route(f"/founder/<sender_id>/{what}", methods=["POST"])(guarded)

        return register

    @founder_route("message")
    async def founder_message(request: Request, sender_id: str) -> HTTPResponse:
        body = request.json if isinstance(request.json, dict) else {}
        raw = body.get("text")
        text = clean_text(raw).strip() if isinstance(raw, str) else ""
        image = body.get("image")
        if image is not None and not is_safe_url(image):
            return response.json({"error": "image must be an http(s) URL"}, status=400)
        if not text and not image:
            return response.json({"error": "text is empty"}, status=400)
        if len(text) > MAX_FOUNDER_MESSAGE_CHARS:
            return response.json({"error": "text is too long"}, status=400)
        now = time.time()
        data = {"image": image} if image else {}
        event = BotUttered(text, data, metadata={META_AUTHOR: AUTHOR_FOUNDER}, timestamp=now)
        if not await channel.append_events(sender_id, [event]):
            return response.json({"error": "unknown conversation"}, status=404)
        payload: dict[str, Any] = {"text": text, META_AUTHOR: AUTHOR_FOUNDER, "timestamp": now}
        if image:
            payload["attachment"] = {"type": "image", "payload": {"src": image}}
        await channel.emit("typing", {"on": False, "author": AUTHOR_FOUNDER}, sender_id)
        await channel.emit(channel.bot_message_evt, payload, sender_id)
        answer: dict[str, Any] = {"ok": True, "timestamp": now}
        try:
            agent = getattr(request.app.ctx, "agent", None)
            sent = await deliver_founder_message(agent, sender_id, OutMessage(text, image=image))
        except Exception:
            logger.exception("Could not send the founder's message to %s", sender_id)
            sent = {"delivered": False}
        if sent is not None:
            answer.update(sent)
        return response.json(answer)

    async def set_paused(sender_id: str, paused: bool) -> HTTPResponse:
        event: Event = ConversationPaused() if paused else ConversationResumed()
        if not await channel.append_events(sender_id, [event]):
            return response.json({"error": "unknown conversation"}, status=404)
        await channel.emit("bot_state", {"paused": paused}, sender_id)
        return response.json({"ok": True, "paused": paused})

    @founder_route("pause")
    async def founder_pause(_: Request, sender_id: str) -> HTTPResponse:
        return await set_paused(sender_id, True)

    @founder_route("resume")
    async def founder_resume(_: Request, sender_id: str) -> HTTPResponse:
        return await set_paused(sender_id, False)

    @founder_route("typing")
    async def founder_typing(request: Request, sender_id: str) -> HTTPResponse:
        body = request.json if isinstance(request.json, dict) else {}
        on = bool(body.get("on", True))
        await channel.emit("typing", {"on": on, "author": AUTHOR_FOUNDER}, sender_id)
        return response.json({"ok": True})
