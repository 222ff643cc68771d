"""Turning Rasa tracker events (as published by an event broker) into store rows.

Rasa publishes every tracker event as JSON with ``sender_id``, ``event`` and ``timestamp``.
Three kinds matter here:

* ``user``: the customer's text, ``parse_data`` (``intent``, ``entities`` and the detector's
  ``language``: ``zh``, ``en`` or ``mixed``), ``input_channel`` and ``metadata`` carrying
  ``customer_id``/``customer_hash``: the customer is linked only if the HMAC is valid;
* ``bot``: the reply text; its action is the last ``action`` event of the sender (e.g.
  ``action_order_status``), else the response name from ``metadata.utter_action``;
* ``action``: not stored as a message, but ``action_handoff`` flags the conversation and
  fallback actions count as fallbacks on the following bot message.

Everything else (slots, session starts, featurization markers) is skipped.

The idempotency key of an event is a hash of sender id, event type and timestamp (Rasa's
timestamps are floats with microsecond resolution, unique per sender and event), so the same
event delivered twice, by a re-read or a RabbitMQ redelivery, maps to the same key.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from analytics.models import CHANNEL_WEB, LANG_EN, LANG_ZH

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
METADATA_CUSTOMER_ID = "customer_id"
METADATA_CUSTOMER_HASH = "customer_hash"
_CJK_RE = re.compile(r"[\u4e00-\u9fff]")


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
        metadata: The event's metadata (identity claims of user events).
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
    metadata: dict[str, Any] | None = None


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


def script_language(text: str) -> str:
    """``zh`` if the text contains Chinese characters, else ``en``."""
    return LANG_ZH if _CJK_RE.search(text or "") else LANG_EN


def map_event(event: dict[str, Any]) -> MappedEvent | None:
    """Map one Rasa event, or return ``None`` for events that are not stored here.

    Not stored: kinds other than user, bot and action events, and the founder's
    messages (bot events with ``metadata.author == "founder"``), which the
    console writes itself.

    Args:
        event: The event JSON as published by the broker.

    Returns:
        The mapped event, or ``None``.

    Raises:
        ValueError: If a user, bot or action event lacks its sender id or timestamp.
    """
    kind = event.get("event")
    if kind not in (KIND_USER, KIND_BOT, KIND_ACTION):
        return None
    sender_id = event.get("sender_id")
    timestamp = event.get("timestamp")
    if not sender_id or not isinstance(timestamp, int | float):
        raise ValueError(f"{kind} event without sender_id or timestamp")
    at = datetime.fromtimestamp(float(timestamp), tz=UTC)
    key = event_key(str(sender_id), str(kind), timestamp)
    raw_metadata = event.get("metadata")
    metadata: dict[str, Any] = raw_metadata if isinstance(raw_metadata, dict) else {}
    if kind == KIND_ACTION:
        return MappedEvent(KIND_ACTION, key, str(sender_id), at, action=event.get("name"))
    text = event.get("text")
    text = text if isinstance(text, str) else ""
    if kind == KIND_BOT:
        if metadata.get("author") == FOUNDER_AUTHOR:
            return None  # written by the console as a founder message
        utter = metadata.get("utter_action") if metadata else None
        return MappedEvent(
            KIND_BOT,
            key,
            str(sender_id),
            at,
            text=text,
            language=script_language(text),
            action=utter if isinstance(utter, str) else None,
        )
    raw_parse = event.get("parse_data")
    parse: dict[str, Any] = raw_parse if isinstance(raw_parse, dict) else {}
    raw_intent = parse.get("intent")
    intent: dict[str, Any] = raw_intent if isinstance(raw_intent, dict) else {}
    language = parse.get("language")
    if language not in (LANG_ZH, LANG_EN, "mixed"):
        language = script_language(text)
    confidence = intent.get("confidence")
    entities = parse.get("entities") if isinstance(parse.get("entities"), list) else None
    return MappedEvent(
        KIND_USER,
        key,
        str(sender_id),
        at,
        text=text,
        language=language,
        intent=intent.get("name") if isinstance(intent.get("name"), str) else None,
        confidence=float(confidence) if isinstance(confidence, int | float) else None,
        entities=entities,
        channel=channel_name(event.get("input_channel")),
        metadata=metadata,
    )
