"""What the WeCom and WeChat channels share: the access-token cache, API calls, UTF-8 limits.

Both platforms' server APIs take an ``access_token`` query parameter obtained from a token
endpoint (WeCom ``cgi-bin/gettoken``, WeChat ``cgi-bin/token``) that is valid for
``expires_in`` seconds (7200) and answer JSON with ``errcode``/``errmsg`` (0 = success),
usually with HTTP 200 even on errors. This module:

* caches one token per channel until :data:`TOKEN_MARGIN_S` before it expires, fetches it
  under a lock (one fetch for many concurrent sends), and forgets it on errcode 40001, 40014
  or 42001 (invalid/expired token) so the caller can fetch a fresh one and try once more;
* turns failures into :class:`~bot.channels.messaging.base.PlatformError`: network errors,
  HTTP 5xx/429 and errcodes -1 (system busy), 45009 (API frequency limit), 45011 (API
  minute-quota) are retryable; anything else is not;
* measures and splits text by UTF-8 bytes, the unit of both platforms' text limits.

Rasa environment only (``aiohttp``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from bot.channels.messaging.base import PlatformError

logger = logging.getLogger(__name__)

#: Seconds before ``expires_in`` when a cached token is replaced.
TOKEN_MARGIN_S = 300.0
#: Seconds one API call may take.
API_TIMEOUT_S = 15.0
#: errcodes saying the access token is invalid or expired: fetch a new one, try once more.
TOKEN_ERRCODES = frozenset({40001, 40014, 42001})
#: errcodes worth retrying later: system busy, frequency limits.
RETRYABLE_ERRCODES = frozenset({-1, 45009, 45011})
#: Seconds to wait before retrying after a frequency limit.
FREQUENCY_RETRY_AFTER_S = 2.0

TokenFetch = Callable[[], Awaitable[tuple[str, float]]]


class TokenError(PlatformError):
    """The API refused the access token (errcode in :data:`TOKEN_ERRCODES`)."""


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
        TokenError: errcode 40001/40014/42001.
        PlatformError: Any other failure (retryable for network errors, HTTP 5xx/429 and
            errcodes -1/45009/45011).
    """
    timeout = aiohttp.ClientTimeout(total=API_TIMEOUT_S)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.request(method, url, params=params, json=payload) as answer:
                status = answer.status
                try:
                    body = await answer.json(content_type=None)
                except (ValueError, aiohttp.ContentTypeError):
                    body = None
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
        raise PlatformError(f"{what}: {type(error).__name__}", retryable=True) from None
    if status >= 500 or status == 429:
        raise PlatformError(f"{what}: HTTP {status}", retryable=True)
    if status >= 400 or not isinstance(body, dict):
        raise PlatformError(f"{what}: HTTP {status}, not a JSON object", retryable=False)
    errcode = body.get("errcode", 0)
    if errcode in (0, None):
        return body
    message = f"{what}: errcode {errcode} {str(body.get('errmsg', ''))[:120]}"
    if errcode in TOKEN_ERRCODES:
        raise TokenError(message, retryable=False)
    if errcode in RETRYABLE_ERRCODES:
        retry_after = None if errcode == -1 else FREQUENCY_RETRY_AFTER_S
        raise PlatformError(message, retryable=True, retry_after=retry_after)
    raise PlatformError(message, retryable=False)


class AccessTokenCache:
    """One cached access token, fetched by ``fetch`` (returns the token and ``expires_in``).

    Args:
        fetch: Gets a fresh token and its lifetime in seconds.
        clock: Monotonic seconds (tests pass their own).
    """

    def __init__(self, fetch: TokenFetch, clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock: asyncio.Lock | None = None
        self.fetches = 0

    async def get(self) -> str:
        """The cached token, or a fresh one when it is missing or about to expire."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._token is None or self._clock() >= self._expires_at:
                token, expires_in = await self._fetch()
                self.fetches += 1
                self._token = token
                self._expires_at = self._clock() + max(expires_in - TOKEN_MARGIN_S, 0.0)
            return self._token

    def invalidate(self, token: str) -> None:
        """Forgets ``token`` if it is still the cached one (another send may have renewed it)."""
        if self._token == token:
            self._token = None

    async def call(self, attempt: Callable[[str], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        """Runs ``attempt(token)``; on a token error, once more with a fresh token.

        Raises:
            PlatformError: The attempt's failure (a second token error is not retryable).
        """
        token = await self.get()
        try:
            return await attempt(token)
        except TokenError:
            self.invalidate(token)
        return await attempt(await self.get())


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
