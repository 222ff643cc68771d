"""Checks the chat widget's session tokens in the web app (for the end-of-chat rating).

The Rasa widget channel (``bot/channels/widget_session.py``, Rasa environment) issues each
widget session a token::

    v1.<issued at, Unix ms>.<socket id>.<hex HMAC-SHA256(key, "widget-session|v1|<session id>|<socket id>|<issued at>")>

with ``key = HMAC-SHA256(RASA_JWT_SECRET, "leafbean widget session token v1")``. This module
repeats that derivation (the two environments share no code) and gives the verdict the door
gives for a session it does not remember: an authentic token of that session, not issued
more than one minute in the future, and issued at most ``CHAT_SESSION_TOKEN_RESUME_S``
(300 s) and ``CHAT_SESSION_TOKEN_TTL_S`` (1 day) ago. A connected widget receives a fresh
token every 100 s, so the token it sends with a rating is always younger than that.
``tests/fixtures/widget_session_vectors.json``, printed by the door's own code, holds both
sides to the same verdicts.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from typing import Any

from web.settings import get_settings

TOKEN_VERSION = "v1"
KEY_CONTEXT = b"leafbean widget session token v1"
CLOCK_SKEW_MS = 60_000
MAX_TOKEN_CHARS = 200
SESSION_ID_RE = re.compile(r"[0-9a-f]{32}")
_TOKEN_RE = re.compile(r"v1\.([0-9]{1,15})\.([A-Za-z0-9_=-]{1,64})\.([0-9a-f]{64})")


def session_key(secret: str) -> bytes:
    """The tokens' HMAC key, derived from ``RASA_JWT_SECRET`` like the widget channel does."""
    return hmac.new(secret.encode("utf-8"), KEY_CONTEXT, hashlib.sha256).digest()


def max_age_ms() -> int:
    """How old a token may be here: the resume window, never more than the token's life.

    Both come from the settings (``CHAT_SESSION_TOKEN_RESUME_S`` and
    ``CHAT_SESSION_TOKEN_TTL_S``), which accept only positive values.
    """
    settings = get_settings()
    return min(settings.session_token_ttl_s, settings.session_token_resume_s) * 1000


def verify_session_token(
    secret: str,
    session_id: Any,  # noqa: ANN401 - anything a client sends
    token: Any,  # noqa: ANN401
    *,
    max_age: int | None = None,
    now_ms: int | None = None,
) -> bool:
    """Whether ``token`` is a recent, authentic token of widget session ``session_id``.

    Never raises.

    Args:
        secret: ``RASA_JWT_SECRET`` (the Rasa servers' key source).
        session_id: The session id the client claims.
        token: The token the client presents.
        max_age: Oldest accepted token in ms (defaults to :func:`max_age_ms`).
        now_ms: The current Unix time in ms (defaults to the clock).

    Returns:
        The verdict.
    """
    if not isinstance(session_id, str) or not SESSION_ID_RE.fullmatch(session_id):
        return False
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        return False
    match = _TOKEN_RE.fullmatch(token)  # no trailing newline
    if match is None:
        return False
    issued_ms, sid, mac = int(match.group(1)), match.group(2), match.group(3)
    message = f"widget-session|{TOKEN_VERSION}|{session_id}|{sid}|{issued_ms}"
    expected = hmac.new(session_key(secret), message.encode("ascii"), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode("ascii"), mac.encode("ascii")):
        return False
    now = int(time.time() * 1000) if now_ms is None else now_ms
    oldest = max_age_ms() if max_age is None else max_age
    return issued_ms <= now + CLOCK_SKEW_MS and now - issued_ms <= oldest
