"""Carrying out a founder message's plan: through Rasa to the customer, then the answer.

The message takes the console's take-over path (:class:`web.console.takeover.RasaBridge`):
the bot is paused in the conversation, then the founder's message goes to Rasa's founder
route, which appends it to the tracker and delivers it on the conversation's own channel
(widget socket, REST pending, or the messaging platform it came from). The store records
the take-over as the console does. The founder then gets the acknowledgement in the app the
message came from, saying what Rasa reported (:meth:`RasaBridge.say`): sent; recorded in
the conversation but refused by the customer's app (``delivered: false``, e.g. WeChat's
48-hour window); or still being retried (``delivered: null``).

When the message fails after the bot was paused, the bot is resumed (the customer is not
left without answers, and nothing is half-done); if even that fails, the take-over is
recorded so the console shows the conversation as taken over and the founder can hand it
back there. Runs after the hook has answered the platform (WeCom retries a callback
not answered within five seconds).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from analytics.store.models import Conversation
from web.console import deps
from web.console.queries import takeover as takeover_queries
from web.console.takeover import TakeoverError
from web.founder_hooks import telegram as telegram_app
from web.founder_hooks import texts, wecom
from web.founder_hooks.config import HookSettings
from web.founder_hooks.message import KIND_TELEGRAM, FounderMessage
from web.founder_hooks.routing import ACTION_ACK, ACTION_HANDBACK, ACTION_SEND, Plan, release

logger = logging.getLogger(__name__)


def writer() -> sessionmaker[Session]:
    """Sessions on the store that write (the console's engine and ``BEGIN IMMEDIATE``)."""
    return deps._factory(write_intent=True)  # noqa: SLF001 - the console's one engine


def acknowledge(settings: HookSettings, message: FounderMessage, text: str) -> bool:
    """Answers the founder in the app ``message`` came from.

    Returns:
        Whether the app accepted the answer.
    """
    if message.kind == KIND_TELEGRAM:
        return telegram_app.send_ack(settings, text, message.message_id)
    return wecom.send_ack(settings, text)


def _author(settings: HookSettings, message: FounderMessage) -> str:
    return f"{settings.console_user} ({message.kind})"[:100]


def _record_takeover(settings: HookSettings, message: FounderMessage, plan: Plan) -> None:
    with writer()() as db:
        conversation = db.get(Conversation, plan.conversation_id)
        if conversation is not None:
            takeover_queries.start_takeover(db, conversation, _author(settings, message))


def _undo_pause(settings: HookSettings, message: FounderMessage, plan: Plan) -> str:
    """After a refused message: resume the bot, else record the take-over; the answer."""
    try:
        deps.rasa_bridge().resume(plan.sender_id)
    except TakeoverError as error:
        logger.warning("Bot left paused for alert %s: %s", plan.ref, str(error)[:200])
        _record_takeover(settings, message, plan)
        return texts.NOT_SENT_PAUSED.format(ref=plan.ref, link=plan.link)
    return texts.NOT_SENT.format(ref=plan.ref, link=plan.link)


def _send(settings: HookSettings, message: FounderMessage, plan: Plan) -> str:
    bridge = deps.rasa_bridge()
    paused = False
    try:
        bridge.pause(plan.sender_id)
        paused = True
        answer = bridge.say(plan.sender_id, plan.text)
    except TakeoverError as error:
        logger.warning(
            "Founder reply %s for alert %s not delivered: %s",
            message.kind,
            plan.ref,
            str(error)[:200],
        )
        with writer()() as db:
            release(db, plan.event_key)
        if paused:
            return _undo_pause(settings, message, plan)
        return texts.NOT_SENT.format(ref=plan.ref, link=plan.link)
    _record_takeover(settings, message, plan)
    delivered = answer.get("delivered", True)
    if delivered is False:
        logger.warning("Founder reply for alert %s refused by the customer's app", plan.ref)
        return texts.DELIVERY_REFUSED.format(ref=plan.ref, link=plan.link)
    if delivered is None:
        logger.info("Founder reply for alert %s recorded, still being sent", plan.ref)
        return texts.STILL_SENDING.format(ref=plan.ref)
    logger.info("Founder reply from %s sent to conversation of alert %s", message.kind, plan.ref)
    return texts.SENT.format(ref=plan.ref)


def _hand_back(plan: Plan) -> str:
    try:
        deps.rasa_bridge().resume(plan.sender_id)
    except TakeoverError as error:
        logger.warning("Hand-back of alert %s failed: %s", plan.ref, str(error)[:200])
        return texts.NOT_SENT.format(ref=plan.ref, link=plan.link)
    with writer()() as db:
        takeover_queries.end_takeover(db, plan.conversation_id)
    return texts.HANDED_BACK.format(ref=plan.ref)


def carry_out(
    settings: HookSettings,
    message: FounderMessage,
    plan: Plan,
    ack: Callable[[HookSettings, FounderMessage, str], bool] = acknowledge,
) -> None:
    """Does what the plan says and answers the founder (never raises: runs after the answer).

    Args:
        settings: The hooks' settings.
        message: The founder's message.
        plan: Its plan (:func:`web.founder_hooks.routing.plan`).
        ack: Sends the answer to the founder.
    """
    try:
        if plan.action == ACTION_SEND:
            answer = _send(settings, message, plan)
        elif plan.action == ACTION_HANDBACK:
            answer = _hand_back(plan)
        elif plan.action == ACTION_ACK:
            answer = plan.ack
        else:
            return
        ack(settings, message, answer)
    except Exception:  # noqa: BLE001 - a background task: log, never crash the server
        logger.exception("Founder reply from %s could not be carried out", message.kind)
