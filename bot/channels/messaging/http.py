"""What the platforms' API clients share: one JSON call, its errors, a cached access token.

* :func:`request_json` makes one ``GET``/``POST`` and returns every HTTP answer as an
  :class:`Answer` (each platform judges success its own way: Telegram's ``ok``, Feishu's
  ``code``, WeChat's ``errcode``...). It never follows a redirect (a platform's API does not
  redirect, and a redirect would carry a token or a reply elsewhere), reads at most
  :data:`MAX_ANSWER_BYTES`, and turns a network error, a timeout or an over-size answer into a
  retryable :class:`~bot.channels.messaging.outbound.PlatformError` naming only the call and
  the error's class (never the URL: it may hold a token).
* :func:`failure` is the :class:`PlatformError` of a failed answer: retryable for HTTP 5xx and
  429 (or when the platform's own code says so), ``retry_after`` from the ``Retry-After``
  header unless the platform gave one, a message of the call, the status and a short detail
  (the platform's error code or description: never a token or the customer's text).
* :class:`AccessTokenCache` keeps one access token (WeCom, WeChat, Feishu, DingTalk) until
  :data:`TOKEN_MARGIN_S` before it expires, fetched by a function of the platform under a
  lock (one fetch for many concurrent sends), and forgets it when the platform calls it
  invalid: :meth:`AccessTokenCache.call` then tries once more with a fresh token (WeCom,
  WeChat: :class:`InvalidTokenError`); Feishu and DingTalk forget it and raise a retryable
  error, so the send's next attempt fetches a fresh one.

Rasa environment only (``aiohttp``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bot.channels.messaging.outbound import PlatformError

#: Seconds one API call may take.
API_TIMEOUT_S = 15.0
#: Largest answer read (bytes): a bigger one is a failure.
MAX_ANSWER_BYTES = 1024 * 1024
READ_CHUNK_BYTES = 64 * 1024
#: Seconds before a token's lifetime ends when it is replaced.
TOKEN_MARGIN_S = 300.0
HEADER_RETRY_AFTER = "Retry-After"
#: Characters of a platform's error detail kept in an error message.
MAX_DETAIL_CHARS = 200

TokenFetch = Callable[[], Awaitable[tuple[str, float]]]


class InvalidTokenError(PlatformError):
    """The platform refused the access token as invalid or expired."""


@dataclass(frozen=True)
class Answer:
    """A platform's HTTP answer.

    Attributes:
        status: The HTTP status.
        body: The decoded JSON (``None`` when empty or not JSON).
        headers: The answer's headers (case-insensitive).
    """

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def data(self) -> dict[str, Any]:
        """The body when it is a JSON object, else ``{}``."""
        return self.body if isinstance(self.body, dict) else {}

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status < 300


async def request_json(
    method: str,
    url: str,
    *,
    what: str,
    payload: Any = None,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Answer:
    """Makes one API call with a JSON body (or none), never following a redirect.

    Args:
        method: ``GET`` or ``POST``.
        url: The endpoint (may hold a token: never logged nor put in an error).
        what: A short name of the call for errors (``telegram sendMessage``).
        payload: The JSON body of a POST (``None``: no body).
        params: Query parameters (may hold a token).
        headers: Request headers (may hold a token).

    Returns:
        The answer, whatever its status.

    Raises:
        PlatformError: Retryable: a network error, a timeout or an answer over
            :data:`MAX_ANSWER_BYTES`.
    """
    timeout = aiohttp.ClientTimeout(total=API_TIMEOUT_S)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.request(
                method,
                url,
                params=params,
                json=payload,
                headers=headers,
                allow_redirects=False,
            ) as answer:
                raw = bytearray()
                async for chunk in answer.content.iter_chunked(READ_CHUNK_BYTES):
                    raw += chunk
                    if len(raw) > MAX_ANSWER_BYTES:
                        raise PlatformError(
                            f"{what}: answer over {MAX_ANSWER_BYTES} bytes", retryable=True
                        )
                status, answer_headers = answer.status, answer.headers.copy()
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
        raise PlatformError(f"{what}: {type(error).__name__}", retryable=True) from None
    try:
        body = json.loads(bytes(raw)) if raw else None
    except (ValueError, RecursionError):
        body = None
    return Answer(status, body, answer_headers)


def post_json(
    url: str, payload: Any, *, what: str, headers: Mapping[str, str] | None = None
) -> Awaitable[Answer]:
    """:func:`request_json` with ``POST`` (the usual call)."""
    return request_json("POST", url, what=what, payload=payload, headers=headers)


def retry_after(headers: Mapping[str, str], *names: str) -> float | None:
    """Seconds to wait from the first of ``names`` (default ``Retry-After``) that is digits."""
    for name in names or (HEADER_RETRY_AFTER,):
        value = headers.get(name) or ""
        if value.isascii() and value.isdigit():
            return float(value)
    return None


def failure(
    what: str,
    answer: Answer,
    detail: object = "",
    *,
    retryable: bool = False,
    after: float | None = None,
) -> PlatformError:
    """The :class:`PlatformError` of a failed call.

    Args:
        what: The call (``feishu message``).
        answer: The platform's answer.
        detail: The platform's error code/description (cut to :data:`MAX_DETAIL_CHARS`).
        retryable: Whether the platform's own error says trying again helps (HTTP 5xx and 429
            are retryable anyway).
        after: The platform's own wait (else the ``Retry-After`` header's).

    Returns:
        The error (not raised).
    """
    text = str(detail)[:MAX_DETAIL_CHARS]
    return PlatformError(
        f"{what} failed: HTTP {answer.status} {text}".strip(),
        retryable=retryable or answer.status == 429 or answer.status >= 500,
        retry_after=after if after is not None else retry_after(answer.headers),
    )


class AccessTokenCache:
    """One cached access token, fetched by ``fetch`` (returns the token and its lifetime, s).

    Args:
        fetch: Gets a fresh token and its lifetime in seconds (raises :class:`PlatformError`).
        clock: Monotonic seconds (tests pass their own).
        min_lifetime_s: The shortest time a fetched token is kept (a platform announcing a
            lifetime under :data:`TOKEN_MARGIN_S` would otherwise be asked at every call).
    """

    def __init__(
        self,
        fetch: TokenFetch,
        clock: Callable[[], float] = time.monotonic,
        min_lifetime_s: float = 0.0,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._min_lifetime_s = min_lifetime_s
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock: asyncio.Lock | None = None
        self.fetches = 0

    def _valid(self) -> str | None:
        if self._token is not None and self._clock() < self._expires_at:
            return self._token
        return None

    async def get(self) -> str:
        """The cached token, or a fresh one when it is missing or about to expire."""
        token = self._valid()
        if token is not None:
            return token
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            token = self._valid()
            if token is None:
                token, lifetime = await self._fetch()
                self.fetches += 1
                self._token = token
                self._expires_at = self._clock() + max(
                    lifetime - TOKEN_MARGIN_S, self._min_lifetime_s
                )
            return token

    def invalidate(self, token: str | None = None) -> None:
        """Forgets ``token`` if it is still the cached one (``None``: whatever is cached).

        Another send may have renewed it meanwhile: that newer token is kept.
        """
        if token is None or self._token == token:
            self._token = None

    async def call(self, attempt: Callable[[str], Awaitable[Any]]) -> Any:
        """Runs ``attempt(token)``; on :class:`InvalidTokenError`, once more with a fresh token.

        Raises:
            PlatformError: The attempt's failure (the second one as it is).
        """
        token = await self.get()
        try:
            return await attempt(token)
        except InvalidTokenError:
            self.invalidate(token)
        return await attempt(await self.get())
