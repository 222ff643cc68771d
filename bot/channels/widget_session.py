"""Widget sessions: server-issued ids, socket-bound rotating tokens, the de-duplication memory.

A session id (32 hex digits) names a conversation; it is no longer enough to continue or read
one. On every ``session_request`` the channel issues a *session token* bound to that socket::

    v1.<issued at, Unix ms>.<socket id>.<hex HMAC-SHA256(key, "widget-session|v1|<session id>|<socket id>|<issued at>")>

The key is derived from ``RASA_JWT_SECRET`` (so every Rasa server of a deployment verifies the
tokens of the others); without it a random per-process key is used and tokens do not survive
a restart. A token is good for ``CHAT_SESSION_TOKEN_TTL_S`` (7 days) after it was issued.
Tokens rotate: each (re)connection presents the latest token and gets a new one; an older
token of the same session is accepted only within ``CHAT_SESSION_TOKEN_GRACE_S`` (60 s) of
the rotation (tabs reconnecting at the same time), after that it is refused. The rotation
memory lives in the process (bounded); a deployment with several Rasa servers routes each
widget connection to one server anyway (socket.io needs sticky sessions).
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
from typing import Any, TypeGuard

logger = logging.getLogger(__name__)

ENV_JWT_SECRET = "RASA_JWT_SECRET"
ENV_TOKEN_TTL = "CHAT_SESSION_TOKEN_TTL_S"
ENV_TOKEN_GRACE = "CHAT_SESSION_TOKEN_GRACE_S"
DEFAULT_TOKEN_TTL_S = 7 * 24 * 3600
DEFAULT_TOKEN_GRACE_S = 60
TOKEN_VERSION = "v1"
KEY_CONTEXT = b"leafbean widget session token v1"
#: Tolerated clock difference between Rasa servers for a token's issue time.
CLOCK_SKEW_MS = 60_000
MAX_REMEMBERED_SESSIONS = 50_000
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


class SessionTokens:
    """Issues and checks the widget's session tokens, and remembers the latest per session."""

    def __init__(
        self,
        key: bytes,
        *,
        ttl_s: int = DEFAULT_TOKEN_TTL_S,
        grace_s: int = DEFAULT_TOKEN_GRACE_S,
        clock: Callable[[], float] = time.time,
        max_sessions: int = MAX_REMEMBERED_SESSIONS,
    ) -> None:
        """Creates the issuer.

        Args:
            key: The HMAC key (:func:`session_key`).
            ttl_s: How long a token is good for after it was issued.
            grace_s: How long a superseded token is still accepted.
            clock: Wall clock in seconds (tokens carry wall-clock times).
            max_sessions: How many sessions' latest tokens are remembered (LRU).
        """
        self._key = key
        self.ttl_ms = ttl_s * 1000
        self.grace_ms = grace_s * 1000
        self._clock = clock
        self._max_sessions = max_sessions
        # session id -> (issue time of its latest token, when it was issued here) in ms
        self._latest: OrderedDict[str, tuple[int, int]] = OrderedDict()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SessionTokens:
        """The issuer configured by ``RASA_JWT_SECRET`` and the ``CHAT_SESSION_TOKEN_*`` settings."""
        env = os.environ if environ is None else environ
        return cls(
            session_key(env),
            ttl_s=_env_seconds(env, ENV_TOKEN_TTL, DEFAULT_TOKEN_TTL_S),
            grace_s=_env_seconds(env, ENV_TOKEN_GRACE, DEFAULT_TOKEN_GRACE_S),
        )

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _mac(self, session_id: str, sid: str, issued_ms: int) -> str:
        message = f"widget-session|{TOKEN_VERSION}|{session_id}|{sid}|{issued_ms}"
        return hmac.new(self._key, message.encode("ascii"), hashlib.sha256).hexdigest()

    def _remember(self, session_id: str, issued_ms: int, now_ms: int) -> None:
        latest = self._latest.get(session_id)
        if latest is None or issued_ms > latest[0]:
            self._latest[session_id] = (issued_ms, now_ms)
        self._latest.move_to_end(session_id)
        while len(self._latest) > self._max_sessions:
            self._latest.popitem(last=False)

    def issue(self, session_id: str, sid: str) -> str:
        """A new token of ``session_id`` for socket ``sid``; older ones start their grace.

        Args:
            session_id: A server-issued session id.
            sid: The socket.io id of the connection it is issued to.

        Returns:
            The token (``v1.<ms>.<sid>.<hex>``).
        """
        now_ms = self._now_ms()
        latest = self._latest.get(session_id)
        issued_ms = max(now_ms, latest[0] + 1) if latest else now_ms
        self._remember(session_id, issued_ms, now_ms)
        return f"{TOKEN_VERSION}.{issued_ms}.{sid}.{self._mac(session_id, sid, issued_ms)}"

    def verify(self, session_id: Any, token: Any) -> bool:
        """Whether ``token`` lets its holder continue or read ``session_id``. Never raises.

        Args:
            session_id: The session id the client claims.
            token: The token the client presents.

        Returns:
            True for an authentic, unexpired token of that session that is the latest one
            issued here, or was superseded less than the grace period ago.
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
        latest = self._latest.get(session_id)
        if latest is None:
            # Issued by another server or before a restart: its signature and age decide.
            self._remember(session_id, issued_ms, now_ms)
            return True
        latest_ms, rotated_at_ms = latest
        if issued_ms >= latest_ms:
            return True
        if now_ms - rotated_at_ms <= self.grace_ms:
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
