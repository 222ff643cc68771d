"""Turning Rasa tracker events (as published by an event broker) into store rows.

Rasa publishes every tracker event as JSON with ``sender_id``, ``event`` and ``timestamp``.
Three kinds matter here:

* ``user``: the customer's text, ``parse_data`` (``intent``, ``entities`` and the detector's
  ``language``: ``zh``, ``en`` or ``mixed``), ``input_channel`` and ``metadata``. The door
  (Rasa's channel) verified the customer's identity claim and left only
  ``metadata.verified_customer_id`` (:func:`analytics.core.identity.verified_customer_id`): that
  is the message's customer. Nothing else in the metadata is trusted or kept;
* ``bot``: the reply text; its action is the last ``action`` event of the sender (e.g.
  ``action_order_status``), else the response name from ``metadata.utter_action``;
* ``action``: not stored as a message, but ``action_handoff`` flags the conversation and
  fallback actions count as fallbacks on the following bot message.

Everything else (slots, session starts, featurization markers) is skipped. Every string
is cleaned (:mod:`analytics.loop.ingest.clean`); a user, bot or action event without a string
sender id or a usable timestamp raises :class:`ValueError` (the worker dead-letters it).

The idempotency key of an event is a hash of sender id, event type and timestamp (Rasa's
timestamps are floats with microsecond resolution, unique per sender and event), so the same
event delivered twice, by a re-read or a RabbitMQ redelivery, maps to the same key.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from analytics.core.identity import verified_customer_id
from analytics.core.language import detect_language
from analytics.core.vocabulary import NLU_LANGUAGES
from analytics.loop.ingest.attachments import upload_id_of
from analytics.loop.ingest.clean import (
    MAX_TEXT_CHARS,
    clean_float,
    clean_optional,
    clean_text,
    clean_value,
)
from analytics.store.models import CHANNEL_WEB

logger = logging.getLogger(__name__)

KIND_USER = "user"
KIND_BOT = "bot"
#: Bot events the console pushed for the founder carry this author; the console
#: stores those messages itself (role ``founder``), so ingest skips them.
FOUNDER_AUTHOR = "founder"
KIND_ACTION = "action"
HANDOFF_ACTION = "action_handoff"
LISTEN_ACTION = "action_listen"
WEB_CHANNELS = frozenset({"rest", "socketio", "web", ""})
MAX_NAME_CHARS = 100
MAX_SENDER_CHARS = 10_000


@dataclass
class MappedEvent:
    """A Rasa event reduced to what the store needs (text not yet redacted).

    Attributes:
        kind: ``user``, ``bot`` or ``action``.
        event_key: The idempotency key.
        sender_id: The Rasa sender id (conversation).
        at: The event time (aware UTC).
        text: The raw text (user and bot events).
        language: ``zh``, ``en`` or ``mixed`` for user events (from the NLU), ``zh``/``en``
            for bot events (from the script of the text).
        intent: The NLU intent of a user event.
        confidence: Its confidence.
        entities: The raw extracted entities.
        action: The action name (action events) or the response name (bot events).
        channel: The input channel of a user event.
        customer: The external id of the customer the door verified on a user event.
        upload_id: The photo a user event carries (``metadata.upload_id`` as the widget
            channel set it; :mod:`analytics.loop.ingest.attachments` checks it again).
    """

    kind: str
    event_key: str
    sender_id: str
    at: datetime
    text: str | None = None
    language: str | None = None
    intent: str | None = None
    confidence: float | None = None
    entities: list[dict[str, Any]] | None = None
    action: str | None = None
    channel: str | None = None
    customer: str | None = None
    upload_id: str | None = None


def event_key(sender_id: str, event: str, timestamp: Any) -> str:
    """The idempotency key of a Rasa event.

    Args:
        sender_id: The sender id.
        event: The event type (``user``, ``bot``, ...).
        timestamp: Rasa's float timestamp, as in the JSON.

    Returns:
        ``rasa:`` plus 40 hex digits.
    """
    raw = f"{sender_id}\x1f{event}\x1f{timestamp!r}"
    return "rasa:" + hashlib.sha256(raw.encode("utf-8")).hexdigest()[:40]


def channel_name(input_channel: str | None) -> str:
    """The store's channel for a Rasa input channel (REST and socket.io are the web widget).

    Args:
        input_channel: Rasa's ``input_channel``.

    Returns:
        ``web`` or the channel name itself.
    """
    name = (input_channel or "").strip().lower()
    return CHANNEL_WEB if name in WEB_CHANNELS else name[:40]


def _timestamp(kind: str, value: Any) -> datetime:  # noqa: ANN401
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{kind} event without a numeric timestamp")
    try:
        return datetime.fromtimestamp(float(value), tz=UTC)
    except (OverflowError, OSError, ValueError) as error:
        raise ValueError(f"{kind} event with an impossible timestamp") from error


def map_event(event: dict[str, Any]) -> MappedEvent | None:
    """Map one Rasa event, or return ``None`` for events that are not stored here.

    Not stored: kinds other than user, bot and action events, and the founder's
    messages (bot events with ``metadata.author == "founder"``), which the
    console writes itself.

    Args:
        event: The event JSON as published by the broker.

    Returns:
        The mapped event (strings cleaned), or ``None``.

    Raises:
        ValueError: If a user, bot or action event lacks a string sender id or a usable
            timestamp.
    """
    kind = event.get("event")
    if kind not in (KIND_USER, KIND_BOT, KIND_ACTION):
        return None
    raw_sender = event.get("sender_id")
    timestamp = event.get("timestamp")
    if not isinstance(raw_sender, str) or not raw_sender:
        raise ValueError(f"{kind} event without a sender_id")
    at = _timestamp(str(kind), timestamp)
    sender_id = clean_text(raw_sender, MAX_SENDER_CHARS)
    key = event_key(sender_id, str(kind), timestamp)
    raw_metadata = event.get("metadata")
    metadata: dict[str, Any] = raw_metadata if isinstance(raw_metadata, dict) else {}
    if kind == KIND_ACTION:
        action = clean_optional(event.get("name"), MAX_NAME_CHARS)
        return MappedEvent(KIND_ACTION, key, sender_id, at, action=action)
    text = clean_optional(event.get("text"), MAX_TEXT_CHARS) or ""
    if kind == KIND_BOT:
        if metadata.get("author") == FOUNDER_AUTHOR:
            return None  # written by the console as a founder message
        return MappedEvent(
            KIND_BOT,
            key,
            sender_id,
            at,
            text=text,
            language=detect_language(text),
            action=clean_optional(metadata.get("utter_action"), MAX_NAME_CHARS),
        )
    raw_parse = event.get("parse_data")
    parse: dict[str, Any] = raw_parse if isinstance(raw_parse, dict) else {}
    raw_intent = parse.get("intent")
    intent: dict[str, Any] = raw_intent if isinstance(raw_intent, dict) else {}
    language = parse.get("language")
    if language not in NLU_LANGUAGES:
        language = detect_language(text)
    raw_entities = parse.get("entities")
    entities = clean_value(raw_entities) if isinstance(raw_entities, list) else None
    raw_channel = event.get("input_channel")
    return MappedEvent(
        KIND_USER,
        key,
        sender_id,
        at,
        text=text,
        language=language,
        intent=clean_optional(intent.get("name"), MAX_NAME_CHARS),
        confidence=clean_float(intent.get("confidence")),
        entities=entities,
        channel=channel_name(clean_text(raw_channel) if isinstance(raw_channel, str) else None),
        customer=clean_optional(verified_customer_id(metadata)),
        upload_id=upload_id_of(metadata),
    )
