"""Login, server-side sessions and CSRF protection of the console.

* Passwords are hashed with Argon2id (``argon2-cffi``). Before a password is checked, the
  login reserves an attempt in the store's throttle (:mod:`web.console.throttle`).
* A session is a row of ``console_sessions`` (:class:`~analytics.store.models.console.StoredSession`):
  the cookie carries a random session id signed with ``SESSION_SECRET`` (``itsdangerous``);
  the row (stored under the id's SHA-256) holds the user, the session's CSRF token and the
  interface language, and expires after :data:`SESSION_MAX_AGE_S`. Logout deletes the row,
  a password change deletes every row of the user: the old cookie then opens nothing.
* Every state-changing request (POST) must carry the session's CSRF token, in the form
  field ``csrf_token`` or the ``X-CSRF-Token`` header. The login form uses a
  double-submit token of its own.
* The founder's account is created on first use from ``CONSOLE_PASSWORD``; without one, a
  one-time password is written to a file readable by the owner only (never to the log). A
  rotated ``CONSOLE_PASSWORD`` is applied at the next start (and ends the user's sessions).
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from analytics.store.models.console import ConsoleState, ConsoleUser, StoredSession

logger = logging.getLogger(__name__)

SESSION_COOKIE = "lb_console"
LOGIN_CSRF_COOKIE = "lb_console_login"
COOKIE_PATH = "/console"
SESSION_MAX_AGE_S = 12 * 3600
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
MIN_PASSWORD_CHARS = 10
ONE_TIME_PASSWORD_FILE = "initial-password"
APPLIED_PASSWORD_KEY = "console_password_applied"

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
    """A live session, as read from the store.

    Attributes:
        user_id: The signed-in console user.
        username: Their login name.
        csrf: The session's CSRF token.
        lang: Interface language (``zh`` or ``en``).
        sid: The random session id from the cookie (to end or update this session).
    """

    user_id: int
    username: str
    csrf: str
    lang: str
    sid: str


class SessionCodec:
    """Signs and reads the session id in the cookie.

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

    def dumps(self, sid: str) -> str:
        """Signs a session id into a cookie value."""
        return self._serializer.dumps({"s": sid})

    def loads(self, value: str | None) -> str | None:
        """Reads a cookie value; the session id, or ``None`` when missing, forged or old."""
        if not value:
            return None
        try:
            data = self._serializer.loads(value, max_age=SESSION_MAX_AGE_S)
            sid = data["s"]
        except (BadSignature, KeyError, TypeError, ValueError):
            return None
        return sid if isinstance(sid, str) and sid else None


def _sid_hash(sid: str) -> str:
    return hashlib.sha256(sid.encode("utf-8", "surrogatepass")).hexdigest()


def start_session(db: Session, user: ConsoleUser, lang: str) -> ConsoleSession:
    """Stores a new session for ``user`` (and drops expired ones).

    Args:
        db: A session on the store (committed here).
        user: The user who just proved their password.
        lang: The interface language.

    Returns:
        The session; its ``sid`` goes into the cookie.
    """
    now = datetime.now(UTC)
    sid = secrets.token_urlsafe(32)
    csrf = new_csrf_token()
    db.execute(delete(StoredSession).where(StoredSession.expires_at <= now))
    db.add(
        StoredSession(
            id_hash=_sid_hash(sid),
            user_id=user.id,
            csrf=csrf,
            language=lang,
            created_at=now,
            expires_at=now + timedelta(seconds=SESSION_MAX_AGE_S),
        )
    )
    db.commit()
    return ConsoleSession(user.id, user.username, csrf, lang, sid)


def load_session(db: Session, sid: str | None) -> ConsoleSession | None:
    """The live session with this id; ``None`` if unknown, ended or expired."""
    if not sid:
        return None
    row = db.execute(
        select(StoredSession, ConsoleUser.username)
        .join(ConsoleUser, ConsoleUser.id == StoredSession.user_id)
        .where(StoredSession.id_hash == _sid_hash(sid))
    ).first()
    if row is None:
        return None
    stored, username = row
    if stored.expires_at <= datetime.now(UTC):
        return None
    return ConsoleSession(stored.user_id, username, stored.csrf, stored.language, sid)


def end_session(db: Session, sid: str) -> None:
    """Ends one session (logout)."""
    db.execute(delete(StoredSession).where(StoredSession.id_hash == _sid_hash(sid)))
    db.commit()


def end_all_sessions(db: Session, user_id: int) -> int:
    """Ends every session of a user (password change); returns how many there were."""
    result = db.execute(delete(StoredSession).where(StoredSession.user_id == user_id))
    db.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]


def set_session_language(db: Session, session: ConsoleSession, lang: str) -> None:
    """Remembers the interface language for the session and the user."""
    row = db.get(StoredSession, _sid_hash(session.sid))
    if row is not None:
        row.language = lang
    user = db.get(ConsoleUser, session.user_id)
    if user is not None:
        user.language = lang
    db.commit()


def new_csrf_token() -> str:
    """Returns a fresh random CSRF token."""
    return secrets.token_urlsafe(32)


def _write_one_time_password(path: Path, username: str, password: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(f"{username}\n{password}\n")
    os.chmod(path, 0o600)


def ensure_founder(db: Session, username: str, password: str | None, work_dir: Path) -> Path | None:
    """Creates the founder's account, or applies a rotated ``CONSOLE_PASSWORD``.

    The account is created when there is no console user yet.

    ``CONSOLE_PASSWORD`` is applied when it differs from the last value applied (kept as an
    Argon2 hash in ``console_state``), so rotating it in ``.env`` and restarting sets the new
    password and ends the user's sessions, while a password changed on the console's
    password page is not undone by an unchanged ``.env``.

    Args:
        db: A session on the store.
        username: The founder's login name (``CONSOLE_USER``).
        password: ``CONSOLE_PASSWORD``; when missing a one-time password is generated.
        work_dir: The console's scratch folder; a generated password is written to
            ``<work_dir>/initial-password`` (mode 0600), never to the log.

    Returns:
        The file holding the generated password, or ``None`` when the account already
        existed or the configured password was used.
    """
    if db.scalar(select(ConsoleUser.id).limit(1)) is not None:
        if password:
            _apply_rotated_password(db, username, password)
        return None
    generated = None
    if not password:
        generated = secrets.token_urlsafe(12)
        password = generated
    db.add(ConsoleUser(username=username, password_hash=hash_password(password)))
    if generated is None:
        _remember_applied(db, password)
    db.commit()
    if generated is None:
        logger.info("Console account %r created from CONSOLE_PASSWORD", username)
        return None
    path = work_dir / ONE_TIME_PASSWORD_FILE
    _write_one_time_password(path, username, generated)
    logger.warning(
        "Console account %r created with a one-time password; it is in %s (delete the file "
        "after signing in and change the password in the console)",
        username,
        path,
    )
    return path


def _remember_applied(db: Session, password: str) -> None:
    row = db.get(ConsoleState, APPLIED_PASSWORD_KEY)
    if row is None:
        db.add(ConsoleState(key=APPLIED_PASSWORD_KEY, value=hash_password(password)))
    else:
        row.value = hash_password(password)


def _apply_rotated_password(db: Session, username: str, password: str) -> None:
    applied = db.get(ConsoleState, APPLIED_PASSWORD_KEY)
    if applied is not None and verify_password(applied.value, password):
        return  # unchanged since it was last applied
    user = db.scalar(select(ConsoleUser).where(ConsoleUser.username == username))
    if applied is None:
        # A store from before this was recorded: remember the value, change nothing.
        _remember_applied(db, password)
        db.commit()
        return
    _remember_applied(db, password)
    db.commit()
    if user is None:
        logger.warning("CONSOLE_PASSWORD changed but there is no console user %r", username)
        return
    change_password(db, user.id, password)
    logger.info("CONSOLE_PASSWORD changed: the password of %r was updated", username)


def authenticate(db: Session, username: str, password: str) -> ConsoleUser | None:
    """Returns the user when the password is right, else ``None`` (one Argon2 check)."""
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


def change_password(db: Session, user_id: int, new_password: str) -> None:
    """Sets a new password and ends every session of the user.

    Args:
        db: A session on the store (committed here).
        user_id: The user.
        new_password: The new password (the caller checked the old one and the length).
    """
    user = db.get(ConsoleUser, user_id)
    if user is None:
        raise LookupError(f"no console user {user_id}")
    user.password_hash = hash_password(new_password)
    db.commit()
    ended = end_all_sessions(db, user_id)
    logger.info("Console password of %r changed; %d session(s) ended", user.username, ended)
