"""Customer identity at the doors: verify the host website's claim once, keep only the verdict.

The Rasa environment cannot import ``analytics``; this module is the standard-library twin of
``analytics/core/identity.py`` (same constants, same token format, same answers on the shared test
vectors in ``tests/fixtures/identity_vectors.json``).

A host website sends with a signed-in customer's messages::

    {"customer_id": "cus_0001", "expires_at": 1767312000,
     "customer_token": hex(HMAC-SHA256(IDENTITY_SECRET, "v1|cus_0001|1767312000"))}

:func:`sanitize_metadata` removes every identity key from the client's metadata (claims and
any forged verdict) and, when the claim verifies with one of the secrets, sets
``verified_customer_id``. Nothing downstream ever sees the token. Verification never raises.

Link codes (:func:`verify_link_code`) are the messaging channels' way in: a customer sends the
code their shop showed them (``/start <code>``) and the channel binds that platform user to the
customer (``bot/channels/messaging/bindings.py``). Same format as ``analytics/core/identity.py``
``sign_link_code``, held to ``tests/fixtures/link_vectors.json``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

logger = logging.getLogger(__name__)

TOKEN_VERSION = "v1"
KEY_CUSTOMER_ID = "customer_id"
KEY_EXPIRES_AT = "expires_at"
KEY_TOKEN = "customer_token"
KEY_LEGACY_HASH = "customer_hash"
#: The key a door puts in a message's metadata once it has verified the claim.
VERIFIED_KEY = "verified_customer_id"
#: Every key a door removes from client metadata (claims, and any forged verdict).
IDENTITY_KEYS = frozenset(
    {KEY_CUSTOMER_ID, KEY_EXPIRES_AT, KEY_TOKEN, KEY_LEGACY_HASH, VERIFIED_KEY}
)
MAX_ID_LENGTH = 128
DEFAULT_TTL_SECONDS = 24 * 3600
MAX_TTL_SECONDS = 31 * 24 * 3600
_DIGEST_HEX_LENGTH = 64

ENV_SECRET = "IDENTITY_SECRET"
ENV_DEMO_SECRET = "DEMO_IDENTITY_SECRET"
ENV_ACCEPT_LEGACY = "IDENTITY_ACCEPT_LEGACY_HASH"
_TRUE = frozenset({"1", "true", "yes", "on"})


def _mac(secret: str, message: str) -> str:
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def sign_token(customer_id: str, expires_at: int, secret: str) -> str:
    """The token a host website sends for a customer until ``expires_at``.

    Args:
        customer_id: The customer's external id.
        expires_at: Unix time (seconds) after which the token is refused.
        secret: The shared ``IDENTITY_SECRET``.

    Returns:
        The lowercase hex HMAC-SHA256 of ``v1|customer_id|expires_at``.
    """
    return _mac(secret, f"{TOKEN_VERSION}|{customer_id}|{int(expires_at)}")


def legacy_hash(customer_id: str, secret: str) -> str:
    """The old identity hash (no expiry): hex HMAC-SHA256(secret, customer_id).

    Args:
        customer_id: The customer's external id.
        secret: The shared ``IDENTITY_SECRET``.

    Returns:
        The lowercase hex digest.
    """
    return _mac(secret, customer_id)


def _same_digest(expected: str, given: Any) -> bool:
    """Constant-time comparison over bytes; a malformed ``given`` is simply unequal."""
    if not isinstance(given, str) or len(given) > 2 * _DIGEST_HEX_LENGTH:
        return False
    try:
        given_bytes = given.strip().lower().encode("ascii")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(expected.encode("ascii"), given_bytes)


def verify_claim(
    metadata: Any,
    secret: str | None,
    *,
    now: float | None = None,
    accept_legacy: bool = False,
) -> str | None:
    """The customer id a message's metadata proves, or ``None``. Never raises.

    Args:
        metadata: The client's message metadata (anything at all).
        secret: ``IDENTITY_SECRET``; without one nobody is verified.
        now: The current Unix time (defaults to the clock).
        accept_legacy: Also accept the old ``customer_hash`` form (no expiry).

    Returns:
        The verified customer id, or ``None`` for an anonymous, forged, expired or
        malformed claim.
    """
    if not secret or not isinstance(metadata, Mapping):
        return None
    customer_id = metadata.get(KEY_CUSTOMER_ID)
    if not isinstance(customer_id, str) or not 0 < len(customer_id) <= MAX_ID_LENGTH:
        return None
    token = metadata.get(KEY_TOKEN)
    if token is not None:
        expires_at = metadata.get(KEY_EXPIRES_AT)
        if isinstance(expires_at, bool) or not isinstance(expires_at, int):
            return None
        current = time.time() if now is None else now
        if expires_at <= current or expires_at > current + MAX_TTL_SECONDS:
            return None
        try:
            expected = sign_token(customer_id, expires_at, secret)
        except UnicodeEncodeError:  # a lone surrogate in the id: nobody signed that
            return None
        if _same_digest(expected, token):
            return customer_id
        return None
    if accept_legacy:
        try:
            expected = legacy_hash(customer_id, secret)
        except UnicodeEncodeError:
            return None
        if _same_digest(expected, metadata.get(KEY_LEGACY_HASH)):
            return customer_id
    return None


def secrets_from_env(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The secrets a door verifies with: ``IDENTITY_SECRET``, then ``DEMO_IDENTITY_SECRET``.

    Args:
        environ: The environment (defaults to ``os.environ``).

    Returns:
        The non-empty secrets, in that order (empty: nobody can be verified).
    """
    env = os.environ if environ is None else environ
    names = (ENV_SECRET, ENV_DEMO_SECRET)
    return tuple(value for value in (env.get(name, "") for name in names) if value)


def accept_legacy_from_env(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``IDENTITY_ACCEPT_LEGACY_HASH`` is on (default off)."""
    env = os.environ if environ is None else environ
    return env.get(ENV_ACCEPT_LEGACY, "").strip().lower() in _TRUE


def sanitize_metadata(
    raw: Any,
    *,
    secrets: Iterable[str],
    accept_legacy: bool,
    now: float | None = None,
) -> dict[str, Any]:
    """The client's metadata without identity keys, plus the door's verdict if the claim holds.

    Args:
        raw: The client's message metadata (anything; a non-mapping counts as empty).
        secrets: The secrets to try (``IDENTITY_SECRET``, ``DEMO_IDENTITY_SECRET``).
        accept_legacy: Also accept the old ``customer_hash`` form.
        now: The current Unix time (defaults to the clock).

    Returns:
        A new dict: every key of ``raw`` except :data:`IDENTITY_KEYS`, and
        ``verified_customer_id`` when the claim verifies with any of the secrets.
    """
    if not isinstance(raw, Mapping):
        return {}
    clean = {key: value for key, value in raw.items() if key not in IDENTITY_KEYS}
    claimed = any(key in raw for key in (KEY_TOKEN, KEY_LEGACY_HASH))
    for secret in secrets:
        customer_id = verify_claim(raw, secret, now=now, accept_legacy=accept_legacy)
        if customer_id is not None:
            clean[VERIFIED_KEY] = customer_id
            return clean
    if claimed:
        logger.warning("Rejected an invalid, expired or forged identity claim")
    return clean


LINK_VERSION = "v1"
#: Longest link code (Telegram's ``/start`` parameter holds 64 characters).
LINK_CODE_MAX_CHARS = 64
#: Characters of the MAC part at the end of a link code (12 bytes, base64).
LINK_MAC_CHARS = 16
_LINK_MAC_BYTES = 12
_LINK_CODE_RE = re.compile(r"[A-Za-z0-9_-]{17,64}")
_EXPIRY_RE = re.compile(r"[1-9][0-9]{0,11}|0")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _link_mac(secret: str, customer_id: str, expires_at: int) -> bytes:
    message = f"link|{LINK_VERSION}|{customer_id}|{expires_at}".encode()
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()[:_LINK_MAC_BYTES]


def sign_link_code(customer_id: str, expires_at: int, secret: str) -> str:
    """A link code (twin of ``analytics.core.identity.sign_link_code``; used by tests).

    Args:
        customer_id: The customer's external id (UTF-8, no ``|``).
        expires_at: Unix time (seconds) after which the code is refused.
        secret: The signing secret.

    Returns:
        ``b64url(f"{customer_id}|{expires_at}") + b64url(mac[:12])``.

    Raises:
        ValueError: For an id that cannot be signed or a code over 64 characters.
    """
    if not customer_id or "|" in customer_id:
        raise ValueError("a customer id for a link code is non-empty and has no '|'")
    try:
        payload = f"{customer_id}|{int(expires_at)}".encode()
    except UnicodeEncodeError as exc:
        raise ValueError("a customer id for a link code is valid UTF-8") from exc
    code = _b64url(payload) + _b64url(_link_mac(secret, customer_id, int(expires_at)))
    if len(code) > LINK_CODE_MAX_CHARS:
        raise ValueError("customer id too long for a link code")
    return code


def _link_payload(code: str) -> tuple[str, int, bytes] | None:
    """``(customer_id, expires_at, mac)`` of a well-formed code, else ``None``."""
    if not _LINK_CODE_RE.fullmatch(code):
        return None
    head, tail = code[:-LINK_MAC_CHARS], code[-LINK_MAC_CHARS:]
    try:
        payload = base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))
        mac = base64.urlsafe_b64decode(tail)
        text = payload.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    if _b64url(payload) != head or len(mac) != _LINK_MAC_BYTES:
        return None  # not the canonical encoding: nobody signed this spelling
    customer_id, sep, expiry = text.rpartition("|")
    if not sep or not customer_id or "|" in customer_id or not _EXPIRY_RE.fullmatch(expiry):
        return None
    if len(customer_id) > MAX_ID_LENGTH:
        return None
    return customer_id, int(expiry), mac


def verify_link_code(code: Any, secrets: Iterable[str], now: float | None = None) -> str | None:
    """The customer a link code names, if it is well-formed, unexpired and signed. Never raises.

    Args:
        code: What the customer sent after ``/start`` or ``link`` (anything at all).
        secrets: The secrets to try (``IDENTITY_SECRET``, ``DEMO_IDENTITY_SECRET``).
        now: The current Unix time (defaults to the clock).

    Returns:
        The customer id, or ``None`` for a malformed, forged, expired or over-long code.
        Single use is the caller's job (``channel_link_codes``).
    """
    if not isinstance(code, str) or len(code) > LINK_CODE_MAX_CHARS:
        return None
    parsed = _link_payload(code)
    if parsed is None:
        return None
    customer_id, expires_at, mac = parsed
    current = time.time() if now is None else now
    if expires_at <= current or expires_at > current + MAX_TTL_SECONDS:
        return None
    for secret in secrets:
        if not secret:
            continue
        try:
            expected = _link_mac(secret, customer_id, expires_at)
        except UnicodeEncodeError:
            continue
        if hmac.compare_digest(expected, mac):
            return customer_id
    return None
