"""What every founder hook does before it trusts a request: size cap, text hygiene, logging.

* :func:`read_capped` reads at most :data:`MAX_BODY_BYTES` (a ``Content-Length`` over the
  cap is refused before reading; a chunked body is cut off as soon as it passes it).
* :func:`clean_reply` makes the founder's text safe to store and send: control characters
  (newline and tab kept) are removed and lone surrogates become U+FFFD.
* :class:`RefusalLog` logs a refused request once per kind and reason and minute: the
  reason only, never the body, a header value or a secret.
"""

from __future__ import annotations

import logging
import re
import threading
import time

from fastapi import Request

logger = logging.getLogger(__name__)

#: Largest request body a founder hook reads (a Telegram update or a WeCom message is a
#: few kilobytes).
MAX_BODY_BYTES = 64 * 1024
#: Longest founder message sent to a customer (the console's limit).
MAX_REPLY_CHARS = 2000
LOG_EVERY_S = 60.0
REPLACEMENT = "\ufffd"

_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_SURROGATE_RE = re.compile(r"[\ud800-\udfff]")


class BodyTooLarge(Exception):
    """The request body is over :data:`MAX_BODY_BYTES`."""


async def read_capped(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, read only up to ``limit`` bytes.

    Args:
        request: The request.
        limit: The cap in bytes.

    Returns:
        The body.

    Raises:
        BodyTooLarge: If ``Content-Length`` or the bytes received pass the cap.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def clean_reply(text: str) -> str:
    """The founder's text as it may be stored and sent.

    No control or bidi-override characters (newline and tab kept), no lone surrogates, no
    surrounding blanks.

    Args:
        text: Text from a platform (a JSON string may hold lone surrogates).

    Returns:
        The cleaned text (possibly empty).
    """
    text = _CONTROL_RE.sub("", text)
    text = _SURROGATE_RE.sub(REPLACEMENT, text)
    return text.strip()


class RefusalLog:
    """At most one warning per (hook, reason) and :data:`LOG_EVERY_S` (thread-safe)."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], float] = {}
        self._suppressed: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forgets when each reason was last logged (tests)."""
        with self._lock:
            self._last.clear()
            self._suppressed.clear()

    def refused(self, hook: str, reason: str, address: str) -> None:
        """Notes one refused request (logged now and then, without its content).

        Args:
            hook: ``telegram`` or ``wecom``.
            reason: A fixed short reason (``bad secret``, ``expired`` ...).
            address: The client address.
        """
        key = (hook, reason)
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < LOG_EVERY_S:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return
            self._last[key] = now
            suppressed = self._suppressed.pop(key, 0)
        logger.warning(
            "Founder hook %s refused a request from %s: %s (%d more like it not logged)",
            hook,
            address,
            reason,
            suppressed,
        )


REFUSALS = RefusalLog()


class Refused(Exception):
    """A request the hook will not act on: answered with ``status``, nothing stored.

    Args:
        status: The HTTP status (401 no credential, 403 a wrong or expired one, 400 a body
            that is not the platform's format, 413 too big).
        reason: A fixed short reason for the log (never request content).
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
