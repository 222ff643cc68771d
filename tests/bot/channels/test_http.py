"""The platforms' shared API client (bot/channels/messaging/http.py), against a loopback API.

One JSON call for every platform: redirects are not followed, answers are capped, network
errors and 5xx/429 are retryable and honour ``Retry-After``, errors never carry the URL (a
token may be in it); one access-token cache: cached until shortly before expiry, fetched once
for concurrent callers, renewed once on an invalid-token answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

from bot.channels.messaging.base import PlatformError
from bot.channels.messaging.http import (
    MAX_ANSWER_BYTES,
    TOKEN_MARGIN_S,
    AccessTokenCache,
    Answer,
    InvalidTokenError,
    failure,
    post_json,
    request_json,
)
from tests.bot.channels.wx_helpers import run

SECRET = "bot123:secret-token"


@asynccontextmanager
async def api(routes: dict[str, web.Response]) -> AsyncIterator[tuple[str, list[str]]]:
    """A loopback API answering each path with its response; yields (url, paths called)."""
    called: list[str] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        called.append(request.path)
        await request.read()
        if request.path not in routes:
            return web.json_response({"error": "no route"}, status=404)
        return routes[request.path]

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", called
    finally:
        await runner.cleanup()


def test_an_answer_of_any_status_is_returned_with_its_json() -> None:
    async def scenario() -> tuple[Answer, Answer]:
        routes = {
            "/ok": web.json_response({"ok": True}),
            "/refused": web.json_response({"code": 7}, status=400, headers={"Retry-After": "3"}),
        }
        async with api(routes) as (url, _):
            ok = await post_json(f"{url}/ok", {"a": 1}, what="test ok")
            refused = await request_json("GET", f"{url}/refused", what="test refused")
            return ok, refused

    ok, refused = run(scenario())
    assert ok.ok and ok.status == 200 and ok.data == {"ok": True}
    assert not refused.ok and refused.data == {"code": 7}
    assert refused.headers["retry-after"] == "3"  # case-insensitive


def test_a_redirect_is_not_followed() -> None:
    async def scenario() -> tuple[Answer, list[str]]:
        redirect = web.Response(status=302, headers={"Location": "/elsewhere"})
        routes = {"/send": redirect, "/elsewhere": web.json_response({"ok": True})}
        async with api(routes) as (url, called):
            answer = await post_json(f"{url}/send", {"text": "hi"}, what="test send")
            return answer, called

    answer, called = run(scenario())
    assert answer.status == 302 and not answer.ok
    assert called == ["/send"]


def test_an_oversized_answer_is_a_retryable_error() -> None:
    async def scenario() -> PlatformError:
        huge = web.Response(body=b"[" + b"0," * (MAX_ANSWER_BYTES // 2) + b"0]")
        async with api({"/huge": huge}) as (url, _):
            with pytest.raises(PlatformError) as caught:
                await post_json(f"{url}/huge", {}, what="test huge")
            return caught.value

    error = run(scenario())
    assert error.retryable and "test huge" in str(error)


def test_a_network_error_is_retryable_and_never_names_the_url() -> None:
    async def scenario() -> PlatformError:
        with pytest.raises(PlatformError) as caught:
            await post_json(f"http://127.0.0.1:9/bot{SECRET}/send", {}, what="test send")
        return caught.value

    error = run(scenario())
    assert error.retryable and SECRET not in str(error) and "127.0.0.1" not in str(error)


@pytest.mark.parametrize(
    ("status", "headers", "own", "after", "retryable", "retry_after"),
    [
        (503, {}, False, None, True, None),
        (429, {"Retry-After": "7"}, False, None, True, 7.0),
        (429, {"Retry-After": "7"}, False, 2.0, True, 2.0),
        (400, {}, False, None, False, None),
        (400, {"Retry-After": "soon"}, True, None, True, None),
    ],
)
def test_failures_are_classified(
    status: int,
    headers: dict[str, str],
    own: bool,
    after: float | None,
    retryable: bool,
    retry_after: float | None,
) -> None:
    error = failure(
        "test call", Answer(status, None, headers), "code 9", retryable=own, after=after
    )
    assert error.retryable is retryable and error.retry_after == retry_after
    assert str(error) == f"test call failed: HTTP {status} code 9"


def test_the_token_cache_fetches_once_for_concurrent_callers_and_renews_before_expiry() -> None:
    now = {"t": 0.0}
    fetched: list[int] = []

    async def fetch() -> tuple[str, float]:
        fetched.append(1)
        await asyncio.sleep(0.01)
        return f"tok{len(fetched)}", 7200.0

    async def scenario() -> list[str]:
        cache = AccessTokenCache(fetch, clock=lambda: now["t"])
        first = await asyncio.gather(*(cache.get() for _ in range(5)))
        now["t"] = 7200.0 - TOKEN_MARGIN_S - 1
        kept = await cache.get()
        now["t"] = 7200.0 - TOKEN_MARGIN_S
        renewed = await cache.get()
        return [*first, kept, renewed]

    assert run(scenario()) == ["tok1"] * 6 + ["tok2"]


def test_a_short_lifetime_is_kept_at_least_the_minimum() -> None:
    now = {"t": 0.0}

    async def fetch() -> tuple[str, float]:
        return "tok", 10.0

    async def scenario() -> tuple[int, int]:
        cache = AccessTokenCache(fetch, clock=lambda: now["t"], min_lifetime_s=60)
        await cache.get()
        now["t"] = 59.0
        await cache.get()
        kept = cache.fetches
        now["t"] = 60.0
        await cache.get()
        return kept, cache.fetches

    assert run(scenario()) == (1, 2)


def test_call_renews_an_invalid_token_once() -> None:
    tokens = iter(["old", "new", "newer"])
    used: list[str] = []

    async def fetch() -> tuple[str, float]:
        return next(tokens), 7200.0

    async def always_invalid(token: str) -> Any:
        used.append(token)
        raise InvalidTokenError("invalid token", retryable=False)

    async def scenario() -> PlatformError:
        cache = AccessTokenCache(fetch)
        with pytest.raises(InvalidTokenError) as caught:
            await cache.call(always_invalid)
        return caught.value

    assert not run(scenario()).retryable
    assert used == ["old", "new"]


def test_invalidate_keeps_a_token_renewed_meanwhile() -> None:
    tokens = iter(["old", "new"])

    async def fetch() -> tuple[str, float]:
        return next(tokens), 7200.0

    async def scenario() -> list[str]:
        cache = AccessTokenCache(fetch)
        old = await cache.get()
        cache.invalidate(old)
        new = await cache.get()
        cache.invalidate(old)  # a late failure of a send that used the old token
        return [old, new, await cache.get()]

    assert run(scenario()) == ["old", "new", "new"]
