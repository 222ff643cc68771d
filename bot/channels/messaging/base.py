"""The base of every messaging channel (Telegram, Slack, Facebook, WeCom, WeChat, Feishu, DingTalk).

A platform subclass of :class:`MessagingInput` says how its platform's webhook is verified,
parsed and acknowledged and how one message is sent; this base does the rest of the webhook
flow, the same for all, at ``/webhooks/<name>/webhook`` (``GET`` and ``POST``):

1. a body over :data:`MAX_BODY_BYTES` gets 413 unread;
2. :meth:`MessagingInput.handshake` answers a URL verification (its answer, if any, is final);
3. :meth:`MessagingInput.verify` checks the signature: a refused request gets its 401/403,
   writes nothing and is logged as one throttled warning per client address (no body);
4. :meth:`MessagingInput.parse` decodes (decrypts) the deliveries (:class:`Inbound`) and
   :meth:`MessagingInput.admit` may still refuse them (DingTalk: a sign used before);
5. per delivery (:mod:`bot.channels.messaging.conversation`): the ledger claim (a redelivery is
   acknowledged and not processed), link/unlink commands, the customer a binding names,
   a numbered-button reply, the door's hygiene and rate limits, and Rasa;
6. the answer (:meth:`MessagingInput.acknowledge`) waits at most :attr:`ACK_WITHIN_S` for the
   bot; processing goes on in a task the channel keeps referenced, and the replies are split
   and sent with retries (:mod:`bot.channels.messaging.outbound`). A delivery whose processing
   failed within that time gets 500 (its claim released) so the platform retries it. One
   that fails after the 200 is not retried by any platform: it is logged as an error naming
   the conversation and saying whether Rasa had recorded the message (its replies were then
   not sent) or not (the message is lost);
7. with a passive reply (WeChat) the remaining parts are sent only once the HTTP answer has
   been written, and :data:`PASSIVE_FOLLOW_UP_DELAY_S` later, so they arrive after it.

The conversation id is ``<name>:<user_id>`` (or ``<name>:h<sha256>`` for a user id outside
``[A-Za-z0-9_.:@-]``); the address where replies go is kept in the message metadata as
``channel_address`` for the founder's later messages (:mod:`bot.channels.messaging.registry`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.exceptions import PayloadTooLarge
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.limits import DoorGuard, DoorLimits, RateWindow, client_address
from bot.channels.log_throttle import LogThrottle
from bot.channels.messaging import registry
from bot.channels.messaging.conversation import Conversation, Outcome, sender_id_of
from bot.channels.messaging.ledger import Ledger
from bot.channels.messaging.outbound import (
    OutMessage,
    PlatformError,
    render,
    send_with_retries,
)
from bot.channels.messaging.platform import setting
from bot.channels.messaging.split import utf16_length

logger = logging.getLogger(__name__)

#: Largest webhook body read (bytes); platforms send a few KB.
MAX_BODY_BYTES = 256 * 1024
#: How long a stopping server waits for replies still being processed or sent.
STOP_WAIT_S = 10.0
#: Most conversations whose send lock is remembered.
MAX_SEND_LOCKS = 10_000
#: A refused message (too long, too fast) is answered at most once a minute per conversation.
REFUSAL_REPLIES_PER_MINUTE = 1
ERROR_TOO_LARGE = "too_large"
ERROR_METHOD = "method_not_allowed"
ERROR_BAD_REQUEST = "bad_request"
ERROR_FAILED = "processing_failed"
#: Seconds after the HTTP answer (a passive reply) before the next parts go by the API: the
#: platform handles the answer before a message sent a moment later.
PASSIVE_FOLLOW_UP_DELAY_S = 1.0
#: Longest wait for the HTTP answer to be written before the next parts are sent anyway.
ANSWER_WRITE_WAIT_S = 10.0
#: Request attribute: the event set once the HTTP answer (with a passive reply) is written.
CTX_ANSWER_WRITTEN = "messaging_answer_written"

__all__ = [
    "Inbound",
    "MessagingInput",
    "OutMessage",
    "PlatformError",
    "sender_id_of",
]


@dataclass(frozen=True)
class Inbound:
    """One delivery of a platform: who wrote what, and where the answer goes.

    Attributes:
        delivery_id: The platform's message/event id: the idempotency key.
        user_id: The platform's stable id of the person writing.
        text: The text, or a button payload (callback) as text.
        address: JSON-safe: where replies go (chat id, open_id, session webhook...). Kept in
            the message metadata as ``channel_address`` for later (takeover) sends.
    """

    delivery_id: str
    user_id: str
    text: str
    address: dict[str, Any]


class MessagingInput(InputChannel):
    """A messaging platform's webhook channel (subclasses implement the platform's part).

    Class attributes a subclass sets: :attr:`ENV` (the environment variables it needs),
    :attr:`ARGUMENTS` and :attr:`DEFAULTS` (its constructor's arguments),
    :attr:`MAX_CHARS` (longest text of one message, measured by :meth:`text_length`),
    :attr:`ACK_WITHIN_S`, :attr:`NUMBERED_BUTTONS`, :attr:`PASSIVE_REPLY`.
    """

    ENV: ClassVar[tuple[str, ...]] = ()
    #: The constructor's keyword arguments (:meth:`from_credentials`).
    ARGUMENTS: ClassVar[tuple[str, ...]] = ()
    #: Values of arguments left blank (``api_url``: the platform's API).
    DEFAULTS: ClassVar[Mapping[str, str]] = {}
    MAX_CHARS: ClassVar[int] = 2000
    ACK_WITHIN_S: ClassVar[float] = 2.5
    NUMBERED_BUTTONS: ClassVar[bool] = False
    PASSIVE_REPLY: ClassVar[bool] = False

    def __init__(self, limits: DoorLimits | None = None) -> None:
        """Creates the channel's shared parts (subclasses call it first).

        Args:
            limits: The door limits (default: from the environment, ``CHAT_*``).
        """
        self.limits = limits or DoorLimits.from_env()
        self.guard = DoorGuard(self.limits)
        self.refusals = LogThrottle(logger)
        self.refusal_replies = RateWindow(REFUSAL_REPLIES_PER_MINUTE)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._send_locks: OrderedDict[str, asyncio.Lock] = OrderedDict()

    # -- the platform's part (subclasses) ------------------------------------------------------
    @classmethod
    def name(cls) -> str:
        """The channel's name (``telegram``...): its URL is ``/webhooks/<name>/webhook``."""
        raise NotImplementedError

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        """Creates the channel from its ``bot/credentials.yml`` entry.

        Each of :attr:`ARGUMENTS` is the entry's key of that name when set, else the
        environment variable ``<NAME>_<KEY>`` (``access_token`` of ``telegram``:
        ``TELEGRAM_ACCESS_TOKEN``), else its :attr:`DEFAULTS` value (else blank).
        """
        if not cls.ARGUMENTS:
            raise NotImplementedError
        arguments = {
            key: setting(credentials, key, f"{cls.name()}_{key}".upper())
            or cls.DEFAULTS.get(key, "")
            for key in cls.ARGUMENTS
        }
        return cls(**arguments)

    @classmethod
    def text_length(cls, text: str) -> int:
        """How the platform measures a text against :attr:`MAX_CHARS` (UTF-16 units)."""
        return utf16_length(text)

    async def handshake(self, request: Request) -> HTTPResponse | None:
        """Answers a URL verification (GET or a challenge event); None if it is not one."""
        return None

    def verify(self, request: Request) -> HTTPResponse | None:
        """None when the request is authentic, else its 401/403 answer."""
        raise NotImplementedError

    def parse(self, request: Request) -> list[Inbound] | HTTPResponse:
        """The deliveries of an authentic request, or an answer without processing."""
        raise NotImplementedError

    async def send(self, address: dict[str, Any], message: OutMessage) -> None:
        """Sends one message (text within :attr:`MAX_CHARS`) with ONE API call.

        Raises:
            PlatformError: The platform refused or could not be reached.
        """
        raise NotImplementedError

    async def admit(
        self, request: Request, inbounds: list[Inbound], ledger: Ledger
    ) -> HTTPResponse | None:
        """A last check of an authentic, parsed request: None, or its refusal (stores nothing).

        Args:
            request: The request.
            inbounds: Its deliveries (maybe none).
            ledger: The delivery ledger (DingTalk claims its single-use signs in it).
        """
        return None

    def acknowledge(self, request: Request, passive: OutMessage | None) -> HTTPResponse:
        """The 200 answer of a processed request (``passive``: a reply riding on it)."""
        return response.json({"ok": True})

    # -- the shared flow -----------------------------------------------------------------------
    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """The routes ``GET /`` (health) and ``GET|POST /webhook``; registers the channel."""
        registry.register(self)
        bp = Blueprint(f"messaging_{self.name()}", __name__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["GET", "POST"])
        async def webhook(request: Request) -> HTTPResponse | None:
            answer = await self.handle_webhook(request, on_new_message)
            if getattr(request.ctx, CTX_ANSWER_WRITTEN, None) is None:
                return answer
            try:  # a passive reply: write it now, then let the next parts go
                sent = await request.respond(answer)
                await sent.send(end_stream=True)
            finally:
                self.answer_written(request)
            return None

        @bp.listener("before_server_stop")
        async def finish_sends(*_: Any) -> None:
            # Replies still being processed or sent get a moment before the server stops.
            pending = {task for task in self._tasks if not task.done()}
            if pending:
                logger.info("%s: waiting for %d reply task(s)", self.name(), len(pending))
                await asyncio.wait(pending, timeout=STOP_WAIT_S)

        @bp.exception(PayloadTooLarge)
        async def body_too_large(request: Request, _: Exception) -> HTTPResponse:
            self._log_refusal(request, "a body over the size limit")
            return response.json({"error": ERROR_TOO_LARGE}, status=413)

        return bp

    def _log_refusal(self, request: Request, why: str) -> None:
        address = client_address(
            request.ip or "", request.headers.get("X-Forwarded-For"), self.limits.trusted_proxies
        )
        self.refusals.warning(
            f"{self.name()} {address}", "%s webhook: refused %s from %s", self.name(), why, address
        )

    async def handle_webhook(
        self, request: Request, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> HTTPResponse:
        """The whole webhook flow (module docstring)."""
        declared = request.headers.get("Content-Length", "")
        if (declared.isdigit() and int(declared) > MAX_BODY_BYTES) or len(
            request.body or b""
        ) > MAX_BODY_BYTES:
            self._log_refusal(request, "a body over the size limit")
            return response.json({"error": ERROR_TOO_LARGE}, status=413)
        refused: HTTPResponse | None = None
        try:
            answer = await self.handshake(request)
            if answer is None and request.method == "POST":
                refused = self.verify(request)
        except Exception as error:  # a platform's bug must not show a traceback of the body
            logger.error(
                "%s webhook: checking a request failed: %s", self.name(), type(error).__name__
            )
            self._log_refusal(request, "a request that could not be checked")
            return response.json({"error": ERROR_BAD_REQUEST}, status=400)
        if answer is not None:
            return answer
        if request.method != "POST":
            return response.json({"error": ERROR_METHOD}, status=405)
        if refused is not None:
            self._log_refusal(request, f"a request that failed verification ({refused.status})")
            return refused
        try:
            parsed = self.parse(request)
        except Exception:
            logger.exception("%s webhook: could not parse an authentic request", self.name())
            return response.json({"error": ERROR_BAD_REQUEST}, status=400)
        if isinstance(parsed, HTTPResponse):
            return parsed
        agent = getattr(request.app.ctx, "agent", None)
        conversation = Conversation(self, agent, on_new_message)
        try:
            refused = await self.admit(request, parsed, conversation.ledger)
        except Exception as error:
            logger.error("%s webhook: admitting a request failed: %s", self.name(), error)
            return response.json({"error": ERROR_FAILED}, status=500)
        if refused is not None:
            self._log_refusal(request, f"a request that was not admitted ({refused.status})")
            return refused
        if not parsed:
            return self.acknowledge(request, None)
        work = self.spawn(conversation.converse_all(parsed))
        passive: OutMessage | None = None
        failed = answered = False
        written: asyncio.Event | None = None
        try:
            done, _ = await asyncio.wait({work}, timeout=self.ACK_WITHIN_S)
            if work in done:
                # A failure within the wait (the ledger's database down...): 500, so that
                # the platform delivers again.
                failed = work.exception() is not None or any(o.failed for o in work.result())
                if not failed and self.PASSIVE_REPLY:
                    passive = self._take_passive(work.result())
            answered = not failed
            if passive is not None:
                written = asyncio.Event()
                setattr(request.ctx, CTX_ANSWER_WRITTEN, written)
        finally:
            # Runs also when the request is cancelled: the replies still go out.
            self.spawn(self._deliver_outcomes(work, answered=answered, after=written))
        if failed:
            return response.json({"error": ERROR_FAILED}, status=500)
        return self.acknowledge(request, passive)

    def answer_written(self, request: Request) -> None:
        """Says that the HTTP answer of ``request`` is written (its next parts may go)."""
        written = getattr(request.ctx, CTX_ANSWER_WRITTEN, None)
        if written is not None:
            written.set()

    def _take_passive(self, outcomes: list[Outcome]) -> OutMessage | None:
        """Takes the first part of the first reply off the send queue (WeChat OA)."""
        for outcome in outcomes:
            if outcome.parts:
                return outcome.parts.pop(0)
        return None

    def spawn(self, coroutine: Awaitable[Any]) -> asyncio.Task[Any]:
        """Runs ``coroutine`` in a task kept referenced until it is done."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _deliver_outcomes(
        self,
        work: asyncio.Task[list[Outcome]],
        *,
        answered: bool = False,
        after: asyncio.Event | None = None,
    ) -> None:
        """Sends the outcomes' parts (after ``after`` is set and a moment, if given).

        Args:
            work: The processing task.
            answered: Whether the platform was answered 200 before processing ended: a
                failure is then final (no platform retries it) and logged as an error.
            after: Set once the HTTP answer carrying a passive reply is written.
        """
        try:
            outcomes = await work
        except Exception:
            logger.exception("%s webhook: processing failed", self.name())
            return
        if after is not None:
            try:
                await asyncio.wait_for(after.wait(), ANSWER_WRITE_WAIT_S)
            except asyncio.TimeoutError:
                logger.warning("%s: the HTTP answer was not written in time", self.name())
            await asyncio.sleep(PASSIVE_FOLLOW_UP_DELAY_S)
        for outcome in outcomes:
            if outcome.failed and answered:
                logger.error(
                    "%s: answered 200, then processing the message of %s failed; %s",
                    self.name(),
                    outcome.sender_id,
                    "Rasa had recorded it (in the tracker), its replies were not sent"
                    if outcome.recorded
                    else "it is lost (not in the tracker) and the platform will not retry",
                )
            if outcome.parts:
                await self.deliver_parts(outcome.sender_id, outcome.address, outcome.parts)

    def rendered(self, message: OutMessage) -> list[OutMessage]:
        """The platform messages one reply takes (split, buttons numbered if need be)."""
        return render(
            message,
            max_chars=self.MAX_CHARS,
            numbered=self.NUMBERED_BUTTONS,
            length=self.text_length,
        )

    def _send_lock(self, sender_id: str) -> asyncio.Lock:
        lock = self._send_locks.get(sender_id)
        if lock is None:
            lock = self._send_locks[sender_id] = asyncio.Lock()
            for key in [k for k, v in self._send_locks.items() if not v.locked()]:
                if len(self._send_locks) <= MAX_SEND_LOCKS:
                    break
                del self._send_locks[key]
        self._send_locks.move_to_end(sender_id)
        return lock

    async def deliver(
        self, sender_id: str, address: dict[str, Any], messages: list[OutMessage]
    ) -> bool:
        """Sends replies to a conversation: rendered, split, each part with retries.

        Args:
            sender_id: The conversation (for ordering and the log).
            address: Where the platform delivers (the ``channel_address``).
            messages: The replies.

        Returns:
            Whether every part was sent (it stops at the first part that could not be).
        """
        parts = [part for message in messages for part in self.rendered(message)]
        return await self.deliver_parts(sender_id, address, parts)

    async def deliver_parts(
        self, sender_id: str, address: dict[str, Any], parts: list[OutMessage]
    ) -> bool:
        """Sends already rendered parts in order, one conversation at a time."""
        async with self._send_lock(sender_id):
            for index, part in enumerate(parts):
                sent = await send_with_retries(
                    lambda part=part: self.send(address, part),  # type: ignore[misc]
                    channel=self.name(),
                    sender_id=sender_id,
                )
                if not sent:
                    left = len(parts) - index
                    logger.error(
                        "%s: %d message(s) to %s not sent (kept in the conversation)",
                        self.name(),
                        left,
                        sender_id,
                    )
                    return False
        return True
