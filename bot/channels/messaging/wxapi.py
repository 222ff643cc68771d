"""What the WeCom and WeChat channels share: their ``errcode`` API calls, UTF-8 limits.

Both platforms' server APIs take an ``access_token`` query parameter obtained from a token
endpoint (WeCom ``cgi-bin/gettoken``, WeChat ``cgi-bin/token``) that is valid for
``expires_in`` seconds (7200), cached by :class:`~bot.channels.messaging.http.AccessTokenCache`,
and answer JSON with ``errcode``/``errmsg`` (0 = success), usually with HTTP 200 even on
errors. This module:

* makes one call (:func:`~bot.channels.messaging.http.request_json`: no redirects, answers
  capped, network errors retryable) and turns failures into
  :class:`~bot.channels.messaging.base.PlatformError`: HTTP 5xx/429 (after ``Retry-After``
  when given) and errcodes -1 (system
  busy), 45009 (API frequency limit), 45011 (API minute-quota) are retryable; errcodes 40001,
  40014 or 42001 (invalid/expired token) are an
  :class:`~bot.channels.messaging.http.InvalidTokenError`, so the cache fetches a fresh token
  and the call is made once more; anything else is not retryable;
* measures and splits text by UTF-8 bytes, the unit of both platforms' text limits.

Rasa environment only (``aiohttp``).
"""

from __future__ import annotations

import logging
from typing import Any

from bot.channels.messaging.base import PlatformError
from bot.channels.messaging.http import InvalidTokenError, failure, request_json

logger = logging.getLogger(__name__)

#: errcodes saying the access token is invalid or expired: fetch a new one, try once more.
TOKEN_ERRCODES = frozenset({40001, 40014, 42001})
#: errcodes worth retrying later: system busy, frequency limits.
RETRYABLE_ERRCODES = frozenset({-1, 45009, 45011})
#: Seconds to wait before retrying after a frequency limit.
FREQUENCY_RETRY_AFTER_S = 2.0


async def call_api(
    method: str,
    url: str,
    *,
    params: dict[str, str],
    payload: dict[str, Any] | None = None,
    what: str,
) -> dict[str, Any]:
    """Calls one API endpoint; returns its JSON body when ``errcode`` is 0 (or absent).

    Args:
        method: ``GET`` or ``POST``.
        url: The endpoint.
        params: The query parameters (the access token...). Never logged.
        payload: The JSON body of a POST.
        what: A short name of the call for logs and errors (``message/send``).

    Returns:
        The decoded JSON object.

    Raises:
        InvalidTokenError: errcode 40001/40014/42001.
        PlatformError: Any other failure (retryable for network errors, HTTP 5xx/429 and
            errcodes -1/45009/45011).
    """
    answer = await request_json(method, url, what=what, params=params, payload=payload)
    if not answer.ok or not isinstance(answer.body, dict):
        raise failure(what, answer, "" if not answer.ok else "not a JSON object")
    body = answer.body
    errcode = body.get("errcode", 0)
    if errcode in (0, None):
        return body
    message = f"{what}: errcode {errcode} {str(body.get('errmsg', ''))[:120]}"
    if errcode in TOKEN_ERRCODES:
        raise InvalidTokenError(message, retryable=False)
    if errcode in RETRYABLE_ERRCODES:
        retry_after = None if errcode == -1 else FREQUENCY_RETRY_AFTER_S
        raise PlatformError(message, retryable=True, retry_after=retry_after)
    raise PlatformError(message, retryable=False)


def utf8_len(text: str) -> int:
    """Length of ``text`` in UTF-8 bytes (lone surrogates count as 3, as they are replaced)."""
    return len(text.encode("utf-8", "replace"))


_BREAKS = ("\n\n", "\n", "。", "！", "？", ". ", "! ", "? ", "；", "，", ", ", " ")


def split_utf8(text: str, max_bytes: int) -> list[str]:
    """Splits ``text`` into pieces of at most ``max_bytes`` UTF-8 bytes each.

    Pieces end at the last paragraph, line, sentence, clause or word boundary that fits
    (the boundary stays with the piece before it), else at a character boundary, never
    inside a surrogate pair or a UTF-8 sequence.

    Args:
        text: Any text.
        max_bytes: The limit (at least 4: one character always fits).

    Returns:
        The pieces, in order; ``[text]`` when it already fits.
    """
    if max_bytes < 4:
        raise ValueError("max_bytes must be at least 4")
    pieces: list[str] = []
    rest = text
    while utf8_len(rest) > max_bytes:
        # The longest prefix that fits, in characters.
        low, high = 1, len(rest)
        while low < high:
            middle = (low + high + 1) // 2
            if utf8_len(rest[:middle]) <= max_bytes:
                low = middle
            else:
                high = middle - 1
        cut = low
        window = rest[:cut]
        for mark in _BREAKS:
            at = window.rfind(mark)
            if at > cut // 2:
                cut = at + len(mark)
                break
        pieces.append(rest[:cut])
        rest = rest[cut:]
    if rest or not pieces:
        pieces.append(rest)
    return pieces
