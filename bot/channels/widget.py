"""The website chat widget's channel: Rasa's socket.io channel plus what the widget needs.

Registered in ``bot/credentials.yml`` as ``bot.channels.widget.WidgetInput``; it listens on
its own socket.io path (``/widget/socket.io`` by default) beside Rasa's plain ``socketio``
channel, always with session persistence: a session id is a random 128-bit hex string that
the server issues, and knowing it is the capability to read and continue that conversation.

Socket.io events (client -> server):

* ``session_request`` ``{"session_id": <id or null>}`` -> ``session_confirm`` (the id, a new
  one if the given one is missing or malformed) and ``bot_state``.
* ``user_uttered`` ``{"session_id", "message", "client_id", "metadata"}``, sent with an
  acknowledgement callback. Messages are processed one at a time per session, in arrival
  order; a ``client_id`` already seen in the session (in memory or in the tracker) is
  acknowledged again but not processed twice, so a client may safely resend after a
  reconnect. The acknowledgement is ``{"ok": true, "client_id", "timestamp"}`` (plus
  ``"duplicate": true``) or ``{"ok": false, "error": "too_long" | "empty" | ...}``.

Server -> client (to the session's room, i.e. every tab of that session):

* ``bot_uttered``: Rasa's socket.io payloads plus ``author`` (``bot`` | ``founder``) and
  ``timestamp`` (epoch seconds).
* ``user_echo`` ``{"text", "client_id", "timestamp"}``: a message another tab sent.
* ``typing`` ``{"on": bool, "author": "bot" | "founder"}``.
* ``bot_state`` ``{"paused": bool}``: the founder has taken over (bot paused) or handed back.

HTTP routes (under ``/webhooks/widget``):

* ``GET /history/<session_id>``: the session's messages (role, text, buttons, image,
  timestamp, client id) and whether it is paused. Nothing else of the tracker (no metadata,
  no intents, no slots) and never another session.
* ``POST /founder/<session_id>/message`` ``{"text", "image"?}``, ``POST .../pause``,
  ``POST .../resume``, ``POST .../typing`` ``{"on": bool}``: the founder's console. They
  need ``Authorization: Bearer $RASA_AUTH_TOKEN`` and are disabled if that variable is unset.
  A founder message is appended to the tracker as ``BotUttered`` with metadata
  ``{"author": "founder"}``; pause and resume append ``ConversationPaused`` /
  ``ConversationResumed``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from rasa.shared.core.events import (
    BotUttered,
    ConversationPaused,
    ConversationResumed,
    Event,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncServer

logger = logging.getLogger(__name__)

CHANNEL_NAME = "widget"
ENV_AUTH_TOKEN = "RASA_AUTH_TOKEN"
DEFAULT_SOCKETIO_PATH = "/widget/socket.io"
DEFAULT_MAX_MESSAGE_CHARS = 1000
MAX_FOUNDER_MESSAGE_CHARS = 4000
AUTHOR_BOT = "bot"
AUTHOR_FOUNDER = "founder"
META_AUTHOR = "author"
META_CLIENT_ID = "client_id"
META_DISPLAY_TEXT = "display_text"

# Widget session ids are issued by the server: 32 lowercase hex digits (uuid4).
SESSION_ID_RE = re.compile(r"^[0-9a-f]{32}$")
# The founder's console may address any conversation (e.g. one started over REST).
SENDER_ID_RE = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")
CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

# Request flag of Sanic-CORS (``sanic_cors.core.SANIC_CORS_EVALUATED``): headers already set.
SANIC_CORS_EVALUATED = "_sanic_cors_e"
MAX_REMEMBERED_SESSIONS = 2000
MAX_REMEMBERED_IDS_PER_SESSION = 500


def new_session_id() -> str:
    """A fresh, unguessable widget session id."""
    return uuid.uuid4().hex


def is_session_id(value: Any) -> bool:
    """Whether ``value`` has the form of a server-issued widget session id."""
    return isinstance(value, str) and bool(SESSION_ID_RE.match(value))


def is_safe_url(value: Any) -> bool:
    """Whether ``value`` is an absolute http(s) URL (what the widget may link or show)."""
    return isinstance(value, str) and re.match(r"^https?://[^\s]+$", value, re.I) is not None


class RecentIds:
    """Client message ids seen recently, per session, bounded in memory (LRU)."""

    def __init__(
        self,
        max_sessions: int = MAX_REMEMBERED_SESSIONS,
        max_per_session: int = MAX_REMEMBERED_IDS_PER_SESSION,
    ) -> None:
        """Creates an empty memory.

        Args:
            max_sessions: How many sessions to remember (least recently used are dropped).
            max_per_session: How many ids to remember per session.
        """
        self._ids: OrderedDict[str, OrderedDict[str, float]] = OrderedDict()
        self._max_sessions = max_sessions
        self._max_per_session = max_per_session

    def seen(self, session_id: str, client_id: str) -> float | None:
        """The timestamp stored with ``client_id`` in that session, or None if not seen."""
        ids = self._ids.get(session_id)
        if ids is None:
            return None
        self._ids.move_to_end(session_id)
        return ids.get(client_id)

    def add(self, session_id: str, client_id: str, timestamp: float) -> None:
        """Remembers that ``client_id`` was processed in that session at ``timestamp``."""
        ids = self._ids.setdefault(session_id, OrderedDict())
        self._ids.move_to_end(session_id)
        ids[client_id] = timestamp
        while len(ids) > self._max_per_session:
            ids.popitem(last=False)
        while len(self._ids) > self._max_sessions:
            self._ids.popitem(last=False)


class WidgetOutput(SocketIOOutput):
    """Rasa's socket.io output with an author and a timestamp on every message."""

    @classmethod
    def name(cls) -> str:
        """The channel name recorded on the tracker."""
        return CHANNEL_NAME

    async def _send_message(self, socket_id: str, response: Any) -> None:
        """Emits a bot message to the session's room."""
        if isinstance(response, dict):
            response = {META_AUTHOR: AUTHOR_BOT, "timestamp": time.time(), **response}
        await self.sio.emit(self.bot_message_evt, response, room=socket_id)


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
            text = display.strip()[:DEFAULT_MAX_MESSAGE_CHARS]
        item: dict[str, Any] = {"role": "user", "text": text, "timestamp": event.timestamp}
        client_id = metadata.get(META_CLIENT_ID)
        if isinstance(client_id, str) and CLIENT_ID_RE.match(client_id):
            item["client_id"] = client_id
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


class WidgetBlueprint(SocketBlueprint):
    """Socket blueprint that tells its channel which Sanic app it was registered on."""

    def __init__(self, channel: WidgetInput, sio: AsyncServer, socketio_path: str) -> None:
        """Creates the blueprint of ``channel``'s routes and socket.io server."""
        super().__init__(sio, socketio_path, "widget_webhook", __name__)
        self.ctx.channel = channel

    def register(self, app: Sanic, options: dict[str, Any]) -> None:
        """Attaches the socket.io server and remembers the app (for its agent)."""
        self.ctx.channel.app = app
        super().register(app, options)


class WidgetInput(SocketIOInput):
    """Socket.io channel of the website widget: history, typing, dedup, founder takeover."""

    @classmethod
    def name(cls) -> str:
        """The channel name (URL prefix ``/webhooks/widget``, ``input_channel`` of events)."""
        return CHANNEL_NAME

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        """Creates the channel from its section in ``credentials.yml``."""
        credentials = credentials or {}
        return cls(
            user_message_evt=credentials.get("user_message_evt", "user_uttered"),
            bot_message_evt=credentials.get("bot_message_evt", "bot_uttered"),
            namespace=credentials.get("namespace"),
            socketio_path=credentials.get("socketio_path", DEFAULT_SOCKETIO_PATH),
            metadata_key=credentials.get("metadata_key", "metadata"),
            max_message_chars=int(credentials.get("max_message_chars", DEFAULT_MAX_MESSAGE_CHARS)),
        )

    def __init__(
        self,
        user_message_evt: str = "user_uttered",
        bot_message_evt: str = "bot_uttered",
        namespace: str | None = None,
        socketio_path: str = DEFAULT_SOCKETIO_PATH,
        metadata_key: str = "metadata",
        max_message_chars: int = DEFAULT_MAX_MESSAGE_CHARS,
    ) -> None:
        """Creates the channel (session persistence is always on).

        Args:
            user_message_evt: Socket.io event of user messages.
            bot_message_evt: Socket.io event of bot messages.
            namespace: Socket.io namespace, if any.
            socketio_path: HTTP path of the socket.io server.
            metadata_key: Key of the message metadata in ``user_message_evt`` payloads.
            max_message_chars: Longest accepted user message (the widget enforces the same).
        """
        super().__init__(
            user_message_evt=user_message_evt,
            bot_message_evt=bot_message_evt,
            namespace=namespace,
            session_persistence=True,
            socketio_path=socketio_path,
            metadata_key=metadata_key,
        )
        self.max_message_chars = max_message_chars
        self.app: Sanic | None = None
        self.recent_ids = RecentIds()
        self._locks: OrderedDict[str, asyncio.Lock] = OrderedDict()

    # -- helpers ---------------------------------------------------------------------
    def get_output_channel(self) -> OutputChannel | None:
        """The output channel for messages sent through Rasa's HTTP API to this channel."""
        if self.sio is None:
            return None
        return WidgetOutput(self.sio, self.bot_message_evt)

    def _agent(self) -> Any:
        return getattr(self.app.ctx, "agent", None) if self.app is not None else None

    async def _tracker(self, sender_id: str) -> DialogueStateTracker | None:
        """The sender's full tracker, or None if it does not exist (never creates one)."""
        agent = self._agent()
        if agent is None or agent.tracker_store is None:
            return None
        return await agent.tracker_store.retrieve_full_tracker(sender_id)

    def _lock(self, session_id: str) -> asyncio.Lock:
        """The lock that makes one session's messages run one after another."""
        lock = self._locks.get(session_id)
        if lock is None:
            lock = self._locks[session_id] = asyncio.Lock()
            for key in [k for k, v in self._locks.items() if not v.locked()]:
                if len(self._locks) <= MAX_REMEMBERED_SESSIONS:
                    break
                if key != session_id:
                    del self._locks[key]
        self._locks.move_to_end(session_id)
        return lock

    async def _emit(self, event: str, data: Any, room: str, skip_sid: str | None = None) -> None:
        assert self.sio is not None
        await self.sio.emit(event, data, room=room, skip_sid=skip_sid, namespace=self.namespace)

    async def _append_events(self, sender_id: str, events: list[Event]) -> bool:
        """Appends events to an existing tracker (under the sender's lock).

        Returns:
            False if the conversation does not exist.
        """
        agent = self._agent()
        if agent is None or agent.tracker_store is None:
            return False
        async with agent.lock_store.lock(sender_id):
            tracker = await agent.tracker_store.retrieve(sender_id)
            if tracker is None:
                return False
            for event in events:
                tracker.update(event, agent.domain)
            await agent.tracker_store.save(tracker)
        return True

    @staticmethod
    def _authorized(request: Request) -> HTTPResponse | None:
        """None if the request carries the founder's bearer token, else the error response."""
        token = os.environ.get(ENV_AUTH_TOKEN, "")
        if not token:
            return response.json(
                {"error": f"founder endpoints are disabled: {ENV_AUTH_TOKEN} is not set"},
                status=503,
            )
        header = request.headers.get("Authorization", "")
        given = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if not given or not hmac.compare_digest(given.encode(), token.encode()):
            return response.json({"error": "unauthorized"}, status=401)
        return None

    # -- the blueprint ----------------------------------------------------------------
    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """The Sanic blueprint: socket.io events and the history and founder routes."""
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=[])
        self.sio = sio
        bp = WidgetBlueprint(self, sio, self.socketio_path or DEFAULT_SOCKETIO_PATH)
        namespace = self.namespace

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/history/<session_id>", methods=["GET"])
        async def history(request: Request, session_id: str) -> HTTPResponse:
            # Readable from any origin (the session id is the capability, no cookies are
            # involved); tell Sanic-CORS (``rasa run --cors``) not to add a second header.
            setattr(request.ctx, SANIC_CORS_EVALUATED, True)
            headers = {"Access-Control-Allow-Origin": "*", "Cache-Control": "no-store"}
            if not is_session_id(session_id):
                return response.json({"error": "unknown session"}, status=404, headers=headers)
            tracker = await self._tracker(session_id)
            return response.json(
                {
                    "session_id": session_id,
                    "paused": bool(tracker is not None and tracker.is_paused()),
                    "messages": history_of(tracker),
                },
                headers=headers,
            )

        @bp.route("/founder/<sender_id>/message", methods=["POST"])
        async def founder_message(request: Request, sender_id: str) -> HTTPResponse:
            if (denied := self._authorized(request)) is not None:
                return denied
            body = request.json if isinstance(request.json, dict) else {}
            text = body.get("text") if isinstance(body.get("text"), str) else ""
            text = text.strip()
            image = body.get("image")
            if not SENDER_ID_RE.match(sender_id):
                return response.json({"error": "bad conversation id"}, status=400)
            if image is not None and not is_safe_url(image):
                return response.json({"error": "image must be an http(s) URL"}, status=400)
            if not text and not image:
                return response.json({"error": "text is empty"}, status=400)
            if len(text) > MAX_FOUNDER_MESSAGE_CHARS:
                return response.json({"error": "text is too long"}, status=400)
            now = time.time()
            data = {"image": image} if image else {}
            event = BotUttered(text, data, metadata={META_AUTHOR: AUTHOR_FOUNDER}, timestamp=now)
            if not await self._append_events(sender_id, [event]):
                return response.json({"error": "unknown conversation"}, status=404)
            payload: dict[str, Any] = {"text": text, META_AUTHOR: AUTHOR_FOUNDER, "timestamp": now}
            if image:
                payload["attachment"] = {"type": "image", "payload": {"src": image}}
            await self._emit("typing", {"on": False, "author": AUTHOR_FOUNDER}, sender_id)
            await self._emit(self.bot_message_evt, payload, sender_id)
            return response.json({"ok": True, "timestamp": now})

        async def set_paused(request: Request, sender_id: str, paused: bool) -> HTTPResponse:
            if (denied := self._authorized(request)) is not None:
                return denied
            if not SENDER_ID_RE.match(sender_id):
                return response.json({"error": "bad conversation id"}, status=400)
            event: Event = ConversationPaused() if paused else ConversationResumed()
            if not await self._append_events(sender_id, [event]):
                return response.json({"error": "unknown conversation"}, status=404)
            await self._emit("bot_state", {"paused": paused}, sender_id)
            return response.json({"ok": True, "paused": paused})

        @bp.route("/founder/<sender_id>/pause", methods=["POST"])
        async def founder_pause(request: Request, sender_id: str) -> HTTPResponse:
            return await set_paused(request, sender_id, True)

        @bp.route("/founder/<sender_id>/resume", methods=["POST"])
        async def founder_resume(request: Request, sender_id: str) -> HTTPResponse:
            return await set_paused(request, sender_id, False)

        @bp.route("/founder/<sender_id>/typing", methods=["POST"])
        async def founder_typing(request: Request, sender_id: str) -> HTTPResponse:
            if (denied := self._authorized(request)) is not None:
                return denied
            if not SENDER_ID_RE.match(sender_id):
                return response.json({"error": "bad conversation id"}, status=400)
            body = request.json if isinstance(request.json, dict) else {}
            on = bool(body.get("on", True))
            await self._emit("typing", {"on": on, "author": AUTHOR_FOUNDER}, sender_id)
            return response.json({"ok": True})

        @sio.on("connect", namespace=namespace)
        async def connect(sid: str, environ: dict, auth: dict | None = None) -> bool:
            logger.debug("Widget client %s connected", sid)
            return True

        @sio.on("disconnect", namespace=namespace)
        async def disconnect(sid: str, *_: Any) -> None:
            logger.debug("Widget client %s disconnected", sid)

        @sio.on("session_request", namespace=namespace)
        async def session_request(sid: str, data: Any) -> None:
            data = data if isinstance(data, dict) else {}
            session_id = data.get("session_id")
            if not is_session_id(session_id):
                session_id = new_session_id()
            for room in list(sio.rooms(sid, namespace=namespace)):
                if room != sid and is_session_id(room):
                    await sio.leave_room(sid, room, namespace=namespace)
            await sio.enter_room(sid, session_id, namespace=namespace)
            await sio.emit("session_confirm", session_id, room=sid, namespace=namespace)
            tracker = await self._tracker(session_id)
            paused = bool(tracker is not None and tracker.is_paused())
            await sio.emit("bot_state", {"paused": paused}, room=sid, namespace=namespace)

        @sio.on(self.user_message_evt, namespace=namespace)
        async def handle_message(sid: str, data: Any) -> dict[str, Any]:
            return await self._handle_user_message(sid, data, on_new_message)

        return bp

    async def _handle_user_message(
        self, sid: str, data: Any, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> dict[str, Any]:
        """Processes one widget message, at most once per client id; returns the ack."""
        assert self.sio is not None
        if not isinstance(data, dict):
            return {"ok": False, "error": "bad_request"}
        session_id = data.get("session_id")
        client_id = data.get("client_id")
        if not is_session_id(session_id) or session_id not in self.sio.rooms(
            sid, namespace=self.namespace
        ):
            return {"ok": False, "error": "no_session"}
        if client_id is not None and not (
            isinstance(client_id, str) and CLIENT_ID_RE.match(client_id)
        ):
            return {"ok": False, "error": "bad_client_id"}
        text = data.get("message")
        if not isinstance(text, str) or not text.strip():
            return {"ok": False, "error": "empty", "client_id": client_id}
        text = text.strip()
        if len(text) > self.max_message_chars:
            return {
                "ok": False,
                "error": "too_long",
                "limit": self.max_message_chars,
                "client_id": client_id,
            }
        metadata = data.get(self.metadata_key) or {}
        if isinstance(metadata, str):
            try:
                metadata = json.loads(metadata)
            except ValueError:
                metadata = {}
        metadata = dict(metadata) if isinstance(metadata, dict) else {}
        display = metadata.get(META_DISPLAY_TEXT)
        if not isinstance(display, str) or not text.startswith("/"):
            metadata.pop(META_DISPLAY_TEXT, None)
            display = None
        else:
            display = display.strip()[: self.max_message_chars]
            metadata[META_DISPLAY_TEXT] = display
        if client_id:
            metadata[META_CLIENT_ID] = client_id

        async with self._lock(session_id):
            tracker = await self._tracker(session_id)
            if client_id:
                seen = self.recent_ids.seen(session_id, client_id)
                if seen is None and client_id in client_ids_of(tracker):
                    seen = time.time()
                    self.recent_ids.add(session_id, client_id, seen)
                if seen is not None:
                    logger.info("Ignored a resent widget message %s in %s", client_id, session_id)
                    return {
                        "ok": True,
                        "duplicate": True,
                        "client_id": client_id,
                        "timestamp": seen,
                    }
            now = time.time()
            await self._emit(
                "user_echo",
                {"text": display or text, "client_id": client_id, "timestamp": now},
                session_id,
                skip_sid=sid,
            )
            paused = bool(tracker is not None and tracker.is_paused())
            if not paused:
                await self._emit("typing", {"on": True, "author": AUTHOR_BOT}, session_id)
            message = UserMessage(
                text,
                WidgetOutput(self.sio, self.bot_message_evt),
                session_id,
                input_channel=self.name(),
                metadata=metadata,
            )
            try:
                await on_new_message(message)
            except Exception:
                logger.exception("Widget message %s in %s failed", client_id, session_id)
                return {"ok": False, "error": "server", "client_id": client_id}
            finally:
                if not paused:
                    await self._emit("typing", {"on": False, "author": AUTHOR_BOT}, session_id)
            if client_id:
                self.recent_ids.add(session_id, client_id, now)
            return {"ok": True, "client_id": client_id, "timestamp": now}
