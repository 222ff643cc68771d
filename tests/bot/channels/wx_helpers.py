"""Helpers of the WeCom/WeChat channel unit tests (Rasa environment).

Real Sanic requests (no server) for the channel's handshake/verify/parse/acknowledge, and a
fake WeCom/WeChat API on loopback (``aiohttp.web``) that speaks the documented ``errcode``
protocol, for ``send`` and the access-token cache.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from sanic.compat import Header
from sanic.request import Request

Handler = Callable[[web.Request], dict[str, Any]]


def sanic_request(
    method: str, params: dict[str, str] | None = None, body: bytes | str = b""
) -> Request:
    """A real Sanic request for the channel's webhook, with a query and a body."""
    query = urlencode(params or {})
    url = f"/webhooks/wx/webhook?{query}".encode()
    request = Request(url, Header({}), "1.1", method, None, None)
    request.body = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    return request


async def serve_loopback(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> tuple[web.AppRunner, str]:
    """Serves ``handler`` for every method and path on a free loopback port.

    Returns:
        The runner (``await runner.cleanup()`` stops it) and the server's base URL.
    """
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


@dataclass
class FakeAPI:
    """A loopback HTTP API: routes by path, recorded requests (path, query, JSON body)."""

    routes: dict[str, Handler]
    calls: list[tuple[str, dict[str, str], Any]] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def __aenter__(self) -> FakeAPI:
        self._runner, self.url = await serve_loopback(self._handle)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = json.loads(raw) if raw else None
        self.calls.append((request.path, dict(request.query), body))
        handler = self.routes.get(request.path)
        if handler is None:
            return web.json_response({"errcode": 404}, status=404)
        answer = handler(request)
        status = int(answer.pop("_status", 200))
        return web.json_response(answer, status=status)

    def paths(self) -> list[str]:
        """The paths called, in order."""
        return [path for path, _, _ in self.calls]


def run(coroutine: Any) -> Any:
    """Runs a coroutine in a fresh event loop (no pytest-asyncio in the Rasa env)."""
    return asyncio.run(coroutine)
