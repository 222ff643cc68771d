"""Login, sessions and CSRF protection of the console.

* Passwords are hashed with Argon2id (``argon2-cffi``).
* The session is a cookie signed with ``SESSION_SECRET`` (``itsdangerous``), limited to
  ``/console``, ``HttpOnly`` and ``SameSite=Lax``; it carries the user id, a per-session
  CSRF token and the interface language, and expires after :data:`SESSION_MAX_AGE_S`.
* Every state-changing request (POST) must carry the session's CSRF token, in the form
  field ``csrf_token`` or the ``X-CSRF-Token`` header. The login form uses a
  double-submit token of its own.
* The founder's account is created on first use from ``CONSOLE_PASSWORD``; without one,
  a one-time password is generated and printed to the server log.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from web.console.models import ConsoleUser

logger = logging.getLogger(__name__)

SESSION_COOKIE = "lb_console"
LOGIN_CSRF_COOKIE = "lb_console_login"
COOKIE_PATH = "/console"
SESSION_MAX_AGE_S = 12 * 3600
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
MAX_FAILURES = 5
FAILURE_WINDOW_S = 60.0

_hasher = PasswordHasher()
_secret_fallback = secrets.token_hex(32)


def hash_password(password: str) -> str:
    """Hashes a password with Argon2id."""
    return _hasher.hash(password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_password(secrets.token_hex(16))


def verify_password(password_hash: str, password: str) -> bool:
    """Checks a password against its hash, in constant time."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class ConsoleSession:
    """What the session cookie says.

    Attributes:
        user_id: The signed-in console user.
        username: Their login name.
        csrf: The session's CSRF token.
        lang: Interface language (``zh`` or ``en``).
    """

    user_id: int
    username: str
    csrf: str
    lang: str


class SessionCodec:
    """Signs and reads session cookies.

    Args:
        secret: ``SESSION_SECRET``; when missing a random per-process key is used (sessions
            then end when the server restarts) and a warning is logged.
    """

    def __init__(self, secret: str | None) -> None:
        if not secret:
            logger.warning("SESSION_SECRET is not set; console sessions end on restart")
        self._serializer = URLSafeTimedSerializer(
            secret or _secret_fallback, salt="leafbean-console-session"
        )

    def dumps(self, session: ConsoleSession) -> str:
        """Signs a session into a cookie value."""
        return self._serializer.dumps(
            {"u": session.user_id, "n": session.username, "c": session.csrf, "l": session.lang}
        )

    def loads(self, value: str | None) -> ConsoleSession | None:
        """Reads a cookie value; ``None`` when missing, forged or expired."""
        if not value:
            return None
        try:
            data = self._serializer.loads(value, max_age=SESSION_MAX_AGE_S)
            return ConsoleSession(int(data["u"]), str(data["n"]), str(data["c"]), str(data["l"]))
        except (BadSignature, KeyError, TypeError, ValueError):
            return None


def new_csrf_token() -> str:
    """Returns a fresh random CSRF token."""
    return secrets.token_urlsafe(32)


def tokens_match(expected: str | None, given: str | None) -> bool:
    """Compares two tokens in constant time; missing tokens never match."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def ensure_founder(db: Session, username: str, password: str | None) -> str | None:
    """Creates the founder's account if there is no console user yet.

    Args:
        db: A session on the store.
        username: The founder's login name (``CONSOLE_USER``).
        password: ``CONSOLE_PASSWORD``; when missing a one-time password is generated.

    Returns:
        The generated one-time password (it is also logged), or ``None`` when the
        account already existed or the configured password was used.
    """
    if db.scalar(select(ConsoleUser.id).limit(1)) is not None:
        return None
    generated = None
    if not password:
        generated = secrets.token_urlsafe(12)
        password = generated
    db.add(ConsoleUser(username=username, password_hash=hash_password(password)))
    db.commit()
    if generated:
        logger.warning("Console account created: %s / one-time password %s", username, generated)
        print(f"Console login: {username} / {generated} (one-time password)", flush=True)
    else:
        logger.info("Console account %r created from CONSOLE_PASSWORD", username)
    return generated


def authenticate(db: Session, username: str, password: str) -> ConsoleUser | None:
    """Returns the user when the password is right, else ``None``."""
    user = db.scalar(select(ConsoleUser).where(ConsoleUser.username == username))
    if user is None:
        verify_password(_dummy_hash(), password)  # same work for unknown users
        return None
    if not verify_password(user.password_hash, password):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = datetime.now(UTC)
    db.commit()
    return user


class LoginThrottle:
    """At most :data:`MAX_FAILURES` failed logins per client per minute (in memory)."""

    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures[key]
        while failures and now - failures[0] > FAILURE_WINDOW_S:
            failures.popleft()
        return failures

    def blocked(self, key: str) -> bool:
        """Whether ``key`` (client address) has failed too often recently."""
        with self._lock:
            return len(self._recent(key, time.monotonic())) >= MAX_FAILURES

    def failed(self, key: str) -> None:
        """Records a failed login of ``key``."""
        with self._lock:
            self._recent(key, time.monotonic()).append(time.monotonic())

    def clear(self) -> None:
        """Forgets every failure."""
        with self._lock:
            self._failures.clear()

    def succeeded(self, key: str) -> None:
        """Forgets the failures of ``key``."""
        with self._lock:
            self._failures.pop(key, None)
