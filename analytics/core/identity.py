"""Customer identity tokens: how a host website proves who is chatting.

The host website, which knows who is signed in, sends with every chat message the
metadata that :func:`identity_metadata` returns::

    {"customer_id": "cus_0001", "expires_at": 1767312000,
     "customer_token": hex(HMAC-SHA256(IDENTITY_SECRET, "v1|cus_0001|1767312000"))}

``expires_at`` is a Unix time in seconds; a token is refused once it has passed, and one
that claims to live longer than :data:`MAX_TTL_SECONDS` is refused too (a leaked token is
then worth a limited time). The old form, ``customer_hash`` = hex HMAC-SHA256(secret,
customer_id) with no expiry, is accepted only where ``IDENTITY_ACCEPT_LEGACY_HASH`` is on
(for one release, so host websites can move over).

The doors (Rasa's channels) verify the claim once, drop every identity key from the
message metadata and, when the claim is valid, put :data:`VERIFIED_KEY` in its place: the
token never reaches the tracker store, the event broker or the analytics store. The
channels verify with ``bot/channels/identity.py`` (the Rasa environment cannot import this
one); both are held to the same test vectors (``tests/fixtures/identity_vectors.json``).

Verification never raises: anything malformed (wrong types, non-ASCII hex, bad lengths)
is simply "not verified". :func:`secrets_equal` is the main environment's one constant-time
comparison of a secret a client sent (tokens, digests, CSRF values) with the expected one.

Link codes (:func:`sign_link_code`, :func:`link_code`) let a customer link a messaging account
(Telegram, WeChat, ...) to their shop account: the shop shows a short signed code, the customer
sends it once to the bot (``/start <code>``), and the bot (``bot/channels/identity.py``
``verify_link_code``, held to ``tests/fixtures/link_vectors.json``) binds that platform user to
the customer. The format::

    b64url(f"{customer_id}|{expires_at}") + b64url(HMAC-SHA256(secret,
        f"link|v1|{customer_id}|{expires_at}")[:12])

(URL-safe base64 without padding; the MAC part is always 16 characters; at most 64 characters
in all, so it fits Telegram's ``/start`` parameter).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

TOKEN_VERSION = "v1"
KEY_CUSTOMER_ID = "customer_id"
KEY_EXPIRES_AT = "expires_at"
KEY_TOKEN = "customer_token"
KEY_LEGACY_HASH = "customer_hash"
#: The key a door puts in a message's metadata once it has verified the claim.
VERIFIED_KEY = "verified_customer_id"
#: The keys of a client's identity claim (what a host website sends).
CLAIM_KEYS = frozenset({KEY_CUSTOMER_ID, KEY_EXPIRES_AT, KEY_TOKEN, KEY_LEGACY_HASH})
#: Every key a door removes from client metadata (claims, and any forged verdict).
IDENTITY_KEYS = CLAIM_KEYS | {VERIFIED_KEY}
MAX_ID_LENGTH = 128
DEFAULT_TTL_SECONDS = 24 * 3600
MAX_TTL_SECONDS = 31 * 24 * 3600
_DIGEST_HEX_LENGTH = 64
_ENCODING = "utf-8"
#: Lone surrogates (from a JSON ``\ud800`` or an undecodable environment byte) encode too.
_ENCODING_ERRORS = "surrogatepass"


def _mac(secret: str, message: str) -> str:
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def sign_token(customer_id: str, expires_at: int, secret: str) -> str:
    """The token a host website sends for a customer until ``expires_at``.

    Args:
        customer_id: The customer's external id (as in the store).
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


def identity_metadata(
    customer_id: str,
    secret: str,
    *,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    now: float | None = None,
) -> dict[str, Any]:
    """The metadata a host website sends with a signed-in customer's messages.

    Args:
        customer_id: The customer's external id.
        secret: The shared ``IDENTITY_SECRET``.
        ttl_seconds: How long the token is good for (at most :data:`MAX_TTL_SECONDS`).
        now: The current Unix time (defaults to the clock).

    Returns:
        ``{"customer_id", "expires_at", "customer_token"}``.

    Raises:
        ValueError: For an empty or over-long customer id, or a lifetime out of range.
    """
    if not customer_id or len(customer_id) > MAX_ID_LENGTH:
        raise ValueError(f"a customer id has 1 to {MAX_ID_LENGTH} characters")
    if not 0 < ttl_seconds <= MAX_TTL_SECONDS:
        raise ValueError(f"a token lives 1 to {MAX_TTL_SECONDS} seconds")
    expires_at = int((time.time() if now is None else now) + ttl_seconds)
    return {
        KEY_CUSTOMER_ID: customer_id,
        KEY_EXPIRES_AT: expires_at,
        KEY_TOKEN: sign_token(customer_id, expires_at, secret),
    }


def secrets_equal(given: object, expected: str | None) -> bool:
    """Whether a secret a client sent is the expected one, in constant time. Never raises.

    Both are compared as bytes (UTF-8, lone surrogates included) with
    :func:`hmac.compare_digest`, so the time taken does not depend on where they differ.

    Args:
        given: What the client sent: anything (``None`` when absent, a non-string when
            malformed); only a string can match.
        expected: The secret; an unset or empty one never matches anything.

    Returns:
        True only when both are the same non-empty string.
    """
    if not expected or not isinstance(given, str):
        return False
    return hmac.compare_digest(
        given.encode(_ENCODING, _ENCODING_ERRORS), expected.encode(_ENCODING, _ENCODING_ERRORS)
    )


def _same_digest(expected: str, given: Any) -> bool:
    """A hex digest as sent (any case, surrounding blanks) is ``expected``; never raises."""
    if not isinstance(given, str) or len(given) > 2 * _DIGEST_HEX_LENGTH:
        return False
    return secrets_equal(given.strip().lower(), expected)


def verify_claim(
    metadata: Mapping[str, Any] | None,
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
    try:
        customer_id.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no website could have signed it
        return None
    token = metadata.get(KEY_TOKEN)
    if token is not None:
        expires_at = metadata.get(KEY_EXPIRES_AT)
        if isinstance(expires_at, bool) or not isinstance(expires_at, int):
            return None
        current = time.time() if now is None else now
        if expires_at <= current or expires_at > current + MAX_TTL_SECONDS:
            return None
        if _same_digest(sign_token(customer_id, expires_at, secret), token):
            return customer_id
        logger.warning("Rejected an invalid identity token")
        return None
    if accept_legacy and _same_digest(
        legacy_hash(customer_id, secret), metadata.get(KEY_LEGACY_HASH)
    ):
        return customer_id
    return None


def verified_customer_id(metadata: Mapping[str, Any] | None) -> str | None:
    """The customer id a door verified for this message (after :func:`verify_claim`).

    Args:
        metadata: A stored message's metadata, as the door rewrote it.

    Returns:
        The verified external customer id, or ``None`` for an anonymous message.
    """
    if not isinstance(metadata, Mapping):
        return None
    value = metadata.get(VERIFIED_KEY)
    if isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH:
        return value
    return None


LINK_VERSION = "v1"
#: Longest link code (Telegram's ``/start`` parameter holds 64 characters).
LINK_CODE_MAX_CHARS = 64
#: Characters of the MAC part at the end of a link code (12 bytes, base64).
LINK_MAC_CHARS = 16
_LINK_MAC_BYTES = 12
#: Default lifetime of a link code (``LINK_CODE_TTL_S``, settings ``link_code_ttl_s``).
DEFAULT_LINK_CODE_TTL_S = 900


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def sign_link_code(customer_id: str, expires_at: int, secret: str) -> str:
    """The code a customer sends once to a messaging bot to link their account.

    Args:
        customer_id: The customer's external id (UTF-8, no ``|``).
        expires_at: Unix time (seconds) after which the code is refused.
        secret: ``IDENTITY_SECRET`` (``DEMO_IDENTITY_SECRET`` on the demo shop).

    Returns:
        ``b64url(f"{customer_id}|{expires_at}") + b64url(mac[:12])``: only ``[A-Za-z0-9_-]``.

    Raises:
        ValueError: For an empty id, an id with ``|`` or a lone surrogate, a negative expiry,
            or a code that would be longer than :data:`LINK_CODE_MAX_CHARS` (an id of more
            than about 25 UTF-8 bytes).
    """
    if not customer_id or "|" in customer_id:
        raise ValueError("a customer id for a link code is non-empty and has no '|'")
    if isinstance(expires_at, bool) or int(expires_at) < 0:
        raise ValueError("a link code's expiry is a Unix time")
    expires = int(expires_at)
    try:
        payload = f"{customer_id}|{expires}".encode()
    except UnicodeEncodeError as exc:
        raise ValueError("a customer id for a link code is valid UTF-8") from exc
    mac = hmac.new(
        secret.encode("utf-8"),
        f"link|{LINK_VERSION}|{customer_id}|{expires}".encode(),
        hashlib.sha256,
    ).digest()[:_LINK_MAC_BYTES]
    code = _b64url(payload) + _b64url(mac)
    if len(code) > LINK_CODE_MAX_CHARS:
        raise ValueError(
            f"customer id {customer_id!r} is too long for a {LINK_CODE_MAX_CHARS}-character code"
        )
    return code


@dataclass(frozen=True)
class LinkCode:
    """A link code and when it stops working."""

    code: str
    expires_at: int


def link_code(
    customer_id: str,
    secret: str,
    *,
    ttl_seconds: int = DEFAULT_LINK_CODE_TTL_S,
    now: float | None = None,
) -> LinkCode:
    """A fresh link code for a customer, good for ``ttl_seconds``.

    Args:
        customer_id: The customer's external id.
        secret: ``IDENTITY_SECRET`` (``DEMO_IDENTITY_SECRET`` on the demo shop).
        ttl_seconds: The lifetime (``LINK_CODE_TTL_S``; 1 s to :data:`MAX_TTL_SECONDS`).
        now: The current Unix time (defaults to the clock).

    Returns:
        The code and its expiry.

    Raises:
        ValueError: For a bad id (see :func:`sign_link_code`) or lifetime.
    """
    if not 0 < ttl_seconds <= MAX_TTL_SECONDS:
        raise ValueError(f"a link code lives 1 to {MAX_TTL_SECONDS} seconds")
    expires_at = int((time.time() if now is None else now) + ttl_seconds)
    return LinkCode(sign_link_code(customer_id, expires_at, secret), expires_at)


TELEGRAM_DEEP_LINK = "https://t.me/{username}?start={code}"
_TELEGRAM_USERNAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{4,31}")


def telegram_bot_username(value: str) -> str | None:
    """A Telegram bot's user name (``TELEGRAM_BOT_USERNAME``), if the value is a valid one.

    Args:
        value: The setting's text (``settings.telegram_bot_username``), ``@`` allowed.

    Returns:
        The user name without ``@``, or ``None`` when blank or not a Telegram user name.
    """
    username = value.strip().removeprefix("@")
    return username if _TELEGRAM_USERNAME_RE.fullmatch(username) else None


def telegram_deep_link(username: str, code: str) -> str:
    """``https://t.me/<bot>?start=<code>``: opening it sends ``/start <code>`` to the bot."""
    return TELEGRAM_DEEP_LINK.format(username=username, code=code)
