"""What a messaging channel does with each delivery of an authentic webhook request.

In order (:meth:`Conversation.converse`): the ledger claim (a redelivery is not processed),
a link/unlink command (answered by :mod:`bot.channels.messaging.bindings`, never shown to
Rasa), the sender's rate limits (:class:`~bot.channels.limits.DoorGuard`), a numbered-button
reply (``1``, ``１`` or ``一`` picks the payload of the buttons of the bot's latest turn) or a
payload key (a button payload too long for the platform, :func:`payload_key`), the
door's hygiene (:func:`bot.channels.door.prepare_message`: clean text, length, metadata), the
customer a binding names (``verified_customer_id``: only from a binding, never in a group
chat), then Rasa with ``message_id = "<name>:<delivery_id>"`` and the reply address as
``channel_address``. The claim is refreshed while Rasa works, marked done once Rasa has the
message and released if it failed (both only while the claim is still this server's). While
the founder has paused the conversation Rasa records the message and predicts nothing, so
there is nothing to send.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.shared.core.events import BotUttered, UserUttered

from bot.channels.door import prepare_message
from bot.channels.hygiene import clean_metadata
from bot.channels.identity import VERIFIED_KEY
from bot.channels.limits import ERROR_EMPTY, Refusal
from bot.channels.messaging.bindings import Bindings, is_group_chat
from bot.channels.messaging.ledger import Ledger
from bot.channels.messaging.outbound import OutMessage, out_messages
from bot.channels.messaging.store import ChannelStore
from bot.channels.names import META_CHANNEL_ADDRESS

if TYPE_CHECKING:
    from bot.channels.messaging.base import Inbound, MessagingInput

logger = logging.getLogger(__name__)

SENDER_RE = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")
HASHED_USER_CHARS = 40
META_DISPLAY_TEXT = "display_text"
CHINESE_NUMBERS = {
    "一": 1,
    "二": 2,
    "两": 2,
    "兩": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
    "十": 10,
}
NUMBER_TRAILERS = ".．。、)）"
#: A button payload too long for a platform's button (Telegram's 64-byte ``callback_data``)
#: travels as ``lp:`` + 40 hex digits of its SHA-256, and is found again among the buttons the
#: bot sent to the conversation (in its tracker: any server, after any restart).
PAYLOAD_KEY_PREFIX = "lp:"
PAYLOAD_KEY_RE = re.compile(r"^lp:[0-9a-f]{40}$")
#: How many of a conversation's latest events are searched for a payload key's button.
PAYLOAD_KEY_EVENTS = 1000


def sender_id_of(name: str, user_id: str) -> str:
    """The conversation id of a platform user: ``<name>:<user_id>`` or a hashed form.

    Args:
        name: The channel's name.
        user_id: The platform's id of the person.

    Returns:
        ``f"{name}:{user_id}"`` when it matches ``^[A-Za-z0-9_.:@-]{1,128}$``, else
        ``f"{name}:h"`` + the first 40 hex digits of SHA-256 of the user id.
    """
    plain = f"{name}:{user_id}"
    if SENDER_RE.match(plain):
        return plain
    digest = hashlib.sha256(user_id.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{name}:h{digest[:HASHED_USER_CHARS]}"


def number_of(text: str) -> int | None:
    """The number a short reply stands for (``1``, ``１``, ``一``, ``2.``), else None."""
    value = text.strip().rstrip(NUMBER_TRAILERS).strip()
    if 0 < len(value) <= 2 and value.isdecimal():
        return int(value)
    return CHINESE_NUMBERS.get(value)


def latest_buttons(events: list[Any]) -> list[tuple[str, str]]:
    """The buttons of the bot's latest turn (since the customer's last message), if any."""
    for event in reversed(events):
        if isinstance(event, UserUttered):
            return []
        if isinstance(event, BotUttered):
            found = [
                (b["title"], b["payload"])
                for b in (event.data or {}).get("buttons") or []
                if isinstance(b, dict)
                and isinstance(b.get("title"), str)
                and isinstance(b.get("payload"), str)
            ]
            if found:
                return found
    return []


def payload_key(payload: str) -> str:
    """The short stand-in of a button payload: ``lp:`` + 40 hex digits of its SHA-256."""
    digest = hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()
    return PAYLOAD_KEY_PREFIX + digest[:40]


def button_of_key(events: list[Any], key: str) -> tuple[str, str] | None:
    """The (title, payload) of the bot's most recent button whose :func:`payload_key` is ``key``.

    Only buttons the bot itself sent to this conversation are found (a forged key finds none).
    """
    for event in reversed(events[-PAYLOAD_KEY_EVENTS:]):
        if not isinstance(event, BotUttered):
            continue
        for button in (event.data or {}).get("buttons") or []:
            if not isinstance(button, dict):
                continue
            title, payload = button.get("title"), button.get("payload")
            if isinstance(title, str) and isinstance(payload, str) and payload_key(payload) == key:
                return title, payload
    return None


@functools.cache
def collector_for(name: str) -> type[CollectingOutputChannel]:
    """A collecting output channel named like the messaging channel ``name``.

    Rasa picks a response's ``channel: <name>`` variations by the output channel's name
    (the domain's sign-in reply on a messaging app asks for a link code, not a website login).
    """

    class ChannelCollector(CollectingOutputChannel):
        @classmethod
        def name(cls) -> str:
            return name

    ChannelCollector.__name__ = f"{name.title()}Collector"
    return ChannelCollector


@dataclass
class Outcome:
    """The result of one delivery: the parts to send and where.

    Attributes:
        sender_id: The conversation.
        address: Where the platform delivers.
        parts: Rendered messages still to send.
        failed: Whether processing failed (the claim was released).
        recorded: Whether Rasa had handled the message (it is in the tracker) when it failed.
    """

    sender_id: str
    address: dict[str, Any]
    parts: list[OutMessage] = field(default_factory=list)
    failed: bool = False
    recorded: bool = False


# The stores live as long as the process (one per database), and so do these.
_LEDGERS: dict[int, tuple[ChannelStore, Ledger]] = {}
_BINDINGS: dict[int, tuple[ChannelStore, Bindings]] = {}


def ledger_for(store: ChannelStore) -> Ledger:
    """The process's ledger of a store."""
    known = _LEDGERS.get(id(store))
    if known is None or known[0] is not store:
        known = _LEDGERS[id(store)] = (store, Ledger(store))
    return known[1]


def bindings_for(store: ChannelStore) -> Bindings:
    """The process's account bindings of a store."""
    known = _BINDINGS.get(id(store))
    if known is None or known[0] is not store:
        known = _BINDINGS[id(store)] = (store, Bindings(store))
    return known[1]


class Conversation:
    """Processes the deliveries of one webhook request."""

    def __init__(
        self,
        channel: MessagingInput,
        agent: Any,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> None:
        """Binds the channel, Rasa's agent and Rasa's message handler."""
        self.channel = channel
        self.agent = agent
        self.on_new_message = on_new_message
        self.name = channel.name()
        self.store = ChannelStore.for_agent(agent)
        self.ledger = ledger_for(self.store)
        self.bindings = bindings_for(self.store)

    async def converse_all(self, inbounds: list[Inbound]) -> list[Outcome]:
        """Processes the deliveries one after another."""
        outcomes = []
        for inbound in inbounds:
            outcome = await self.converse(inbound)
            if outcome is not None:
                outcomes.append(outcome)
        return outcomes

    def _reply(self, sender_id: str, inbound: Inbound, text: str) -> Outcome:
        return Outcome(sender_id, inbound.address, self.channel.rendered(OutMessage(text)))

    def _refused(self, sender_id: str, inbound: Inbound, refusal: Refusal) -> Outcome:
        """A polite answer to a refused message (at most once a minute per conversation)."""
        if refusal.error == ERROR_EMPTY:
            return Outcome(sender_id, inbound.address)
        if self.channel.refusal_replies.hit(sender_id):
            return Outcome(sender_id, inbound.address)
        return self._reply(sender_id, inbound, refusal.message)

    async def converse(self, inbound: Inbound) -> Outcome | None:
        """Processes one delivery; None for a redelivery (nothing to send)."""
        sender_id = sender_id_of(self.name, inbound.user_id)
        owner = await self.ledger.claim(self.name, inbound.delivery_id)
        if owner is None:
            logger.info("%s: delivery %s seen before; not processed", self.name, sender_id)
            return None
        keeper = self.ledger.keep_alive(self.name, inbound.delivery_id, owner)
        group = is_group_chat(self.name, inbound.user_id, inbound.address) or bool(
            getattr(inbound, "group", False)
        )
        admitted = recorded = False
        try:
            command = await self.bindings.handle_command(
                self.name, inbound.user_id, inbound.text, group=group
            )
            if command is not None:
                await self.ledger.finish(self.name, inbound.delivery_id, owner)
                return self._reply(sender_id, inbound, command.reply)
            refusal = self.channel.guard.admit_sender(sender_id)
            if refusal is not None:
                await self.ledger.finish(self.name, inbound.delivery_id, owner)
                return self._refused(sender_id, inbound, refusal)
            admitted = True
            text, display = await self._numbered(sender_id, inbound.text)
            prepared = prepare_message(
                text, None, self.channel.limits, secrets=(), accept_legacy=False
            )
            if isinstance(prepared, Refusal):
                await self.ledger.finish(self.name, inbound.delivery_id, owner)
                return self._refused(sender_id, inbound, prepared)
            metadata = {k: v for k, v in prepared.metadata.items() if k != VERIFIED_KEY}
            # The platform's reply address: set here only (the doors drop a client's).
            metadata[META_CHANNEL_ADDRESS] = clean_metadata(inbound.address)
            customer = await self.bindings.customer_of(self.name, inbound.user_id, group=group)
            if customer:
                metadata[VERIFIED_KEY] = customer
            if display:
                metadata[META_DISPLAY_TEXT] = display
            collector = collector_for(self.name)()
            await self.on_new_message(
                UserMessage(
                    prepared.text,
                    collector,
                    sender_id,
                    input_channel=self.name,
                    metadata=metadata,
                    message_id=f"{self.name}:{inbound.delivery_id}",
                )
            )
            recorded = True
            await self.ledger.finish(self.name, inbound.delivery_id, owner)
            parts = [
                part
                for message in out_messages(collector.messages)
                for part in self.channel.rendered(message)
            ]
            return Outcome(sender_id, inbound.address, parts)
        except Exception:
            logger.exception("%s: a message of %s failed", self.name, sender_id)
            try:
                await self.ledger.release(self.name, inbound.delivery_id, owner)
            except Exception:
                logger.exception("%s: could not release a failed claim", self.name)
            return Outcome(sender_id, inbound.address, failed=True, recorded=recorded)
        finally:
            keeper.cancel()
            if admitted:
                self.channel.guard.done(sender_id)

    async def _numbered(self, sender_id: str, text: str) -> tuple[str, str | None]:
        """A numbered reply's or payload key's button payload and title, else the text and None.

        A payload key whose button is not found becomes an empty text (dropped, no reply).
        """
        keyed = PAYLOAD_KEY_RE.match(text) is not None
        number = number_of(text) if self.channel.NUMBERED_BUTTONS else None
        if number is None and not keyed:
            return text, None
        store = getattr(self.agent, "tracker_store", None)
        tracker = await store.retrieve(sender_id) if store is not None else None
        events = list(tracker.events) if tracker is not None else []
        if keyed:
            found = button_of_key(events, text)
            if found is None:
                logger.info("%s: a button of %s that is not in its tracker", self.name, sender_id)
                return "", None
            return found[1], found[0]
        buttons = latest_buttons(events)
        if 1 <= number <= len(buttons):
            title, payload = buttons[number - 1]
            return payload, title
        return text, None
