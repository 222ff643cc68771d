"""Input limits of the doors (the REST and widget channels): sizes, rates, client addresses.

Every limit is a setting read from the environment (defaults in brackets):

* ``CHAT_MAX_MESSAGE_CHARS`` (2000): longest message text, after cleaning;
* ``CHAT_MAX_METADATA_BYTES`` (4096): largest metadata, as UTF-8 JSON;
* ``CHAT_MAX_BODY_BYTES`` (16384): largest REST request body;
* ``CHAT_SENDER_IN_FLIGHT`` (3): messages of one sender being processed or waiting;
* ``CHAT_SENDER_PER_MINUTE`` (120) and ``CHAT_IP_PER_MINUTE`` (600): sliding-window rates
  (an IPv6 client is counted per /64, the network one customer line usually gets);
* ``CHAT_TRUSTED_PROXIES`` (empty): comma list of IPs/CIDRs whose ``X-Forwarded-For`` is
  believed; ``CHAT_RATE_EXEMPT_LOOPBACK`` (true): loopback clients skip the per-IP limit;
* ``SITE_ORIGINS``: the web origins whose browsers may use the widget channel.

Text and metadata hygiene is in :mod:`bot.channels.hygiene`. The rate counters live in the
memory of one Rasa process and are bounded: each key costs a few numbers (a two-bucket
sliding window, not a list of timestamps), idle keys are evicted and the table never holds
more than :data:`MAX_TRACKED_KEYS` keys, so a flood of distinct sender ids cannot grow memory
without bound. Standard library only (the Rasa environment).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.channels.log_throttle import LogThrottle

logger = logging.getLogger(__name__)

ENV_MAX_MESSAGE_CHARS = "CHAT_MAX_MESSAGE_CHARS"
ENV_MAX_METADATA_BYTES = "CHAT_MAX_METADATA_BYTES"
ENV_MAX_BODY_BYTES = "CHAT_MAX_BODY_BYTES"
ENV_SENDER_IN_FLIGHT = "CHAT_SENDER_IN_FLIGHT"
ENV_SENDER_PER_MINUTE = "CHAT_SENDER_PER_MINUTE"
ENV_IP_PER_MINUTE = "CHAT_IP_PER_MINUTE"
ENV_TRUSTED_PROXIES = "CHAT_TRUSTED_PROXIES"
ENV_EXEMPT_LOOPBACK = "CHAT_RATE_EXEMPT_LOOPBACK"
ENV_SITE_ORIGINS = "SITE_ORIGINS"
DEFAULT_SITE_ORIGINS = "http://localhost:8000,http://127.0.0.1:8000"
WINDOW_SECONDS = 60.0
#: IPv6 clients are rate-limited per network of this prefix length (a customer's line).
IPV6_PREFIX = 64
#: Most keys (senders or addresses) one rate table remembers.
MAX_TRACKED_KEYS = 50_000

ERROR_TOO_LONG = "too_long"
ERROR_TOO_LARGE = "too_large"
ERROR_BAD_ENCODING = "bad_encoding"
ERROR_BAD_JSON = "bad_json"
ERROR_BAD_METADATA = "bad_metadata"
ERROR_BAD_SENDER = "bad_sender"
ERROR_RESERVED_SENDER = "reserved_sender"
ERROR_EMPTY = "empty"
ERROR_BAD_MESSAGE = "bad_message"
ERROR_RATE_LIMITED = "rate_limited"

MESSAGE_TOO_FAST = "消息发得太快了，请稍等几秒再试。 / You're sending messages too fast; please wait a few seconds."
MESSAGE_TOO_LARGE = "消息附带的数据太多了。 / The message carries too much data."
MESSAGE_BAD_ENCODING = "消息的编码无效（需要 UTF-8）。 / The message is not valid UTF-8."
MESSAGE_BAD_JSON = "请求格式无效（需要 JSON 对象）。 / The request is not a valid JSON object."
MESSAGE_BAD_METADATA = "附加数据格式无效。 / The metadata is not a valid JSON object."
MESSAGE_BAD_SENDER = "会话标识无效。 / The sender id is invalid."
MESSAGE_RESERVED_SENDER = (
    "这种会话标识留给网站聊天窗口和即时通讯渠道使用，请换一个。 / "
    "Sender ids of this form belong to the website chat widget or a messaging app; "
    "please use another."
)
MESSAGE_EMPTY = "消息是空的。 / The message is empty."
MESSAGE_BAD_MESSAGE = "消息必须是文字。 / The message must be text."


def too_long_message(limit: int) -> str:
    """The polite refusal of an over-long message (zh / en)."""
    return (
        f"消息太长了（最多 {limit} 字），请分几条发送。 / "
        f"That message is too long ({limit:,} characters at most); please split it."
    )


@dataclass(frozen=True)
class Refusal:
    """Why a door refuses a message, and how it says so.

    Attributes:
        status: The HTTP status (400, 413, 429).
        error: A short machine-readable code (``too_long``, ``rate_limited``, ...).
        message: The bilingual text for the customer (``"<zh> / <en>"``).
        retry_after: Seconds to wait before trying again (rate limits only).
        limit: The limit that was exceeded, when there is one.
    """

    status: int
    error: str
    message: str
    retry_after: int | None = None
    limit: int | None = None

    def body(self) -> dict[str, Any]:
        """The JSON body of the refusal: ``{"error", "message"}`` plus limit / retry_after."""
        body: dict[str, Any] = {"error": self.error, "message": self.message}
        if self.limit is not None:
            body["limit"] = self.limit
        if self.retry_after is not None:
            body["retry_after"] = self.retry_after
        return body


def _env_int(environ: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        logger.warning("%s=%r is not a whole number; using %d", name, raw, default)
        return default
    if value < minimum:
        logger.warning("%s=%d is below %d; using %d", name, value, minimum, default)
        return default
    return value


def _env_flag(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name, "").strip().lower()
    if not raw:
        return default
    return raw in {"1", "true", "yes", "on"}


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(value: str) -> tuple[Network, ...]:
    """Parses a comma list of IPs and CIDRs; bad entries are logged and skipped."""
    networks: list[Network] = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            logger.warning(
                "%s: %r is not an IP address or network; ignored", ENV_TRUSTED_PROXIES, item
            )
    return tuple(networks)


def parse_origins(value: str) -> tuple[str, ...]:
    """Parses ``SITE_ORIGINS``: a comma list of ``scheme://host[:port]`` (no ``*``)."""
    origins = []
    for item in (part.strip().rstrip("/") for part in value.split(",")):
        if not item:
            continue
        if item == "*" or not re.match(r"^https?://[^/\s*]+$", item):
            logger.warning(
                "%s: %r is not an origin (scheme://host[:port]); ignored", ENV_SITE_ORIGINS, item
            )
            continue
        origins.append(item.lower())
    return tuple(origins)


@dataclass(frozen=True)
class DoorLimits:
    """The limits of the doors (see the module docstring for their settings)."""

    max_message_chars: int = 2000
    max_metadata_bytes: int = 4096
    max_body_bytes: int = 16384
    sender_in_flight: int = 3
    sender_per_minute: int = 120
    ip_per_minute: int = 600
    trusted_proxies: tuple[Network, ...] = ()
    exempt_loopback: bool = True
    site_origins: tuple[str, ...] = field(
        default_factory=lambda: parse_origins(DEFAULT_SITE_ORIGINS)
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DoorLimits:
        """Reads the limits from the environment (bad values fall back to the defaults)."""
        env = os.environ if environ is None else environ
        d = cls()
        return cls(
            max_message_chars=_env_int(env, ENV_MAX_MESSAGE_CHARS, d.max_message_chars),
            max_metadata_bytes=_env_int(env, ENV_MAX_METADATA_BYTES, d.max_metadata_bytes),
            max_body_bytes=_env_int(env, ENV_MAX_BODY_BYTES, d.max_body_bytes),
            sender_in_flight=_env_int(env, ENV_SENDER_IN_FLIGHT, d.sender_in_flight),
            sender_per_minute=_env_int(env, ENV_SENDER_PER_MINUTE, d.sender_per_minute),
            ip_per_minute=_env_int(env, ENV_IP_PER_MINUTE, d.ip_per_minute),
            trusted_proxies=parse_networks(env.get(ENV_TRUSTED_PROXIES, "")),
            exempt_loopback=_env_flag(env, ENV_EXEMPT_LOOPBACK, d.exempt_loopback),
            site_origins=parse_origins(env.get(ENV_SITE_ORIGINS, DEFAULT_SITE_ORIGINS)),
        )

    def origin_allowed(self, origin: str) -> bool:
        """Whether a browser ``Origin`` is one of ``SITE_ORIGINS``."""
        return origin.strip().rstrip("/").lower() in self.site_origins


# -- client addresses -----------------------------------------------------------------------
def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return None


def client_address(peer: str, forwarded_for: str | None, trusted: tuple[Network, ...]) -> str:
    """The client's address: the socket peer, or from ``X-Forwarded-For`` via trusted proxies.

    ``X-Forwarded-For`` is read only when the peer is a trusted proxy, right to left, skipping
    trusted proxies; the first other address is the client (a client cannot choose it by
    sending its own header, which would sit to the left).

    Args:
        peer: The address of the TCP peer.
        forwarded_for: The ``X-Forwarded-For`` header, if any.
        trusted: The networks of trusted proxies (``CHAT_TRUSTED_PROXIES``).

    Returns:
        An IP address as text (the peer's text if it does not parse).
    """
    address = _ip(peer or "")
    if address is None:
        return peer or "unknown"
    if not forwarded_for or not trusted:
        return str(address)
    current = address
    hops = [hop for hop in forwarded_for.split(",") if hop.strip()]
    while any(current in network for network in trusted) and hops:
        previous = _ip(hops.pop())
        if previous is None:
            break
        current = previous
    return str(current)


def rate_key(address: str) -> str:
    """The key an address is counted under: an IPv4 address, or an IPv6 address's /64.

    One IPv6 customer line usually gets a whole /64 and can pick any of its addresses, so a
    per-/128 limit would not limit it at all. IPv4-mapped IPv6 addresses count as IPv4.

    Args:
        address: A client address (:func:`client_address`).

    Returns:
        ``"203.0.113.9"``, ``"2001:db8:1:2::/64"``, or the text itself if it does not parse.
    """
    parsed = _ip(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, IPV6_PREFIX), strict=False))
    return str(parsed) if parsed is not None else address


def is_loopback(address: str) -> bool:
    """Whether ``address`` is a loopback address (127.0.0.0/8, ::1)."""
    parsed = _ip(address)
    return parsed is not None and parsed.is_loopback


# -- rates ------------------------------------------------------------------------------------
class _Window:
    __slots__ = ("start", "previous", "current", "seen")

    def __init__(self, start: float) -> None:
        self.start = start
        self.previous = 0
        self.current = 0
        self.seen = start


class RateWindow:
    """Per-key sliding-window rate limit over ``window`` seconds, bounded in memory.

    Each key keeps two fixed buckets; the rate is the current bucket plus the previous one
    weighted by how much of it still lies in the sliding window. Memory per key is constant;
    keys idle for two windows are evicted, and beyond ``max_keys`` the least recently used
    key is evicted.
    """

    def __init__(
        self,
        limit: int,
        window: float = WINDOW_SECONDS,
        *,
        max_keys: int = MAX_TRACKED_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Creates an empty table.

        Args:
            limit: Most hits per key in any window.
            window: The window in seconds.
            max_keys: Most keys remembered.
            clock: A monotonic clock in seconds.
        """
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._clock = clock
        self._keys: OrderedDict[str, _Window] = OrderedDict()

    def __len__(self) -> int:
        """How many keys are remembered."""
        return len(self._keys)

    def _evict(self, now: float) -> None:
        while self._keys:
            key, oldest = next(iter(self._keys.items()))
            if len(self._keys) <= self.max_keys and now - oldest.seen < 2 * self.window:
                break
            del self._keys[key]

    def hit(self, key: str) -> int:
        """Counts a hit for ``key`` if it is within the limit.

        Args:
            key: A sender id or a client address.

        Returns:
            0 if the hit was allowed (and counted), else the seconds to wait (at least 1).
        """
        now = self._clock()
        entry = self._keys.get(key)
        if entry is None:
            entry = self._keys[key] = _Window(now)
        else:
            self._keys.move_to_end(key)
        elapsed = int((now - entry.start) // self.window)
        if elapsed >= 1:
            entry.previous = entry.current if elapsed == 1 else 0
            entry.current = 0
            entry.start += elapsed * self.window
        entry.seen = now
        self._evict(now)
        weight = 1.0 - (now - entry.start) / self.window
        if entry.previous * weight + entry.current + 1 <= self.limit:
            entry.current += 1
            return 0
        return self._retry_after(entry, now)

    def _retry_after(self, entry: _Window, now: float) -> int:
        if entry.current + 1 <= self.limit and entry.previous > 0:
            room = (self.limit - entry.current - 1) / entry.previous
            at = entry.start + self.window * (1.0 - room)
        else:
            room = (self.limit - 1) / max(entry.current, 1)
            at = entry.start + self.window + self.window * max(0.0, 1.0 - room)
        return max(1, math.ceil(at - now))


class InFlight:
    """How many messages of each sender are being processed or wait their turn (bounded)."""

    def __init__(self, limit: int, *, max_keys: int = MAX_TRACKED_KEYS) -> None:
        """Creates an empty table.

        Args:
            limit: Most messages in flight per sender.
            max_keys: Most senders with messages in flight at once (beyond: refused).
        """
        self.limit = limit
        self.max_keys = max_keys
        self._counts: dict[str, int] = {}

    def __len__(self) -> int:
        """How many senders have messages in flight."""
        return len(self._counts)

    def acquire(self, key: str) -> bool:
        """Takes a slot for ``key``; False if it has ``limit`` in flight or the table is full."""
        count = self._counts.get(key, 0)
        if count >= self.limit or (count == 0 and len(self._counts) >= self.max_keys):
            return False
        self._counts[key] = count + 1
        return True

    def release(self, key: str) -> None:
        """Gives a slot of ``key`` back."""
        count = self._counts.get(key, 0) - 1
        if count > 0:
            self._counts[key] = count
        else:
            self._counts.pop(key, None)


class DoorGuard:
    """The rate limits of one door: per sender (rate and in flight) and per client address.

    Refusals are logged at most once a minute per client address or sender
    (:class:`~bot.channels.log_throttle.LogThrottle`).
    """

    def __init__(self, limits: DoorLimits, *, clock: Callable[[], float] = time.monotonic) -> None:
        """Creates the counters of a door.

        Args:
            limits: The door limits.
            clock: A monotonic clock in seconds (tests pass a fake one).
        """
        self.limits = limits
        self.senders = RateWindow(limits.sender_per_minute, clock=clock)
        self.addresses = RateWindow(limits.ip_per_minute, clock=clock)
        self.in_flight = InFlight(limits.sender_in_flight)
        self.log = LogThrottle(logger, clock=clock)

    def check_address(self, address: str) -> Refusal | None:
        """Counts one request of a client address; a refusal if it is over its rate.

        IPv6 clients are counted per /64 (:func:`rate_key`).
        """
        if self.limits.exempt_loopback and is_loopback(address):
            return None
        key = rate_key(address)
        wait = self.addresses.hit(key)
        if wait:
            self.log.warning(
                f"address {key}", "Rate limit: client %s is over %d/min", key, self.addresses.limit
            )
            return Refusal(429, ERROR_RATE_LIMITED, MESSAGE_TOO_FAST, retry_after=wait)
        return None

    def admit(self, sender: str, address: str) -> Refusal | None:
        """Counts a message of a client address and admits it for its sender.

        Args:
            sender: The sender (conversation) id.
            address: The client's address.

        Returns:
            None (admitted: call :meth:`done` once it is answered), or a 429 refusal.
        """
        return self.check_address(address) or self.admit_sender(sender)

    def admit_sender(self, sender: str) -> Refusal | None:
        """Counts a message of ``sender`` and takes one of its in-flight slots.

        Args:
            sender: The sender (conversation) id.

        Returns:
            None (admitted: call :meth:`done` once it is answered), or a 429 refusal with
            the seconds to wait.
        """
        wait = self.senders.hit(sender)
        if wait:
            self.log.warning(
                f"sender {sender}",
                "Rate limit: sender %s is over %d/min",
                sender,
                self.senders.limit,
            )
            return Refusal(429, ERROR_RATE_LIMITED, MESSAGE_TOO_FAST, retry_after=wait)
        if not self.in_flight.acquire(sender):
            self.log.warning(
                f"sender {sender}", "Rate limit: sender %s has too many messages in flight", sender
            )
            return Refusal(429, ERROR_RATE_LIMITED, MESSAGE_TOO_FAST, retry_after=1)
        return None

    def done(self, sender: str) -> None:
        """Releases the in-flight slot an admitted message of ``sender`` took."""
        self.in_flight.release(sender)
