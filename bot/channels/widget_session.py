"""Widget sessions: server-issued ids, rotating session tokens, the de-duplication memory.

A session id (32 hex digits) names a conversation; it is not enough to continue or read one.
On every ``session_request`` the channel issues a *session token* to the requesting socket::

    v1.<issued at, Unix ms>.<socket id>.<hex HMAC-SHA256(key, "widget-session|v1|<session id>|<socket id>|<issued at>")>

The key is derived from ``RASA_JWT_SECRET`` (every Rasa server of a deployment verifies the
tokens of the others); without it a random per-process key is used and tokens end with a
restart. A token is never good for more than ``CHAT_SESSION_TOKEN_TTL_S`` (1 day) after it
was issued.

Rotation. Each (re)connection presents the newest token it has and gets a new one. The
server remembers, per session, the tokens it issued or accepted (issue time *and* socket id)
back to the one that was the latest ``CHAT_SESSION_TOKEN_GRACE_S`` (60 s) ago. A token is
accepted when it is one of those, i.e. it was still the latest less than the grace period ago
(tabs reconnecting together present the same token), or when it is newer than all of them
(issued by another server since). A stolen token thus dies once its owner reconnects.

What is not remembered. The memory lives in the Rasa process and is bounded (LRU): after a
restart, or once a session was evicted by newer ones, the server cannot tell the latest token
from a superseded one. It then accepts a token only if it was issued at most
``CHAT_SESSION_TOKEN_RESUME_S`` (300 s) ago, and refuses older ones (the client gets a fresh
session and none of the old history). So a restart or a flood of new sessions can revive a
superseded token for at most that window, never for the whole TTL. To let connected widgets
survive a restart, the channel re-issues a token to every connected socket every
``RESUME_S / 3`` seconds (a ``session_confirm`` the widget stores like any other): a widget
that reconnects after a restart holds a token younger than the window. A customer who comes
back later, after a restart, starts a new conversation. (Storing the rotation in the tracker
would survive restarts, but would need an event of its own in every conversation and would
create trackers for sessions that never said anything.)

The socket id in a token is not a binding to the socket that presents it: every reconnection
has a new socket id, so such a binding could never let a customer back in. It makes every
token unique and names the connection it went to; a presented token must match a remembered
one in issue time and socket id. Several Rasa servers route each widget connection to one server
anyway (socket.io needs sticky sessions), so each keeps the rotation of its own sessions.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, TypeGuard

logger = logging.getLogger(__name__)

ENV_JWT_SECRET = "RASA_JWT_SECRET"
ENV_TOKEN_TTL = "CHAT_SESSION_TOKEN_TTL_S"
ENV_TOKEN_GRACE = "CHAT_SESSION_TOKEN_GRACE_S"
ENV_TOKEN_RESUME = "CHAT_SESSION_TOKEN_RESUME_S"
DEFAULT_TOKEN_TTL_S = 24 * 3600
DEFAULT_TOKEN_GRACE_S = 60
DEFAULT_TOKEN_RESUME_S = 300
#: Connected sockets get a new token this many times per resume window.
REFRESHES_PER_RESUME_WINDOW = 3
TOKEN_VERSION = "v1"
KEY_CONTEXT = b"leafbean widget session token v1"
#: Tolerated clock difference between Rasa servers for a token's issue time.
CLOCK_SKEW_MS = 60_000
MAX_REMEMBERED_SESSIONS = 50_000
#: Most recent tokens remembered per session (older ones are refused).
MAX_TOKENS_PER_SESSION = 8
MAX_REMEMBERED_IDS_PER_SESSION = 500
MAX_RECENT_SESSIONS = 2000

# Widget session ids are issued by the server: 32 lowercase hex digits (uuid4).
SESSION_ID_RE = re.compile(r"^[0-9a-f]{32}$")
_TOKEN_RE = re.compile(r"^v1\.([0-9]{1,15})\.([A-Za-z0-9_=-]{1,64})\.([0-9a-f]{64})$")


def new_session_id() -> str:
    """A fresh, unguessable widget session id."""
    return uuid.uuid4().hex


def is_session_id(value: Any) -> TypeGuard[str]:
    """Whether ``value`` has the form of a server-issued widget session id."""
    return isinstance(value, str) and bool(SESSION_ID_RE.match(value))


def session_key(environ: Mapping[str, str] | None = None) -> bytes:
    """The key of the session tokens: derived from ``RASA_JWT_SECRET``, else random.

    Args:
        environ: The environment (defaults to ``os.environ``).

    Returns:
        32 bytes.
    """
    env = os.environ if environ is None else environ
    secret = env.get(ENV_JWT_SECRET, "")
    if not secret:
        logger.warning(
            "%s is not set: widget session tokens use a per-process key and end with a restart",
            ENV_JWT_SECRET,
        )
        return secrets.token_bytes(32)
    return hmac.new(secret.encode("utf-8"), KEY_CONTEXT, hashlib.sha256).digest()


def _env_seconds(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    if raw:
        logger.warning("%s=%r is not a positive number of seconds; using %d", name, raw, default)
    return default


class _Issued(NamedTuple):
    issued_ms: int  # the token's issue time
    sid: str  # the socket it was issued to
    latest_since_ms: int  # when it became the latest here (issued or first accepted)


class SessionTokens:
    """Issues and checks the widget's session tokens, and remembers the recent ones per session."""

    def __init__(
        self,
        key: bytes,
        *,
        ttl_s: int = DEFAULT_TOKEN_TTL_S,
        grace_s: int = DEFAULT_TOKEN_GRACE_S,
        resume_s: int = DEFAULT_TOKEN_RESUME_S,
        clock: Callable[[], float] = time.time,
        max_sessions: int = MAX_REMEMBERED_SESSIONS,
    ) -> None:
        """Creates the issuer.

        Args:
            key: The HMAC key (:func:`session_key`).
            ttl_s: How long a token is good for after it was issued.
            grace_s: How long a superseded token is still accepted.
            resume_s: How old a token of a session this server does not remember may be.
            clock: Wall clock in seconds (tokens carry wall-clock times).
            max_sessions: How many sessions' latest tokens are remembered (LRU).
        """
        self._key = key
        self.ttl_ms = ttl_s * 1000
        self.grace_ms = grace_s * 1000
        self.resume_ms = min(resume_s, ttl_s) * 1000
        self._clock = clock
        self._max_sessions = max_sessions
        # session id -> its tokens, oldest first, back to the latest one ``grace`` ago
        self._recent: OrderedDict[str, list[_Issued]] = OrderedDict()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SessionTokens:
        """The issuer configured by ``RASA_JWT_SECRET`` and the ``CHAT_SESSION_TOKEN_*`` settings."""
        env = os.environ if environ is None else environ
        return cls(
            session_key(env),
            ttl_s=_env_seconds(env, ENV_TOKEN_TTL, DEFAULT_TOKEN_TTL_S),
            grace_s=_env_seconds(env, ENV_TOKEN_GRACE, DEFAULT_TOKEN_GRACE_S),
            resume_s=_env_seconds(env, ENV_TOKEN_RESUME, DEFAULT_TOKEN_RESUME_S),
        )

    @property
    def refresh_s(self) -> float:
        """How often connected sockets get a new token (a third of the resume window)."""
        return self.resume_ms / 1000 / REFRESHES_PER_RESUME_WINDOW

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _mac(self, session_id: str, sid: str, issued_ms: int) -> str:
        message = f"widget-session|{TOKEN_VERSION}|{session_id}|{sid}|{issued_ms}"
        return hmac.new(self._key, message.encode("ascii"), hashlib.sha256).hexdigest()

    def _known(self, session_id: str, now_ms: int) -> list[_Issued] | None:
        """The session's remembered tokens, without those superseded over ``grace`` ago."""
        known = self._recent.get(session_id)
        if known is None:
            return None
        while len(known) > 1 and now_ms - known[1].latest_since_ms > self.grace_ms:
            del known[0]  # its successor took over more than the grace period ago
        self._recent.move_to_end(session_id)
        return known

    def _remember(self, session_id: str, issued_ms: int, sid: str, now_ms: int) -> None:
        known = self._recent.setdefault(session_id, [])
        known.append(_Issued(issued_ms, sid, now_ms))
        del known[:-MAX_TOKENS_PER_SESSION]
        self._recent.move_to_end(session_id)
        while len(self._recent) > self._max_sessions:
            self._recent.popitem(last=False)

    def issue(self, session_id: str, sid: str) -> str:
        """A new token of ``session_id`` for socket ``sid``; older ones start their grace.

        Args:
            session_id: A server-issued session id.
            sid: The socket.io id of the connection it is issued to.

        Returns:
            The token (``v1.<ms>.<sid>.<hex>``).
        """
        now_ms = self._now_ms()
        known = self._known(session_id, now_ms)
        issued_ms = max(now_ms, known[-1].issued_ms + 1) if known else now_ms
        self._remember(session_id, issued_ms, sid, now_ms)
        return f"{TOKEN_VERSION}.{issued_ms}.{sid}.{self._mac(session_id, sid, issued_ms)}"

    def verify(self, session_id: Any, token: Any) -> bool:
        """Whether ``token`` lets its holder continue or read ``session_id``. Never raises.

        Args:
            session_id: The session id the client claims.
            token: The token the client presents.

        Returns:
            True for an authentic, unexpired token of that session that was still the latest
            less than the grace period ago (or is newer than any remembered), or, for a
            session not remembered here, was issued within the resume window.
        """
        if not is_session_id(session_id) or not isinstance(token, str) or len(token) > 200:
            return False
        match = _TOKEN_RE.match(token)
        if match is None:
            return False
        issued_ms, sid, mac = int(match.group(1)), match.group(2), match.group(3)
        expected = self._mac(session_id, sid, issued_ms)
        if not hmac.compare_digest(expected.encode("ascii"), mac.encode("ascii")):
            return False
        now_ms = self._now_ms()
        if issued_ms > now_ms + CLOCK_SKEW_MS or now_ms - issued_ms > self.ttl_ms:
            return False
        known = self._known(session_id, now_ms)
        if not known:
            # Restarted, evicted, or issued by another server: only a recent token is
            # trusted, since a superseded one cannot be told from the latest.
            if now_ms - issued_ms > self.resume_ms:
                logger.info(
                    "Refused an old token of widget session %s (not remembered)", session_id
                )
                return False
            self._remember(session_id, issued_ms, sid, now_ms)
            return True
        if issued_ms > known[-1].issued_ms:  # issued by another server since
            self._remember(session_id, issued_ms, sid, now_ms)
            return True
        if any((t.issued_ms, t.sid) == (issued_ms, sid) for t in known):
            return True
        logger.warning("Refused a superseded token of widget session %s", session_id)
        return False


class RecentIds:
    """Client message ids seen recently, per session, bounded in memory (LRU)."""

    def __init__(
        self,
        max_sessions: int = MAX_RECENT_SESSIONS,
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
