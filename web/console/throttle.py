"""The console's login throttle, kept in the store so that it holds across processes.

Every login attempt reserves a slot *before* the password is checked (Argon2 is
deliberately slow, so a flood of guesses must not reach it). Three counters, each over a
one-minute window that starts with its first attempt:

* ``pair:<ip>|<user>``: ``CONSOLE_LOGIN_PER_MINUTE`` (default 5) attempts per username and
  client address: the limit a founder who mistypes meets;
* ``ip:<ip>``: four times that per client address, whatever the usernames (spraying);
* ``user:<user>``: ten times that per username from all addresses together (a distributed
  guess; it bounds the Argon2 work one account can cost).

A counter is only ever changed by one conditional statement, ``UPDATE ... SET attempts =
attempts + 1 WHERE ... attempts < limit`` or ``INSERT ... ON CONFLICT DO UPDATE ... WHERE
window_start <= now - 60`` (a new window), both ``RETURNING`` the row, and a slot is
granted exactly when that statement changed (returned) a row. The database serialises concurrent statements on one row
(PostgreSQL re-checks the ``WHERE`` after waiting for the row lock; SQLite has one writer),
so no number of concurrent requests gets more than the limit through. Counters are checked
from the most specific to the broadest and a refusal stops there, so guesses refused for
one pair do not use up the address's or the account's allowance. A successful login clears
its pair counter.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from analytics.store.models.console import KnownClient, LoginAttempts
from web.security import rate_key
from web.settings import get_settings

logger = logging.getLogger(__name__)

WINDOW_S = 60
IP_FACTOR = 4
USER_FACTOR = 10
MAX_USER_CHARS = 100
KNOWN_CLIENT_DAYS = 30
KNOWN_CLIENT_S = KNOWN_CLIENT_DAYS * 24 * 3600
KNOWN_KEY_CONTEXT = b"leafbean console known client v1"
ATTEMPTS: Table = cast(Table, LoginAttempts.__table__)
KNOWN: Table = cast(Table, KnownClient.__table__)


@dataclass(frozen=True)
class Verdict:
    """Whether a login attempt may go ahead.

    Attributes:
        allowed: The attempt may check the password.
        retry_after: When refused, seconds until the refusing counter's window ends.
    """

    allowed: bool
    retry_after: int = 0


def login_limit() -> int:
    """Attempts per username and client address per minute (``CONSOLE_LOGIN_PER_MINUTE``).

    The settings accept only a positive number.
    """
    return get_settings().login_per_minute


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _user_key(username: str) -> str:
    return username.strip().lower()[:MAX_USER_CHARS]


def counters(username: str, client: str, per_minute: int) -> list[tuple[str, int]]:
    """The throttle keys (hashed) of one attempt and their limits, most specific first.

    Args:
        username: The login name as typed.
        client: The client address (an IPv6 address counts as its /64 network).
        per_minute: ``CONSOLE_LOGIN_PER_MINUTE``.

    Returns:
        ``[(pair key, limit), (address key, limit), (user key, limit)]``.
    """
    user = _user_key(username)
    client = rate_key(client)  # IPv6: the /64 network
    return [
        (_digest(f"pair:{client}|{user}"), per_minute),
        (_digest(f"ip:{client}"), per_minute * IP_FACTOR),
        (_digest(f"user:{user}"), per_minute * USER_FACTOR),
    ]


def _upsert(db: Session, key_hash: str, now: int) -> Any:  # noqa: ANN401
    values = {"key_hash": key_hash, "window_start": now, "attempts": 1}
    dialect = db.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(ATTEMPTS).values(**values)
    return statement.on_conflict_do_update(
        index_elements=[ATTEMPTS.c.key_hash],
        set_={"window_start": now, "attempts": 1},
        where=ATTEMPTS.c.window_start <= now - WINDOW_S,
    ).returning(ATTEMPTS.c.attempts)


def _take(db: Session, key_hash: str, limit: int, now: int) -> Verdict:
    """Takes one slot of one counter (its own short transaction)."""
    increment = (
        update(ATTEMPTS)
        .where(
            ATTEMPTS.c.key_hash == key_hash,
            ATTEMPTS.c.window_start > now - WINDOW_S,
            ATTEMPTS.c.attempts < limit,
        )
        .values(attempts=ATTEMPTS.c.attempts + 1)
        .returning(ATTEMPTS.c.attempts)
    )
    try:
        # Twice: a concurrent request may open the new window between our two statements.
        for _ in range(2):
            # A row comes back exactly when the statement changed one (rowcount is not
            # reliable for INSERT ... ON CONFLICT on every driver).
            if db.execute(increment).first() is not None:
                db.commit()
                return Verdict(True)
            if db.execute(_upsert(db, key_hash, now)).first() is not None:
                db.commit()
                return Verdict(True)
        start = db.scalar(select(ATTEMPTS.c.window_start).where(ATTEMPTS.c.key_hash == key_hash))
        db.commit()
    except Exception:
        db.rollback()
        raise
    remaining = (int(start) if start is not None else now) + WINDOW_S - now
    return Verdict(False, min(WINDOW_S, max(1, remaining)))


def known_client_key(username: str, client: str) -> str:
    """The stored key of a (user, address) pair: HMAC-SHA256 keyed with ``SESSION_SECRET``.

    Args:
        username: The login name.
        client: The client address (IPv6 counts as its /64 network).

    Returns:
        64 hex digits.
    """
    secret = (get_settings().session_secret or "").encode("utf-8")
    key = hmac.new(secret, KNOWN_KEY_CONTEXT, hashlib.sha256).digest()
    message = f"known:{_user_key(username)}|{rate_key(client)}"
    return hmac.new(key, message.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def is_known_client(db: Session, username: str, client: str, *, now: float | None = None) -> bool:
    """Whether ``client`` signed in as ``username`` within the last 30 days.

    Args:
        db: A session on the store (its read transaction is ended here).
        username: The login name as typed.
        client: The client address.
        now: The current Unix time (defaults to the clock).

    Returns:
        The verdict.
    """
    moment = int(time.time() if now is None else now)
    last = db.scalar(
        select(KNOWN.c.last_login_at).where(KNOWN.c.key_hash == known_client_key(username, client))
    )
    db.rollback()  # no snapshot held into the counters' statements
    return last is not None and int(last) > moment - KNOWN_CLIENT_S


def _remember_client(db: Session, username: str, client: str, now: int) -> None:
    values = {"key_hash": known_client_key(username, client), "last_login_at": now}
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    db.execute(
        insert(KNOWN)
        .values(**values)
        .on_conflict_do_update(index_elements=[KNOWN.c.key_hash], set_={"last_login_at": now})
    )
    db.execute(delete(KNOWN).where(KNOWN.c.last_login_at <= now - KNOWN_CLIENT_S))


def reserve(db: Session, username: str, client: str, *, now: float | None = None) -> Verdict:
    """Reserves one login attempt for ``username`` from ``client``, before any password check.

    Args:
        db: A session on the store (committed here; call before it holds a transaction).
        username: The login name as typed.
        client: The client address.
        now: The current Unix time (defaults to the clock).

    Returns:
        Allowed, or refused with the seconds to wait. An address that signed in as
        ``username`` within 30 days skips the per-username counter.
    """
    moment = int(time.time() if now is None else now)
    checks = counters(username, client, login_limit())
    if is_known_client(db, username, client, now=moment):
        checks = checks[:-1]  # no per-username counter: the founder cannot be locked out
    for key_hash, limit in checks:
        verdict = _take(db, key_hash, limit, moment)
        if not verdict.allowed:
            return verdict
    return Verdict(True)


def succeeded(db: Session, username: str, client: str, *, now: float | None = None) -> None:
    """After a correct password: clears the counter, remembers the address, tidies up.

    Clears the pair counter, remembers the address as known for 30 days, and drops
    long-finished windows and forgotten addresses.

    Args:
        db: A session on the store (committed here).
        username: The login name.
        client: The client address.
        now: The current Unix time (defaults to the clock).
    """
    moment = int(time.time() if now is None else now)
    pair_hash = counters(username, client, 1)[0][0]
    try:
        db.execute(delete(ATTEMPTS).where(ATTEMPTS.c.key_hash == pair_hash))
        db.execute(delete(ATTEMPTS).where(ATTEMPTS.c.window_start <= moment - WINDOW_S))
        _remember_client(db, username, client, moment)
        db.commit()
    except Exception:
        db.rollback()
        raise
