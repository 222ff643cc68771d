"""The REST door: Rasa's REST channel with input limits, rate limits and the identity rule.

Registered in ``bot/credentials.yml`` as ``bot.channels.rest.RestInput``; its name is
``rest``, so the URL stays ``POST /webhooks/rest/webhook`` with the same body
``{"sender", "message", "metadata"?}`` and the same answer (the bot's messages as a JSON list;
``?stream=true`` streams them as lines).

Before Rasa sees a message the door refuses, with ``{"error": <code>, "message": "<zh> /
<en>"}``:

* 413 ``too_large``: a body over ``CHAT_MAX_BODY_BYTES`` or metadata over
  ``CHAT_MAX_METADATA_BYTES``; 413 ``too_long``: a text over ``CHAT_MAX_MESSAGE_CHARS``
  (a body over Sanic's ``REQUEST_MAX_SIZE``, which ``bot/serve.py`` sets to 1 MiB, is
  refused before it is read, with the same answer);
* 400 ``bad_encoding`` (not UTF-8), ``bad_json`` (not a JSON object), ``bad_metadata``,
  ``bad_sender`` (missing, or not 1-128 printable characters), ``reserved_sender`` (32
  lowercase hex digits: the form of a widget session id, which only its session token may
  continue), ``empty``, ``bad_message`` (not text);
* 429 ``rate_limited`` with ``Retry-After``: a sender over ``CHAT_SENDER_PER_MINUTE`` or with
  ``CHAT_SENDER_IN_FLIGHT`` messages still being answered, or a client address over
  ``CHAT_IP_PER_MINUTE`` (``X-Forwarded-For`` only from ``CHAT_TRUSTED_PROXIES``; loopback is
  exempt unless ``CHAT_RATE_EXEMPT_LOOPBACK=false``).

Control characters and lone surrogates are removed from the text and the metadata; identity
keys are removed from the metadata and ``verified_customer_id`` is set when the host website's
token verifies (:mod:`bot.channels.identity`). The client cannot choose ``input_channel``.

The founder's takeover messages (:mod:`bot.channels.rest_pending`): the answer to a message
starts with the founder messages written since the customer's previous exchange, each once,
marked ``"author": "founder"`` (with ``timestamp``), then the bot's replies (none while the
founder has the conversation: the message is recorded and the bot stays silent).
``GET /webhooks/rest/pending?sender=<id>`` (identity, if any, in the headers
``X-Customer-Id``, ``X-Customer-Expires-At``, ``X-Customer-Token``) or ``POST
/webhooks/rest/pending`` ``{"sender", "metadata"?}`` (identity in the metadata, as when sending)
returns the pending founder messages without sending one, and marks them delivered. The sender
checks, ``reserved_sender`` and the rate limits apply as on the webhook; a caller who is not the
conversation's verified customer gets ``[]``. Contract: ``docs/channels-rest.md``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from asyncio import Queue
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from rasa.core.channels.rest import QueueOutputChannel
from rasa.core.channels.rest import RestInput as RasaRestInput
from rasa.utils.endpoints import bool_arg
from sanic import Blueprint, response
from sanic.exceptions import PayloadTooLarge
from sanic.request import Request
from sanic.response import HTTPResponse, ResponseStream

from bot.channels.door import (
    Prepared,
    bad_sender,
    is_valid_sender,
    parse_json_body,
    prepare_message,
    reserved_sender,
    too_large,
)
from bot.channels.identity import accept_legacy_from_env, secrets_from_env
from bot.channels.limits import DoorGuard, DoorLimits, Refusal, client_address
from bot.channels.rest_pending import carried_by, claim_pending, pending_caller

logger = logging.getLogger(__name__)

CHANNEL_NAME = "rest"
HEADER_FORWARDED_FOR = "X-Forwarded-For"


def refusal_response(refusal: Refusal) -> HTTPResponse:
    """The JSON answer of a refusal (with ``Retry-After`` on 429)."""
    headers = {}
    if refusal.retry_after is not None:
        headers["Retry-After"] = str(refusal.retry_after)
    return response.json(refusal.body(), status=refusal.status, headers=headers)


def request_address(request: Request, limits: DoorLimits) -> str:
    """The client address of an HTTP request (trusted proxies' ``X-Forwarded-For``)."""
    return client_address(
        request.ip or "", request.headers.get(HEADER_FORWARDED_FOR), limits.trusted_proxies
    )


class RestInput(RasaRestInput):
    """Rasa's REST channel behind the door's limits and identity rule."""

    @classmethod
    def name(cls) -> str:
        """``rest``: the URL stays ``/webhooks/rest/webhook``."""
        return CHANNEL_NAME

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        """Creates the channel (the limits come from the environment)."""
        return cls()

    def __init__(self, limits: DoorLimits | None = None) -> None:
        """Creates the channel.

        Args:
            limits: The door limits (default: from the environment).
        """
        self.limits = limits or DoorLimits.from_env()
        self.guard = DoorGuard(self.limits)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """The routes: ``GET /`` (health) and ``POST /webhook``."""
        bp = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse | ResponseStream:
            return await self._receive(request, on_new_message)

        @bp.route("/pending", methods=["GET", "POST"])
        async def pending(request: Request) -> HTTPResponse:
            return await self._pending(request)

        @bp.exception(PayloadTooLarge)
        async def body_too_large(request: Request, _: Exception) -> HTTPResponse:
            # Sanic refused the body before reading it (bot/serve.py caps request sizes).
            return refusal_response(too_large(self.limits.max_body_bytes))

        return bp

    async def _receive(
        self, request: Request, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> HTTPResponse | ResponseStream:
        address = request_address(request, self.limits)
        refusal = self.guard.check_address(address)
        if refusal is not None:
            return refusal_response(refusal)
        declared = request.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.limits.max_body_bytes:
            return refusal_response(too_large(self.limits.max_body_bytes))
        body = parse_json_body(request.body or b"", self.limits)
        if isinstance(body, Refusal):
            return refusal_response(body)
        sender = body.get("sender")
        if not is_valid_sender(sender):
            return refusal_response(bad_sender())
        refusal = reserved_sender(sender)
        if refusal is not None:
            return refusal_response(refusal)
        prepared = prepare_message(
            body.get("message"),
            body.get("metadata"),
            self.limits,
            secrets=secrets_from_env(),
            accept_legacy=accept_legacy_from_env(),
        )
        if isinstance(prepared, Refusal):
            return refusal_response(prepared)
        refusal = self.guard.admit_sender(sender)
        if refusal is not None:
            return refusal_response(refusal)
        agent = getattr(request.app.ctx, "agent", None)
        message_id = uuid.uuid4().hex
        if bool_arg(request, "stream", default=False):
            # Sanic 21 (Rasa's) has response.stream; newer Sanic stubs do not.
            return response.stream(  # type: ignore[attr-defined,no-any-return]
                self._stream(on_new_message, prepared, sender, agent, message_id),
                content_type="text/event-stream",
            )
        try:
            collector = CollectingOutputChannel()
            await self._process(on_new_message, prepared, sender, collector, message_id)
            founder = await self._founder_messages(agent, sender, message_id)
            return response.json(founder + collector.messages)
        finally:
            self.guard.done(sender)

    async def _founder_messages(self, agent: Any, sender: str, message_id: str) -> list[Any]:
        """The founder messages the answer to ``message_id`` carries (none if that fails)."""
        try:
            return await carried_by(agent, sender, message_id)
        except Exception:
            logger.exception("Could not read the founder messages of %s", sender)
            return []

    async def _pending(self, request: Request) -> HTTPResponse:
        """``GET|POST /pending``: the founder messages pending for the caller, marked delivered."""
        address = request_address(request, self.limits)
        refusal = self.guard.check_address(address)
        if refusal is not None:
            return refusal_response(refusal)
        asked = pending_caller(request, self.limits)
        if isinstance(asked, Refusal):
            return refusal_response(asked)
        sender, caller = asked
        refusal = self.guard.admit_sender(sender)
        if refusal is not None:
            return refusal_response(refusal)
        try:
            agent = getattr(request.app.ctx, "agent", None)
            messages = await claim_pending(agent, sender, caller)
        except Exception:
            logger.exception("Could not fetch the founder messages of %s", sender)
            messages = []
        finally:
            self.guard.done(sender)
        return response.json(messages, headers={"Cache-Control": "no-store"})

    def _stream(
        self,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        prepared: Prepared,
        sender: str,
        agent: Any,
        message_id: str,
    ) -> Callable[[Any], Awaitable[None]]:
        """The streaming answer; the sender's in-flight slot is released when it ends.

        Founder messages pending before the message are claimed and written first; one the
        founder wrote while the message was on its way is written after the bot's replies.
        """

        async def write(resp: Any, items: list[Any]) -> None:
            for item in items:
                await resp.write(json.dumps(item) + "\n")

        async def guarded(resp: Any) -> None:
            try:
                try:
                    early = await claim_pending(agent, sender, prepared.customer_id)
                except Exception:
                    logger.exception("Could not fetch the founder messages of %s", sender)
                    early = []
                await write(resp, early)
                queue: Queue = Queue()
                collector = QueueOutputChannel(queue)
                task = asyncio.ensure_future(
                    self._process(on_new_message, prepared, sender, collector, message_id)
                )
                task.add_done_callback(lambda _: queue.put_nowait("DONE"))
                while (item := await queue.get()) != "DONE":
                    await write(resp, [item])
                await task
                await write(resp, await self._founder_messages(agent, sender, message_id))
            finally:
                self.guard.done(sender)

        return guarded

    async def _process(
        self,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        prepared: Prepared,
        sender: str,
        collector: CollectingOutputChannel,
        message_id: str | None = None,
    ) -> None:
        message = UserMessage(
            prepared.text,
            collector,
            sender,
            input_channel=self.name(),
            metadata=prepared.metadata,
            message_id=message_id,
        )
        try:
            await on_new_message(message)
        except asyncio.CancelledError:
            logger.error("A REST message of %s timed out", sender)
        except Exception:
            logger.exception("A REST message of %s failed", sender)
