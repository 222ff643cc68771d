"""The founder's takeover messages for a REST customer: which are undelivered, and delivery.

The console (:class:`web.console.takeover.RasaBridge`) writes the founder's message into the
conversation's tracker as a ``BotUttered`` event with ``metadata.author = "founder"`` (through
the widget channel's founder route or through Rasa's events API: the same event either way).
A widget customer sees it at once over socket.io; a REST customer has no open connection, so
the REST door hands it over on the customer's next exchange (:mod:`bot.channels.rest`).

The rule reads only the tracker, so it holds across several Rasa servers that share a tracker
store and a lock store (no process memory):

* A founder message is delivered by the first *boundary* after it that is entitled to it: a
  customer message (``UserUttered``; its REST answer carries the founder message, before the
  bot's replies) or a delivery mark (an ``AgentUttered`` event with ``metadata.delivered =
  "rest"``, appended under the conversation's lock by a fetch of pending messages).
* Entitled: a founder message belongs to the customer verified on the conversation when it was
  written (the ``verified_customer_id`` of the latest customer message before it that had one).
  A boundary whose caller is someone else (another customer, or nobody: an unverified, forged or
  expired claim) neither receives nor consumes it. In a conversation where nobody was ever
  verified, the sender id is the only credential, as it is for sending.
* Only founder messages written in a REST conversation (its latest customer message before them
  came over ``rest``) are ever returned over REST.

So each founder message reaches its customer exactly once, on the next call or fetch.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import AgentUttered, BotUttered, Event, UserUttered
from sanic.request import Request

from bot.channels.conversation_lock import exclusive
from bot.channels.door import bad_sender, is_valid_sender, parse_json_body, reserved_sender
from bot.channels.identity import (
    KEY_CUSTOMER_ID,
    KEY_EXPIRES_AT,
    KEY_LEGACY_HASH,
    KEY_TOKEN,
    VERIFIED_KEY,
    accept_legacy_from_env,
    sanitize_metadata,
    secrets_from_env,
)
from bot.channels.limits import (
    ERROR_BAD_ENCODING,
    ERROR_BAD_METADATA,
    MESSAGE_BAD_ENCODING,
    MESSAGE_BAD_METADATA,
    DoorLimits,
    Refusal,
)
from bot.channels.widget_routes import AUTHOR_FOUNDER, META_AUTHOR, is_safe_url

logger = logging.getLogger(__name__)

REST_CHANNEL = "rest"
#: The metadata of a delivery mark: ``{"delivered": "rest", "customer": <id or None>}``.
META_DELIVERED = "delivered"
META_CUSTOMER = "customer"
#: The identity claim of ``GET /pending``, in headers (the metadata keys of a message).
IDENTITY_HEADERS = {
    KEY_CUSTOMER_ID: "X-Customer-Id",
    KEY_EXPIRES_AT: "X-Customer-Expires-At",
    KEY_TOKEN: "X-Customer-Token",
    KEY_LEGACY_HASH: "X-Customer-Hash",
}
_MAX_EXPIRES_DIGITS = 12
_LEDGER_TYPES = (UserUttered.type_name, BotUttered.type_name, AgentUttered.type_name)
_MAX_WRAPPERS = 4


@dataclass(frozen=True)
class FounderMessage:
    """A message the founder wrote to the customer.

    Attributes:
        text: The text (may be empty when there is an image).
        timestamp: When it was written (Unix time).
        image: An http(s) image URL, if any.
    """

    text: str
    timestamp: float
    image: str | None = None

    def reply(self, recipient_id: str) -> dict[str, Any]:
        """The REST answer item: Rasa's reply shape plus ``author`` and ``timestamp``."""
        item: dict[str, Any] = {
            "recipient_id": recipient_id,
            "text": self.text,
            META_AUTHOR: AUTHOR_FOUNDER,
            "timestamp": self.timestamp,
        }
        if self.image:
            item["image"] = self.image
        return item


@dataclass(frozen=True)
class _Written:
    """A founder message with who it was written for and on which channel."""

    message: FounderMessage
    owner: str | None
    channel: str | None

    def entitled(self, caller: str | None) -> bool:
        return self.owner is None or self.owner == caller


@dataclass
class Ledger:
    """Who received which founder message, as the tracker's events tell.

    Attributes:
        carried: For each customer message id, the founder messages its REST answer carries.
        undelivered: The founder messages no boundary has delivered yet.
    """

    carried: dict[str, list[FounderMessage]] = field(default_factory=dict)
    undelivered: list[_Written] = field(default_factory=list)

    def carried_by(self, message_id: str) -> list[FounderMessage]:
        """The founder messages delivered with the answer to customer message ``message_id``."""
        return list(self.carried.get(message_id, []))

    def pending_for(self, caller: str | None) -> list[FounderMessage]:
        """The undelivered REST founder messages that ``caller`` may receive.

        Args:
            caller: The customer the door verified for this request, or None.
        """
        return [
            w.message for w in self.undelivered if w.channel == REST_CHANNEL and w.entitled(caller)
        ]


def _verified(metadata: Any) -> str | None:
    value = metadata.get(VERIFIED_KEY) if isinstance(metadata, Mapping) else None
    return value if isinstance(value, str) and value else None


def _as_dict(event: Event | Mapping[str, Any]) -> Mapping[str, Any]:
    return event if isinstance(event, Mapping) else event.as_dict()


def _metadata(item: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = item.get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


def founder_message(event: Event | Mapping[str, Any]) -> FounderMessage | None:
    """The founder message an event records, or None (any other event, bot replies included).

    Args:
        event: A Rasa event, or its serialized form (``Event.as_dict()``).
    """
    item = _as_dict(event)
    if item.get("event") != BotUttered.type_name:
        return None
    if _metadata(item).get(META_AUTHOR) != AUTHOR_FOUNDER:
        return None
    data = item.get("data")
    image = data.get("image") if isinstance(data, Mapping) else None
    image = image if is_safe_url(image) else None
    text = item.get("text")
    text = text if isinstance(text, str) else ""
    timestamp = item.get("timestamp")
    if (not text and not image) or not isinstance(timestamp, (int, float)):
        return None
    return FounderMessage(text, float(timestamp), image)


def delivery_mark(caller: str | None) -> AgentUttered:
    """The event that records a fetch of pending messages by ``caller``."""
    return AgentUttered(metadata={META_DELIVERED: REST_CHANNEL, META_CUSTOMER: caller})


def is_delivery_mark(event: Event | Mapping[str, Any]) -> bool:
    """Whether an event (or its serialized form) is a REST delivery mark."""
    item = _as_dict(event)
    return (
        item.get("event") == AgentUttered.type_name
        and _metadata(item).get(META_DELIVERED) == REST_CHANNEL
    )


def ledger_of(events: Iterable[Event | Mapping[str, Any]]) -> Ledger:
    """Walks a conversation's events (all sessions, oldest first) and settles every delivery.

    Args:
        events: The tracker's events, or their serialized forms (as the tracker store keeps
            them); other event types than user, bot and agent are ignored.

    Returns:
        The :class:`Ledger`: what each customer message's answer carried, what is pending.
    """
    ledger = Ledger()
    owner: str | None = None
    channel: str | None = None
    waiting: list[_Written] = []
    for event in events:
        item = _as_dict(event)
        kind = item.get("event")
        if kind == UserUttered.type_name:
            caller = _verified(_metadata(item))
            taken = [w for w in waiting if w.entitled(caller)]
            waiting = [w for w in waiting if not w.entitled(caller)]
            message_id = item.get("message_id")
            if isinstance(message_id, str) and message_id:
                ledger.carried[message_id] = [w.message for w in taken if w.channel == REST_CHANNEL]
            input_channel = item.get("input_channel")
            channel = input_channel if isinstance(input_channel, str) else None
            owner = caller or owner
        elif (message := founder_message(item)) is not None:
            waiting.append(_Written(message, owner, channel))
        elif is_delivery_mark(item):
            caller = _verified({VERIFIED_KEY: _metadata(item).get(META_CUSTOMER)})
            waiting = [w for w in waiting if not (w.channel == REST_CHANNEL and w.entitled(caller))]
    ledger.undelivered = waiting
    return ledger


def _sql_store(store: Any) -> SQLTrackerStore | None:
    """The SQL tracker store under Rasa's wrappers (fail-safe, awaitable), if it is one."""
    for _ in range(_MAX_WRAPPERS):
        if isinstance(store, SQLTrackerStore):
            return store
        store = getattr(store, "_tracker_store", None)
    return None


async def conversation_events(store: Any, sender_id: str) -> list[Mapping[str, Any]] | None:
    """The user, bot and agent events of a conversation, all sessions, oldest first.

    With an SQL tracker store only those rows are read, and not replayed into a tracker
    (a 400-event conversation: about 100 ms less per message); any other store gives its
    full tracker.

    Args:
        store: Rasa's tracker store (``agent.tracker_store``).
        sender_id: The conversation.

    Returns:
        The serialized events, or None for an unknown conversation.
    """
    sql = _sql_store(store)
    if sql is None:
        tracker = await store.retrieve_full_tracker(sender_id)
        return None if tracker is None else [e.as_dict() for e in tracker.events]
    with sql.session_scope() as session:
        rows = (
            session.query(sql.SQLEvent.data)
            .filter(sql.SQLEvent.sender_id == sender_id, sql.SQLEvent.type_name.in_(_LEDGER_TYPES))
            .order_by(sql.SQLEvent.id)
            .all()
        )
    events = [json.loads(row.data) for row in rows]
    return events or None


async def carried_by(agent: Any, sender_id: str, message_id: str) -> list[dict[str, Any]]:
    """The founder messages the REST answer to customer message ``message_id`` carries.

    Called after the message was processed: the events before it no longer change.

    Args:
        agent: Rasa's agent (``app.ctx.agent``).
        sender_id: The conversation.
        message_id: The id given to the customer's ``UserMessage``.

    Returns:
        The REST answer items (:meth:`FounderMessage.reply`), oldest first.
    """
    store = getattr(agent, "tracker_store", None)
    if store is None:
        return []
    events = await conversation_events(store, sender_id)
    if events is None:
        return []
    return [m.reply(sender_id) for m in ledger_of(events).carried_by(message_id)]


async def claim_pending(agent: Any, sender_id: str, caller: str | None) -> list[dict[str, Any]]:
    """Takes the founder messages pending for ``caller`` and marks them delivered.

    Under the conversation's lock (Rasa's lock store plus
    :func:`~bot.channels.conversation_lock.exclusive`, which holds across servers on a
    PostgreSQL tracker store even where Redis's ticket race lets two servers in): reads the tracker and, if anything is pending, appends a delivery mark, so a
    second fetch, or the next message's answer, does not return them again.

    Args:
        agent: Rasa's agent (``app.ctx.agent``).
        sender_id: The conversation.
        caller: The customer the door verified for this request, or None.

    Returns:
        The REST answer items, oldest first (empty for an unknown conversation).
    """
    store = getattr(agent, "tracker_store", None)
    if store is None:
        return []
    sql = _sql_store(store)
    async with exclusive(agent.lock_store, None if sql is None else sql.engine, sender_id):
        events = await conversation_events(store, sender_id)
        if events is None:
            return []
        messages = ledger_of(events).pending_for(caller)
        if not messages:
            return []
        tracker = await store.retrieve(sender_id)  # the latest session: what save() expects
        if tracker is None:
            return []
        tracker.update(delivery_mark(caller), agent.domain)
        await store.save(tracker)
    logger.info("Delivered %d founder message(s) to %s over REST", len(messages), sender_id)
    return [m.reply(sender_id) for m in messages]


def _caller(claim: Any) -> str | None:
    """The customer an identity claim proves (the door's rule), or None."""
    verdict = sanitize_metadata(
        claim, secrets=secrets_from_env(), accept_legacy=accept_legacy_from_env()
    )
    return _verified(verdict)


def _header_claim(request: Request) -> dict[str, Any]:
    claim: dict[str, Any] = {}
    for key, header in IDENTITY_HEADERS.items():
        value = request.headers.get(header)
        if value is not None:
            claim[key] = value.strip()
    expires = claim.get(KEY_EXPIRES_AT)
    if isinstance(expires, str) and expires.isascii() and expires.isdigit():
        if len(expires) <= _MAX_EXPIRES_DIGITS:
            claim[KEY_EXPIRES_AT] = int(expires)
    return claim


def pending_caller(request: Request, limits: DoorLimits) -> tuple[str, str | None] | Refusal:
    """The sender and the verified caller of a ``GET`` or ``POST /pending`` request.

    ``GET``: ``?sender=<id>`` (exactly once, strict UTF-8), identity in the ``X-Customer-*``
    headers. ``POST``: a JSON object ``{"sender", "metadata"?}`` with the identity claim in
    the metadata, as when sending a message.

    Args:
        request: The HTTP request.
        limits: The door limits (body and metadata sizes).

    Returns:
        ``(sender, verified customer or None)``, or the refusal to answer with.
    """
    if request.method == "GET":
        try:
            args = parse_qs(request.query_string, errors="strict", max_num_fields=20)
        except UnicodeDecodeError:
            return Refusal(400, ERROR_BAD_ENCODING, MESSAGE_BAD_ENCODING)
        except ValueError:  # more than max_num_fields
            return bad_sender()
        senders = args.get("sender", [])
        sender: Any = senders[0] if len(senders) == 1 else None
        claim: Any = _header_claim(request)
    else:
        body = parse_json_body(request.body or b"", limits)
        if isinstance(body, Refusal):
            return body
        sender, claim = body.get("sender"), body.get("metadata")
        if isinstance(claim, str):
            try:
                claim = json.loads(claim) if len(claim) <= limits.max_metadata_bytes else None
            except (ValueError, RecursionError):
                claim = None
            if claim is None:
                return Refusal(400, ERROR_BAD_METADATA, MESSAGE_BAD_METADATA)
        if claim is not None and not isinstance(claim, dict):
            return Refusal(400, ERROR_BAD_METADATA, MESSAGE_BAD_METADATA)
    if not is_valid_sender(sender):
        return bad_sender()
    refusal = reserved_sender(sender)
    if refusal is not None:
        return refusal
    return sender, _caller(claim)
