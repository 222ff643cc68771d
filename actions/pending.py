"""Pending confirmations ("are you sure?"), bound to the customer who asked.

When an action asks the customer to confirm something (cancel or pause the
subscription, accept a retention offer, file a refund request), four slots remember the
question:

- ``pending_action``: what is waiting (``cancel_subscription``, ``refund_request``, ...);
- ``pending_customer_id``: the verified customer who was asked;
- ``pending_at``: when (Unix seconds, the action server's clock);
- ``pending_detail``: what the question is about, when the kind needs it (the order
  number of a refund), so a later message cannot change what "yes" applies to.

An answer is acted on only if it comes, verified, from that same customer within
``PENDING_CONFIRMATION_SECONDS`` (10 minutes by default). Anything else (another
customer on the same Rasa sender id, an anonymous message, a stale question) is
refused politely and the question forgotten, so nothing is ever applied to anyone.
A new session forgets it too: ``action_session_start`` (:mod:`actions.session`)
carries over only the reply language.
"""

from __future__ import annotations

import enum
import logging
import math
import time

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet

from actions.base import SLOT_PENDING, Turn
from actions.settings import get_settings

logger = logging.getLogger(__name__)

SLOT_PENDING_CUSTOMER = "pending_customer_id"
SLOT_PENDING_AT = "pending_at"
SLOT_PENDING_DETAIL = "pending_detail"
PENDING_SLOTS = (SLOT_PENDING, SLOT_PENDING_CUSTOMER, SLOT_PENDING_AT, SLOT_PENDING_DETAIL)
UTTER_OTHER_CUSTOMER = "utter_confirmation_other_customer"
UTTER_EXPIRED = "utter_confirmation_expired"


class Standing(enum.Enum):
    """Whether the pending question may be answered by this turn."""

    NONE = "none"  #: nothing is pending
    VALID = "valid"  #: the customer who was asked, in time
    OTHER_CUSTOMER = "other_customer"  #: anybody else (or nobody verified)
    EXPIRED = "expired"  #: asked too long ago (or when is unknown)


def pending_kind(tracker: Tracker) -> str | None:
    """What the bot is waiting on a yes/no for, whoever may answer it."""
    value = tracker.get_slot(SLOT_PENDING)
    return value if isinstance(value, str) and value else None


def pending_detail(tracker: Tracker) -> str | None:
    """What the pending question is about (e.g. an order number), if it said."""
    value = tracker.get_slot(SLOT_PENDING_DETAIL)
    return value if isinstance(value, str) and value else None


def ask(
    turn: Turn, kind: str, *, detail: str | None = None, now: float | None = None
) -> list[EventType]:
    """The events that remember a question asked to the turn's verified customer.

    Args:
        turn: The current turn (its customer must be verified).
        kind: What is pending.
        detail: What it is about, when the kind needs it (e.g. an order number).
        now: The current Unix time (defaults to the clock).

    Returns:
        The four slot events.

    Raises:
        ValueError: When the turn has no verified customer.
    """
    if turn.customer is None:
        raise ValueError("only a verified customer can be asked to confirm")
    at = time.time() if now is None else now
    return [
        SlotSet(SLOT_PENDING, kind),
        SlotSet(SLOT_PENDING_CUSTOMER, turn.customer.external_id),
        SlotSet(SLOT_PENDING_AT, at),
        SlotSet(SLOT_PENDING_DETAIL, detail),
    ]


def clear() -> list[EventType]:
    """The events that forget any pending question."""
    return [SlotSet(name, None) for name in PENDING_SLOTS]


def standing(turn: Turn, *, now: float | None = None) -> Standing:
    """Whether this turn may answer the pending question.

    Args:
        turn: The current turn.
        now: The current Unix time (defaults to the clock).

    Returns:
        :attr:`Standing.VALID` only for the verified customer who was asked, within
        the allowed time.
    """
    if pending_kind(turn.tracker) is None:
        return Standing.NONE
    asked = turn.tracker.get_slot(SLOT_PENDING_CUSTOMER)
    if turn.customer is None or not asked or asked != turn.customer.external_id:
        return Standing.OTHER_CUSTOMER
    at = turn.tracker.get_slot(SLOT_PENDING_AT)
    if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at):
        return Standing.EXPIRED
    current = time.time() if now is None else now
    if abs(current - float(at)) > get_settings().pending_seconds:
        return Standing.EXPIRED
    return Standing.VALID


def refuse(turn: Turn, state: Standing) -> list[EventType]:
    """Tells the customer why their answer changes nothing, and forgets the question.

    Args:
        turn: The current turn.
        state: Its standing (``OTHER_CUSTOMER`` or ``EXPIRED``).

    Returns:
        The events that clear the pending question.
    """
    if state is Standing.OTHER_CUSTOMER:
        logger.warning(
            "Refused a confirmation of %s from someone other than who was asked",
            pending_kind(turn.tracker),
        )
        turn.say(UTTER_OTHER_CUSTOMER)
    else:
        turn.say(UTTER_EXPIRED)
    return clear()
