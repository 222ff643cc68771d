"""The website chat widget's channel: Rasa's socket.io channel plus what the widget needs.

Registered in ``bot/credentials.yml`` as ``bot.channels.widget.WidgetInput``; it listens on
its own socket.io path (``/widget/socket.io`` by default), always with session persistence.
Browsers may connect only from ``SITE_ORIGINS`` (requests without an ``Origin`` header, i.e.
not from a browser, are not affected). The socket.io server takes small text packets only
(:mod:`bot.channels.widget_socket`): binary data or a message over 64 KB drops the socket.

Socket.io events (client -> server):

* ``session_request`` ``{"session_id": <id or null>, "session_token": <token or null>}`` ->
  ``session_confirm`` ``{"session_id", "session_token"}``, ``bot_state`` and ``history``
  ``{"session_id", "paused", "messages"}``. The session continues only with a valid token of
  it (:mod:`bot.channels.widget_session`); otherwise the socket gets a fresh session and none
  of the other's history. Each confirmation carries a new token (rotation); connected sockets
  also get a new ``session_confirm`` every few minutes (``CHAT_SESSION_TOKEN_RESUME_S`` / 3).
* ``user_uttered`` ``{"session_id", "message", "client_id", "metadata", "upload_id"?}``, sent
  with an acknowledgement callback; ``upload_id`` (a photo of this session, uploaded first,
  :mod:`bot.channels.uploads`) is kept as ``metadata.upload_id``, another session's is refused
  (``bad_upload``). Messages are processed one at a time per session, in arrival
  order; a ``client_id`` already seen in the session (in memory or in the tracker) is
  acknowledged again but not processed twice. The acknowledgement is ``{"ok": true,
  "client_id", "timestamp"}`` (plus ``"duplicate": true``) or ``{"ok": false, "error",
  "client_id", "message"?: "<zh> / <en>", "limit"?, "retry_after"?}`` with ``error`` one of
  ``too_long``, ``too_large``, ``empty``, ``bad_message``, ``bad_metadata``, ``rate_limited``,
  ``no_session``, ``bad_client_id``, ``bad_request``, ``bad_upload``, ``server``.

The door's limits and identity rule apply as on REST (:mod:`bot.channels.door`): text and
metadata cleaned and size-checked, identity keys replaced by ``verified_customer_id`` when the
host website's token verifies, per-session and per-address rates and at most
``CHAT_SENDER_IN_FLIGHT`` messages of a session in flight.

Server -> client (to the session's room, i.e. every tab of that session): ``bot_uttered``
(Rasa's payloads plus ``author`` and ``timestamp``), ``user_echo`` ``{"text", "client_id",
"timestamp"}``, ``typing`` ``{"on", "author"}``, ``bot_state`` ``{"paused"}``. The HTTP
routes (history, founder takeover) are in :mod:`bot.channels.widget_routes`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from rasa.shared.core.events import Event
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Blueprint, Sanic

from bot.channels.door import Prepared, prepare_message
from bot.channels.identity import accept_legacy_from_env, secrets_from_env
from bot.channels.limits import DoorGuard, DoorLimits, Refusal, client_address
from bot.channels.uploads import (
    ERROR_BAD_UPLOAD,
    MESSAGE_BAD_UPLOAD,
    META_UPLOAD_ID,
    Uploads,
)
from bot.channels.widget_routes import (
    AUTHOR_BOT,
    CLIENT_ID_RE,
    META_AUTHOR,
    META_CLIENT_ID,
    META_DISPLAY_TEXT,
    add_routes,
    client_ids_of,
    history_of,
)
from bot.channels.widget_session import (
    MAX_RECENT_SESSIONS,
    RecentIds,
    SessionTokens,
    is_session_id,
    new_session_id,
)
from bot.channels.widget_socket import WidgetSocketServer, socket_message_cap

logger = logging.getLogger(__name__)

CHANNEL_NAME = "widget"
DEFAULT_SOCKETIO_PATH = "/widget/socket.io"


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


class WidgetBlueprint(SocketBlueprint):
    """Socket blueprint that tells its channel which Sanic app it was registered on."""

    def __init__(self, channel: WidgetInput, sio: WidgetSocketServer, socketio_path: str) -> None:
        """Creates the blueprint of ``channel``'s routes and socket.io server."""
        super().__init__(sio, socketio_path, "widget_webhook", __name__)
        self.ctx.channel = channel

    def register(self, app: Sanic, options: dict[str, Any]) -> None:
        """Attaches the socket.io server and remembers the app (for its agent)."""
        self.ctx.channel.app = app
        super().register(app, options)


def _refused(refusal: Refusal, client_id: Any) -> dict[str, Any]:
    return {"ok": False, "client_id": client_id, **refusal.body()}


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
        )

    def __init__(
        self,
        user_message_evt: str = "user_uttered",
        bot_message_evt: str = "bot_uttered",
        namespace: str | None = None,
        socketio_path: str = DEFAULT_SOCKETIO_PATH,
        metadata_key: str = "metadata",
        limits: DoorLimits | None = None,
        tokens: SessionTokens | None = None,
    ) -> None:
        """Creates the channel (session persistence is always on).

        Args:
            user_message_evt: Socket.io event of user messages.
            bot_message_evt: Socket.io event of bot messages.
            namespace: Socket.io namespace, if any.
            socketio_path: HTTP path of the socket.io server.
            metadata_key: Key of the message metadata in ``user_message_evt`` payloads.
            limits: The door limits (default: from the environment).
            tokens: The session token issuer (default: from the environment).
        """
        super().__init__(
            user_message_evt=user_message_evt,
            bot_message_evt=bot_message_evt,
            namespace=namespace,
            session_persistence=True,
            socketio_path=socketio_path,
            metadata_key=metadata_key,
        )
        self.limits = limits or DoorLimits.from_env()
        self.tokens = tokens or SessionTokens.from_env()
        self.guard = DoorGuard(self.limits)
        self.uploads = Uploads.from_env(self.limits)
        self.app: Sanic | None = None
        self.recent_ids = RecentIds()
        self._locks: OrderedDict[str, asyncio.Lock] = OrderedDict()
        self._addresses: dict[str, str] = {}
        self._session_of: dict[str, str] = {}  # socket id -> its session
        self._refresher: asyncio.Task[None] | None = None

    # -- helpers used by the routes ----------------------------------------------------
    def get_output_channel(self) -> OutputChannel | None:
        """The output channel for messages sent through Rasa's HTTP API to this channel."""
        if self.sio is None:
            return None
        return WidgetOutput(self.sio, self.bot_message_evt)

    def _agent(self) -> Any:
        return getattr(self.app.ctx, "agent", None) if self.app is not None else None

    async def tracker(self, sender_id: str) -> DialogueStateTracker | None:
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
                if len(self._locks) <= MAX_RECENT_SESSIONS:
                    break
                if key != session_id:
                    del self._locks[key]
        self._locks.move_to_end(session_id)
        return lock

    async def emit(self, event: str, data: Any, room: str, skip_sid: str | None = None) -> None:
        """Emits a socket.io event to a room (a session, or one socket)."""
        assert self.sio is not None
        await self.sio.emit(event, data, room=room, skip_sid=skip_sid, namespace=self.namespace)

    async def append_events(self, sender_id: str, events: list[Event]) -> bool:
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

    def _address_of(self, environ: dict[str, Any]) -> str:
        request = environ.get("sanic.request")
        peer = getattr(request, "ip", None) or environ.get("REMOTE_ADDR", "")
        forwarded = environ.get("HTTP_X_FORWARDED_FOR")
        return client_address(str(peer), forwarded, self.limits.trusted_proxies)

    # -- the blueprint ----------------------------------------------------------------
    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """The Sanic blueprint: socket.io events and the history and founder routes."""
        sio = WidgetSocketServer(
            async_mode="sanic",
            cors_allowed_origins=list(self.limits.site_origins),
            max_http_buffer_size=socket_message_cap(self.limits.max_body_bytes),
        )
        self.sio = sio
        bp = WidgetBlueprint(self, sio, self.socketio_path or DEFAULT_SOCKETIO_PATH)
        add_routes(bp, self)
        namespace = self.namespace

        @sio.on("connect", namespace=namespace)
        async def connect(sid: str, environ: dict, auth: dict | None = None) -> bool:
            address = self._address_of(environ)
            if self.guard.check_address(address) is not None:
                return False
            self._addresses[sid] = address
            if self._refresher is None or self._refresher.done():
                self._refresher = asyncio.ensure_future(self._refresh_tokens())
            logger.debug("Widget client %s connected from %s", sid, address)
            return True

        @sio.on("disconnect", namespace=namespace)
        async def disconnect(sid: str, *_: Any) -> None:
            self._addresses.pop(sid, None)
            self._session_of.pop(sid, None)
            logger.debug("Widget client %s disconnected", sid)

        @sio.on("session_request", namespace=namespace)
        async def session_request(sid: str, data: Any) -> None:
            await self._session_request(sid, data)

        @sio.on(self.user_message_evt, namespace=namespace)
        async def handle_message(sid: str, data: Any) -> dict[str, Any]:
            return await self._handle_user_message(sid, data, on_new_message)

        return bp

    async def _session_request(self, sid: str, data: Any) -> None:
        """Confirms the asked session if its token is valid, else a fresh one; rotates."""
        assert self.sio is not None
        sio, namespace = self.sio, self.namespace
        if self.guard.check_address(self._addresses.get(sid, "unknown")) is not None:
            return  # a flood of session requests from one address is not answered
        data = data if isinstance(data, dict) else {}
        session_id = data.get("session_id")
        if not self.tokens.verify(session_id, data.get("session_token")):
            if session_id is not None:
                logger.info("Widget socket %s: no valid token for its session; a fresh one", sid)
            session_id = new_session_id()
        for room in list(sio.rooms(sid, namespace=namespace)):
            if room != sid and is_session_id(room):
                await sio.leave_room(sid, room, namespace=namespace)
        await sio.enter_room(sid, session_id, namespace=namespace)
        self._session_of[sid] = session_id
        await self._confirm(sid, session_id)
        tracker = await self.tracker(session_id)
        paused = bool(tracker is not None and tracker.is_paused())
        await sio.emit("bot_state", {"paused": paused}, room=sid, namespace=namespace)
        history = {"session_id": session_id, "paused": paused, "messages": history_of(tracker)}
        await sio.emit("history", history, room=sid, namespace=namespace)

    async def _confirm(self, sid: str, session_id: str) -> None:
        """Sends socket ``sid`` a new token of its session (``session_confirm``)."""
        assert self.sio is not None
        token = self.tokens.issue(session_id, sid)
        confirm = {"session_id": session_id, "session_token": token}
        await self.sio.emit("session_confirm", confirm, room=sid, namespace=self.namespace)

    async def _refresh_tokens(self) -> None:
        """Re-issues every connected socket's token, so that it is always recent.

        After a restart the server trusts only tokens issued within the resume window
        (:mod:`bot.channels.widget_session`); widgets reconnecting then still hold one.
        """
        while True:
            await asyncio.sleep(self.tokens.refresh_s)
            for sid, session_id in list(self._session_of.items()):
                try:
                    await self._confirm(sid, session_id)
                except Exception:  # a socket gone meanwhile must not stop the others
                    logger.exception("Could not refresh the token of widget socket %s", sid)

    def _prepare(self, data: dict[str, Any], client_id: Any) -> Prepared | dict[str, Any]:
        """The door's checks of one widget message: the prepared message or the refusal ack."""
        prepared = prepare_message(
            data.get("message"),
            data.get(self.metadata_key),
            self.limits,
            secrets=secrets_from_env(),
            accept_legacy=accept_legacy_from_env(),
        )
        if isinstance(prepared, Refusal):
            return _refused(prepared, client_id)
        metadata = prepared.metadata
        display = metadata.pop(META_DISPLAY_TEXT, None)
        if isinstance(display, str) and display.strip() and prepared.text.startswith("/"):
            metadata[META_DISPLAY_TEXT] = display.strip()[: self.limits.max_message_chars]
        metadata.pop(META_CLIENT_ID, None)
        if client_id:
            metadata[META_CLIENT_ID] = client_id
        return prepared

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
        try:
            prepared = self._prepare(data, client_id)
        except (TypeError, ValueError, RecursionError):  # not JSON-encodable at all
            return {"ok": False, "error": "bad_request", "client_id": client_id}
        if isinstance(prepared, dict):
            return prepared
        upload_id = data.get(META_UPLOAD_ID)
        if upload_id is not None:
            # Only a photo this very session uploaded (bot.channels.uploads).
            if self.uploads.store.owner(upload_id) != session_id:
                logger.warning("Widget session %s referenced an upload it does not own", session_id)
                return {"ok": False, "error": ERROR_BAD_UPLOAD, "client_id": client_id,
                        "message": MESSAGE_BAD_UPLOAD}  # fmt: skip
            prepared.metadata[META_UPLOAD_ID] = upload_id
        address = self._addresses.get(sid, "unknown")
        refusal = self.guard.admit(session_id, address)
        if refusal is not None:
            return _refused(refusal, client_id)
        try:
            return await self._process(sid, session_id, client_id, prepared, on_new_message)
        finally:
            self.guard.done(session_id)

    async def _process(
        self,
        sid: str,
        session_id: str,
        client_id: str | None,
        prepared: Prepared,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> dict[str, Any]:
        """Runs an admitted message in its session's turn; returns the ack."""
        assert self.sio is not None
        text, metadata = prepared.text, prepared.metadata
        async with self._lock(session_id):
            tracker = await self.tracker(session_id)
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
            echo = {
                "text": metadata.get(META_DISPLAY_TEXT) or text,
                "client_id": client_id,
                "timestamp": now,
            }
            await self.emit("user_echo", echo, session_id, skip_sid=sid)
            paused = bool(tracker is not None and tracker.is_paused())
            if not paused:
                await self.emit("typing", {"on": True, "author": AUTHOR_BOT}, session_id)
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
                    await self.emit("typing", {"on": False, "author": AUTHOR_BOT}, session_id)
            if client_id:
                self.recent_ids.add(session_id, client_id, now)
            return {"ok": True, "client_id": client_id, "timestamp": now}
