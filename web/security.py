"""Security headers on every response, the console's per-address rate limit, client address.

:class:`SecurityHeaders` (outermost ASGI middleware) gives every response of the web app
(console, demo pages, widget asset, static files, errors) a Content-Security-Policy,
``X-Frame-Options: DENY``, ``X-Content-Type-Options: nosniff`` and
``Referrer-Policy: same-origin``. The default policy allows scripts, styles and everything
else from the app's own origin only; inline ``<script>``/``<style>`` run only with the
request's nonce (``request.state.csp_nonce``). A route may send its own policy (the demo
shop must reach the Rasa server and be framed by the demo page): headers a response already
has are kept.

:class:`ConsoleRateLimit` allows ``CONSOLE_RATE_PER_MINUTE`` (default 300) requests per
client address (IPv6: per /64 network, :func:`rate_key`) and minute under ``/console``, then
answers 429 with ``Retry-After``. It counts in memory, in a capped LRU table (one web process
serves one store); loopback addresses are exempt unless
``CHAT_RATE_EXEMPT_LOOPBACK`` is off, like the chat doors. The login has its own throttle in
the store (:mod:`web.console.throttle`).

:func:`client_address` is the peer's address, or the ``X-Forwarded-For`` client when the
peer is one of ``CHAT_TRUSTED_PROXIES`` (the same reverse proxies the chat doors trust).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)

NONCE_KEY = "csp_nonce"
CSP_HEADER = "Content-Security-Policy"
FRAME_OPTIONS_HEADER = "X-Frame-Options"
RATE_WINDOW_S = 60
MAX_TRACKED_ADDRESSES = 10_000
IPV6_PREFIX = 64
RATE_LIMITED_TEXT = (
    "请求太频繁，请 {seconds} 秒后再试。 / Too many requests; try again in {seconds} s."
)
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def default_csp(nonce: str) -> str:
    """The strict policy of every page that does not bring its own."""
    return (
        "default-src 'self'; "
        f"script-src 'self' 'nonce-{nonce}'; "
        f"style-src 'self' 'nonce-{nonce}'; "
        "img-src 'self' data:; "
        "connect-src 'self'; "
        "object-src 'none'; "
        "base-uri 'none'; "
        "form-action 'self'; "
        "frame-ancestors 'none'"
    )


def base_headers(nonce: str) -> dict[str, str]:
    """The security headers every response gets unless it set them itself."""
    return {
        CSP_HEADER: default_csp(nonce),
        FRAME_OPTIONS_HEADER: "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }


class SecurityHeaders:
    """ASGI middleware: a fresh CSP nonce per request and the security headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Adds the security headers to every HTTP response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(16)
        scope.setdefault("state", {})[NONCE_KEY] = nonce
        defaults = base_headers(nonce)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in defaults.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def parse_networks(value: str | None) -> tuple[IpNetwork, ...]:
    """Parses a comma list of addresses and CIDRs (bad entries are logged and skipped)."""
    networks: list[IpNetwork] = []
    for item in (value or "").split(","):
        item = item.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            logger.warning("Ignoring %r in the trusted proxies: not an address", item[:60])
    return tuple(networks)


def _in(address: str, networks: Iterable[IpNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def is_loopback(address: str) -> bool:
    """Whether ``address`` is a loopback address (127.0.0.0/8, ::1)."""
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def client_address(
    peer: str | None, headers: Mapping[str, str], trusted: tuple[IpNetwork, ...]
) -> str:
    """The client's address: the peer, or the forwarded client behind trusted proxies.

    Args:
        peer: The socket peer's address.
        headers: The request headers (``X-Forwarded-For`` is read only behind a trusted peer).
        trusted: ``CHAT_TRUSTED_PROXIES``.

    Returns:
        The rightmost ``X-Forwarded-For`` entry that is not a trusted proxy when the peer is
        trusted, else the peer (``"?"`` when unknown).
    """
    address = peer or "?"
    if not trusted or not _in(address, trusted):
        return address
    forwarded = [part.strip() for part in headers.get("x-forwarded-for", "").split(",")]
    for hop in reversed([part for part in forwarded if part]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return address  # a malformed chain: believe nothing in it
        if not _in(hop, trusted):
            return hop
        address = hop
    return address


def rate_key(address: str) -> str:
    """The key an address is counted under: IPv6 by its /64 network, IPv4 as it is.

    One IPv6 subscriber usually holds a whole /64 (often more), so counting single IPv6
    addresses would let one client rotate through unlimited fresh addresses. An IPv4-mapped
    IPv6 address counts as its IPv4 address.

    Args:
        address: A client address (anything else is returned as it is).

    Returns:
        ``"2001:db8:1:2::/64"`` for any address of that network, else the address.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_PREFIX), strict=False))
    return str(ip)


class FixedWindowCounter:
    """Requests per key in the current one-minute window (in memory, thread-safe).

    The table is a least-recently-used map capped at ``max_keys`` entries: every request
    costs O(1) (a lookup, a move to the end and at most one eviction of the key not seen for
    longest), however many clients are active.
    """

    def __init__(self, max_keys: int = MAX_TRACKED_ADDRESSES) -> None:
        self._windows: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._max_keys = max(1, max_keys)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._windows)

    def hit(self, key: str, limit: int, now: float | None = None) -> tuple[int, bool]:
        """Counts one request.

        Args:
            key: The client's rate key (:func:`rate_key`).
            limit: Requests allowed per window.
            now: A monotonic time (defaults to the clock).

        Returns:
            ``(0, False)`` when allowed, else the seconds until the window ends and whether
            this is the window's first refusal (worth one log line; later ones are not).
        """
        moment = time.monotonic() if now is None else now
        with self._lock:
            start, count = self._windows.get(key, (moment, 0))
            if moment - start >= RATE_WINDOW_S:
                start, count = moment, 0
            self._windows[key] = (start, count + 1)
            self._windows.move_to_end(key)
            if len(self._windows) > self._max_keys:
                self._windows.popitem(last=False)
            if count >= limit:
                return max(1, math.ceil(start + RATE_WINDOW_S - moment)), count == limit
            return 0, False


def too_many_requests(
    retry_after: int, *, api: bool
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, headers and body of a bilingual 429 answer."""
    text = RATE_LIMITED_TEXT.format(seconds=retry_after)
    if api:
        body = json.dumps({"error": "rate_limited", "message": text}, ensure_ascii=False)
        media = "application/json"
    else:
        body, media = text, "text/plain; charset=utf-8"
    payload = body.encode("utf-8")
    headers = [
        (b"content-type", media.encode()),
        (b"content-length", str(len(payload)).encode()),
        (b"retry-after", str(retry_after).encode()),
    ]
    return 429, headers, payload


class ConsoleRateLimit:
    """ASGI middleware: at most ``per_minute()`` requests per client address under ``prefix``.

    Args:
        app: The wrapped app.
        prefix: The path prefix that is limited (``/console``).
        settings: A callable returning ``(per_minute, trusted proxies, exempt loopback)``;
            called per request (it is cached by the caller).
    """

    def __init__(self, app: ASGIApp, prefix: str, settings: Any) -> None:
        self.app = app
        self.prefix = prefix
        self.settings = settings
        self.counter = FixedWindowCounter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answers 429 when a client exceeds its requests per minute under the prefix."""
        path = scope.get("path", "")
        if scope["type"] != "http" or not (
            path == self.prefix or path.startswith(self.prefix + "/")
        ):
            await self.app(scope, receive, send)
            return
        per_minute, trusted, exempt_loopback = self.settings()
        peer = scope["client"][0] if scope.get("client") else None
        address = client_address(peer, Headers(scope=scope), trusted)
        if not (exempt_loopback and is_loopback(address)):
            retry_after, first = self.counter.hit(rate_key(address), per_minute)
            if retry_after:
                if first:
                    logger.warning("Console rate limit reached by %s", address)
                status, headers, body = too_many_requests(
                    retry_after, api=path.startswith(self.prefix + "/api/")
                )
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
