"""The console's login throttle, kept in the store so that it holds across processes.

Every login attempt reserves a slot *before* the password is checked (Argon2 is
deliberately slow, so a flood of guesses must not reach it). Three counters, each over a
one-minute window that starts with its first attempt:

* ``pair:<ip>|<user>``: :data:`ENV_LOGIN_PER_MINUTE` (default 5) attempts per username and
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
import logging
import time
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from analytics.settings import env_int
from web.console.models import LoginAttempts
from web.security import rate_key

logger = logging.getLogger(__name__)

ENV_LOGIN_PER_MINUTE = "CONSOLE_LOGIN_PER_MINUTE"
DEFAULT_LOGIN_PER_MINUTE = 5
WINDOW_S = 60
IP_FACTOR = 4
USER_FACTOR = 10
MAX_USER_CHARS = 100
ATTEMPTS: Table = cast(Table, LoginAttempts.__table__)


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
    """Attempts per username and client address per minute (``CONSOLE_LOGIN_PER_MINUTE``)."""
    return max(1, env_int(ENV_LOGIN_PER_MINUTE, DEFAULT_LOGIN_PER_MINUTE))


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


def reserve(db: Session, username: str, client: str, *, now: float | None = None) -> Verdict:
    """Reserves one login attempt for ``username`` from ``client``, before any password check.

    Args:
        db: A session on the store (committed here; call before it holds a transaction).
        username: The login name as typed.
        client: The client address.
        now: The current Unix time (defaults to the clock).

    Returns:
        Allowed, or refused with the seconds to wait.
    """
    moment = int(time.time() if now is None else now)
    for key_hash, limit in counters(username, client, login_limit()):
        verdict = _take(db, key_hash, limit, moment)
        if not verdict.allowed:
            return verdict
    return Verdict(True)


def succeeded(db: Session, username: str, client: str, *, now: float | None = None) -> None:
    """Clears the pair counter after a correct password, and drops long-finished windows.

    Args:
        db: A session on the store (committed here).
        username: The login name.
        client: The client address.
        now: The current Unix time (defaults to the clock).
    """
    moment = int(time.time() if now is None else now)
    pair_hash = counters(username, client, 1)[0][0]
    db.execute(delete(ATTEMPTS).where(ATTEMPTS.c.key_hash == pair_hash))
    db.execute(delete(ATTEMPTS).where(ATTEMPTS.c.window_start <= moment - WINDOW_S))
    db.commit()
