"""The widget channel's socket.io server: small text packets only.

The widget never sends binary data, but python-socketio accepts it: a packet may announce any
number of binary attachments, and the server keeps every attachment that arrives in memory
until the last announced one is there, with no limit of its own. One socket could thus fill
the Rasa process's memory before any door limit runs. Here:

* :class:`TextOnlyPacket` refuses any packet that is binary or announces attachments;
* :class:`WidgetSocketServer` drops the socket that sent one (nothing is kept);
* every engine.io message is capped at :func:`socket_message_cap` bytes (64 KB by default; a
  larger one closes the connection). The door's own limits (text, metadata) are far smaller,
  so the widget's messages always fit and get the door's polite refusals instead.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from socketio import AsyncServer
from socketio.packet import BINARY_ACK, BINARY_EVENT, Packet

logger = logging.getLogger(__name__)

#: Smallest cap of one engine.io message (a polling request body or a websocket frame).
SOCKET_MESSAGE_BYTES = 64 * 1024
#: The cap is at least this many times ``CHAT_MAX_BODY_BYTES`` (a message plus its JSON).
BODY_FACTOR = 4
#: How long dropping a socket may wait for its close packet to be sent.
DROP_TIMEOUT_S = 5.0


def socket_message_cap(max_body_bytes: int) -> int:
    """The largest engine.io message accepted: 64 KB, or 4 x ``CHAT_MAX_BODY_BYTES``."""
    return max(SOCKET_MESSAGE_BYTES, BODY_FACTOR * max_body_bytes)


class BinaryRefused(ValueError):
    """A client sent binary data or announced binary attachments."""


class TextOnlyPacket(Packet):  # type: ignore[misc]
    """A socket.io packet that decodes only text packets without attachments."""

    def decode(self, encoded_packet: Any) -> int:
        """Decodes a text packet; raises :class:`BinaryRefused` for anything binary.

        Args:
            encoded_packet: One engine.io message.

        Returns:
            0 (never any attachments).

        Raises:
            BinaryRefused: For a binary message, a binary event or ack, or a packet that
                announces attachments.
        """
        if not isinstance(encoded_packet, str):
            raise BinaryRefused("binary message")
        attachments = super().decode(encoded_packet)
        if attachments or self.packet_type in (BINARY_EVENT, BINARY_ACK):
            raise BinaryRefused(f"binary packet announcing {attachments} attachments")
        return 0


class WidgetSocketServer(AsyncServer):  # type: ignore[misc]
    """python-socketio's server with :class:`TextOnlyPacket`: binary data drops the socket."""

    def __init__(self, **kwargs: Any) -> None:
        """Creates the server (keyword arguments as for ``socketio.AsyncServer``)."""
        super().__init__(serializer=TextOnlyPacket, **kwargs)
        self._drops: dict[str, asyncio.Task[None]] = {}

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        """Dispatches one engine.io message; a binary one drops its socket instead."""
        try:
            await super()._handle_eio_message(eio_sid, data)
        except BinaryRefused as refused:
            self._binary_packet.pop(eio_sid, None)
            if eio_sid in self._drops:
                return  # already being dropped (its next frames arrived meanwhile)
            logger.warning("Dropped widget socket %s: %s", eio_sid, refused)
            # Not awaited here: closing waits for the close packet to be sent, which on
            # long-polling needs the client's next request.
            self._drops[eio_sid] = asyncio.ensure_future(self._drop(eio_sid))

    async def _drop(self, eio_sid: str) -> None:
        try:
            await asyncio.wait_for(self.eio.disconnect(eio_sid), DROP_TIMEOUT_S)
        except asyncio.TimeoutError:
            self.eio.sockets.pop(eio_sid, None)
        finally:
            self._drops.pop(eio_sid, None)
