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
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
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
