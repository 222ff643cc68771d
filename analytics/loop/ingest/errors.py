"""Telling a poison event from a store that is down, and backing off.

An event is *poison* when processing it raises anything that is about the event: a value
the database refuses (``DataError``, ``IntegrityError``), a Python error on a malformed
value (``TypeError``, ``ValueError``, ``RecursionError``, ...). It goes to the dead-letter
table and the worker moves on.

The *store is down* when the error is about the database, not the event: the connection is
refused or lost, a lock or deadlock, the server shutting down, the schema missing
(``OperationalError``, ``InterfaceError``, PostgreSQL SQLSTATE classes 08, 40, 42, 53, 55,
57, 58, XX, F0). Then nothing is dead-lettered: the worker backs off and retries the same
events until the store is back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import exc as sa_exc

from analytics.loop.privacy import redact

logger = logging.getLogger(__name__)

#: PostgreSQL SQLSTATE classes that are about the server, not about the values sent.
STORE_SQLSTATE_CLASSES = frozenset({"08", "40", "42", "53", "55", "57", "58", "XX", "F0"})
MAX_ERROR_CHARS = 500
_MAX_CHAIN = 8


class StoreUnavailable(Exception):
    """The store cannot be written right now (retry later; nothing is dead-lettered)."""


def _one_is_store_error(error: BaseException) -> bool:
    if isinstance(error, StoreUnavailable | sa_exc.DisconnectionError | sa_exc.TimeoutError):
        return True
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return True
        sqlstate = getattr(error.orig, "sqlstate", None)
        if isinstance(sqlstate, str) and len(sqlstate) == 5:
            return sqlstate[:2] in STORE_SQLSTATE_CLASSES
        return isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError)
    return False


def is_store_unavailable(error: BaseException) -> bool:
    """Whether an error means "the store is down" rather than "this event is poison".

    The error and its causes (``raise ... from``, or an error raised while rolling back)
    are looked at.

    Args:
        error: The exception.

    Returns:
        ``True`` to back off and retry, ``False`` to dead-letter the event.
    """
    seen: BaseException | None = error
    for _ in range(_MAX_CHAIN):
        if seen is None:
            break
        if _one_is_store_error(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def error_class(error: BaseException) -> str:
    """The error's class name, with the database driver's class for SQLAlchemy errors.

    Args:
        error: The exception.

    Returns:
        E.g. ``DataError/StringDataRightTruncation`` or ``RecursionError``.
    """
    name = type(error).__name__
    orig = getattr(error, "orig", None)
    if isinstance(error, sa_exc.DBAPIError) and orig is not None:
        name = f"{name}/{type(orig).__name__}"
    return name


def describe_error(error: BaseException) -> str:
    """A short, redacted description of an error, for the dead-letter table.

    SQLAlchemy errors are described by the driver's message only (their text carries the
    SQL and the parameter values, i.e. the customer's message).

    Args:
        error: The exception.

    Returns:
        ``<class>: <first line of the message>``, personal data redacted, at most
        :data:`MAX_ERROR_CHARS` characters.
    """
    source: object = error
    if isinstance(error, sa_exc.DBAPIError) and error.orig is not None:
        source = error.orig
    elif isinstance(error, sa_exc.StatementError) and error.orig is not None:
        source = error.orig
    try:
        lines = str(source).strip().splitlines()
    except Exception:  # noqa: BLE001 - a broken __str__ must not stop the dead letter
        lines = []
    message = lines[0] if lines else ""
    message = message[: MAX_ERROR_CHARS * 2].encode("utf-8", "replace").decode("utf-8")
    text = f"{error_class(error)}: {redact(message)}" if message else error_class(error)
    return text[:MAX_ERROR_CHARS]


@dataclass
class Backoff:
    """Exponential back-off between retries, reset after a success.

    Attributes:
        initial: First delay in seconds.
        maximum: Longest delay in seconds.
        factor: Growth per failed attempt.
        attempt: Failed attempts since the last success.
    """

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    attempt: int = 0

    def next_delay(self) -> float:
        """Count one more failed attempt and return how long to wait before the next."""
        self.attempt += 1
        return min(self.maximum, self.initial * self.factor ** (self.attempt - 1))

    def fresh(self) -> Backoff:
        """A new back-off with the same settings and no failures counted."""
        return Backoff(self.initial, self.maximum, self.factor)

    def reset(self) -> None:
        """Forget the failures (after a success)."""
        self.attempt = 0
