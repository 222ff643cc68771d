"""Which messaging channels run in this Rasa server, and sending into a conversation.

Every :class:`~bot.channels.messaging.base.MessagingInput` registers itself when Rasa builds
its blueprint. :func:`deliver_to_conversation` sends a message (the founder's, during a
takeover) to the customer of a conversation on the platform the customer wrote from: the
input channel and the ``channel_address`` metadata of the conversation's latest customer
message written by a messaging channel. Only a messaging channel sets ``input_channel`` to its
name, so an address another door's client put in its metadata is never used.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from rasa.shared.core.events import UserUttered

from bot.channels.messaging.outbound import OutMessage
from bot.channels.names import META_CHANNEL_ADDRESS

if TYPE_CHECKING:
    from bot.channels.messaging.base import MessagingInput

logger = logging.getLogger(__name__)

#: How long the founder's request waits for the platform (the send goes on after).
FOUNDER_WAIT_S = 10.0

_CHANNELS: dict[str, MessagingInput] = {}


def register(channel: MessagingInput) -> None:
    """Makes a channel the one that sends for its name (the latest registration wins)."""
    _CHANNELS[channel.name()] = channel


def unregister(name: str) -> None:
    """Forgets the channel of ``name`` (a server that stops serving it)."""
    _CHANNELS.pop(name, None)


def channel_named(name: str | None) -> MessagingInput | None:
    """The registered messaging channel of ``name``, or None."""
    return _CHANNELS.get(name) if isinstance(name, str) else None


def channel_names() -> list[str]:
    """The names of the registered messaging channels."""
    return sorted(_CHANNELS)


async def conversation_route(
    agent: Any, sender_id: str
) -> tuple[MessagingInput, dict[str, Any]] | None:
    """The messaging channel and address of a conversation's latest customer message.

    Args:
        agent: Rasa's agent (``app.ctx.agent``).
        sender_id: The conversation.

    Returns:
        ``(channel, address)``, or None if the conversation is unknown, has no message from a
        messaging channel served here, or the latest one came in on another channel.
    """
    store = getattr(agent, "tracker_store", None)
    if store is None:
        return None
    tracker = await store.retrieve_full_tracker(sender_id)
    if tracker is None:
        return None
    for event in reversed(tracker.events):
        if not isinstance(event, UserUttered):
            continue
        channel = channel_named(event.input_channel)
        address = (event.metadata or {}).get(META_CHANNEL_ADDRESS)
        if channel is None or not isinstance(address, dict):
            return None  # the customer is now on another door (widget, REST)
        return channel, address
    return None


async def deliver_to_conversation(agent: Any, sender_id: str, message: OutMessage) -> bool:
    """Sends ``message`` to the customer of a conversation on its messaging channel.

    The text is split to the platform's limit and each part is sent with retries
    (:meth:`MessagingInput.deliver`).

    Args:
        agent: Rasa's agent.
        sender_id: The conversation.
        message: What to send.

    Returns:
        Whether every part was sent; False also when the conversation is not on a messaging
        channel served by this server.
    """
    route = await conversation_route(agent, sender_id)
    if route is None:
        return False
    channel, address = route
    return await channel.deliver(sender_id, address, [message])


async def deliver_founder_message(
    agent: Any, sender_id: str, message: OutMessage, *, wait_s: float = FOUNDER_WAIT_S
) -> dict[str, Any] | None:
    """Sends the founder's message to a messaging conversation's customer, waiting a while.

    Args:
        agent: Rasa's agent.
        sender_id: The conversation.
        message: The founder's message.
        wait_s: How long to wait for the platform; the send (with its retries) goes on after.

    Returns:
        None when the conversation is not on a messaging channel served here, else
        ``{"channel": <name>, "delivered": True | False | None}`` (None: still being sent).
    """
    route = await conversation_route(agent, sender_id)
    if route is None:
        return None
    channel, address = route
    task = channel.spawn(channel.deliver(sender_id, address, [message]))
    done, _ = await asyncio.wait({task}, timeout=wait_s)
    delivered: bool | None = None
    if task in done:
        delivered = task.exception() is None and bool(task.result())
    return {"channel": channel.name(), "delivered": delivered}
