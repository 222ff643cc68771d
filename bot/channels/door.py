"""What every door does to an incoming message before Rasa sees it.

:func:`prepare_message` applies the size limits of :mod:`bot.channels.limits`, the text
hygiene of :mod:`bot.channels.hygiene` and the identity rule of :mod:`bot.channels.identity`:
the text is cleaned and length-checked, the metadata is cleaned, size-checked, stripped of
every identity key, and carries ``verified_customer_id`` only when the host website's claim
verifies.
:func:`parse_json_body` turns a raw HTTP body into a JSON object or a refusal.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeGuard

from bot.channels.hygiene import MetadataError, clean_metadata, clean_text, json_size
from bot.channels.identity import IDENTITY_KEYS, VERIFIED_KEY, sanitize_metadata
from bot.channels.limits import (
    ERROR_BAD_ENCODING,
    ERROR_BAD_JSON,
    ERROR_BAD_MESSAGE,
    ERROR_BAD_METADATA,
    ERROR_BAD_SENDER,
    ERROR_EMPTY,
    ERROR_RESERVED_SENDER,
    ERROR_TOO_LARGE,
    ERROR_TOO_LONG,
    MESSAGE_BAD_ENCODING,
    MESSAGE_BAD_JSON,
    MESSAGE_BAD_MESSAGE,
    MESSAGE_BAD_METADATA,
    MESSAGE_BAD_SENDER,
    MESSAGE_EMPTY,
    MESSAGE_RESERVED_SENDER,
    MESSAGE_TOO_LARGE,
    DoorLimits,
    Refusal,
    too_long_message,
)
from bot.channels.names import META_CHANNEL_ADDRESS, is_messaging_sender
from bot.channels.widget_session import is_session_id

logger = logging.getLogger(__name__)

MAX_SENDER_CHARS = 128
# Printable text only: no control characters, no lone surrogates, no edge whitespace.
_SENDER_RE = re.compile(r"^(?=\S)[^\x00-\x1f\x7f-\x9f\ud800-\udfff]{1,128}(?<=\S)$")
# Text longer than this (before cleaning) is refused without looking at it.
_RAW_LENGTH_FACTOR = 4
#: Metadata keys only a channel sets after its own check (a client's are dropped): the
#: widget's photo reference (bot.channels.uploads) and a messaging platform's reply address.
CHANNEL_KEYS = frozenset({"upload_id", META_CHANNEL_ADDRESS})


@dataclass(frozen=True)
class Prepared:
    """A message a door lets through: cleaned text and cleaned, identity-checked metadata."""

    text: str
    metadata: dict[str, Any]

    @property
    def customer_id(self) -> str | None:
        """The verified customer, if the host website's claim held."""
        value = self.metadata.get(VERIFIED_KEY)
        return value if isinstance(value, str) else None


def too_long(limit: int) -> Refusal:
    """The 413 refusal of an over-long message."""
    return Refusal(413, ERROR_TOO_LONG, too_long_message(limit), limit=limit)


def too_large(limit: int) -> Refusal:
    """The 413 refusal of an over-large body or metadata."""
    return Refusal(413, ERROR_TOO_LARGE, MESSAGE_TOO_LARGE, limit=limit)


def is_valid_sender(value: Any) -> TypeGuard[str]:
    """Whether a REST ``sender`` is printable text of 1 to 128 characters."""
    return isinstance(value, str) and bool(_SENDER_RE.match(value))


def bad_sender() -> Refusal:
    """The 400 refusal of a missing or malformed sender id."""
    return Refusal(400, ERROR_BAD_SENDER, MESSAGE_BAD_SENDER)


def reserved_sender(sender: str) -> Refusal | None:
    """The 400 refusal of a REST sender id of a widget session's or a messaging app's form.

    The widget continues a conversation only with its session token; a REST message with a
    widget session id (32 lowercase hex digits) as sender would write into that conversation
    without one. Likewise ``telegram:<id>``, ``wecom:<id>``... belong to the messaging
    channels (:mod:`bot.channels.names`): platform user ids are not secret.

    Args:
        sender: A valid REST sender id (:func:`is_valid_sender`).

    Returns:
        A 400 ``reserved_sender`` refusal, or None if the id may be used.
    """
    if is_session_id(sender) or is_messaging_sender(sender):
        return Refusal(400, ERROR_RESERVED_SENDER, MESSAGE_RESERVED_SENDER)
    return None


def parse_json_body(body: bytes, limits: DoorLimits) -> dict[str, Any] | Refusal:
    """Decodes an HTTP body: size, strict UTF-8, a JSON object.

    Args:
        body: The raw request body.
        limits: The door limits (``max_body_bytes``).

    Returns:
        The JSON object, or a 413 / 400 refusal.
    """
    if len(body) > limits.max_body_bytes:
        return too_large(limits.max_body_bytes)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return Refusal(400, ERROR_BAD_ENCODING, MESSAGE_BAD_ENCODING)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return Refusal(400, ERROR_BAD_JSON, MESSAGE_BAD_JSON)
    if not isinstance(data, dict):
        return Refusal(400, ERROR_BAD_JSON, MESSAGE_BAD_JSON)
    return data


def prepare_message(
    text: Any,
    metadata: Any,
    limits: DoorLimits,
    *,
    secrets: Iterable[str],
    accept_legacy: bool,
    now: float | None = None,
) -> Prepared | Refusal:
    """Checks and cleans one incoming message.

    Args:
        text: The message text as the client sent it.
        metadata: The message metadata (a JSON object, a JSON string of one, or None).
        limits: The door limits.
        secrets: The identity secrets to verify with.
        accept_legacy: Whether the legacy ``customer_hash`` is accepted.
        now: The current Unix time (tests).

    Returns:
        The :class:`Prepared` message, or the :class:`Refusal` to answer with.
    """
    limit = limits.max_message_chars
    if text is None:
        return Refusal(400, ERROR_EMPTY, MESSAGE_EMPTY)
    if not isinstance(text, str):
        return Refusal(400, ERROR_BAD_MESSAGE, MESSAGE_BAD_MESSAGE)
    if len(text) > limit * _RAW_LENGTH_FACTOR:
        return too_long(limit)
    text = clean_text(text).strip()
    if not text:
        return Refusal(400, ERROR_EMPTY, MESSAGE_EMPTY)
    if len(text) > limit:
        return too_long(limit)
    if isinstance(metadata, str):
        if len(metadata) > limits.max_metadata_bytes:
            return too_large(limits.max_metadata_bytes)
        try:
            metadata = json.loads(metadata)
        except (ValueError, RecursionError):
            return Refusal(400, ERROR_BAD_METADATA, MESSAGE_BAD_METADATA)
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        return Refusal(400, ERROR_BAD_METADATA, MESSAGE_BAD_METADATA)
    try:
        cleaned = clean_metadata(metadata)
    except (MetadataError, RecursionError):
        return Refusal(400, ERROR_BAD_METADATA, MESSAGE_BAD_METADATA)
    if json_size(cleaned) > limits.max_metadata_bytes:
        return too_large(limits.max_metadata_bytes)
    verdict = sanitize_metadata(metadata, secrets=secrets, accept_legacy=accept_legacy, now=now)
    result = {
        key: value
        for key, value in cleaned.items()
        if key not in IDENTITY_KEYS and key not in CHANNEL_KEYS
    }
    if VERIFIED_KEY in verdict:
        result[VERIFIED_KEY] = verdict[VERIFIED_KEY]
    return Prepared(text, result)
