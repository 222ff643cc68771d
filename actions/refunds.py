"""Refund requests: asked to confirm, then filed; and "what happened to my refund?".

``action_refund_request`` finds the order (named, among the customer's own, else their
latest) and asks the customer to confirm before filing anything (a pending question,
:mod:`actions.pending`, bound to the customer, the time and the order number).
``action_confirm`` then files the request with :func:`file_refund`; ``action_decline``
files nothing. The founder approves or refuses it in the console (the "Requests" queue),
which sends the decision to the conversation; ``action_refund_status`` answers from the
stored status, only about the verified customer's own requests.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from rasa_sdk.events import EventType, SlotSet

from actions import formatting as fmt
from actions import pending
from actions.base import ShopAction, Turn
from actions.orders import SLOT_ORDER_ID, find_order
from actions.support import REASON_VIP_REFUND, escalate_vip
from analytics.loop.privacy import redact
from analytics.store import repositories as repo
from analytics.store.models import REFUND_APPROVED, REFUND_OPEN, RefundRequest

logger = logging.getLogger(__name__)

PENDING_REFUND = "refund_request"
INTENT_REFUND = "refund_request"
MAX_REASON_CHARS = 500
NO_REASON = "-"
NO_ORDER = "-"
PHRASE_DECISION_NOTE = "utter_phrase_decision_note"
#: The response variable holding the founder's note: bot/nlg.py leaves it unconverted.
VALUE_DECISION_NOTE = "decision_note"
#: stored status -> the response telling the customer about a request in it.
STATUS_RESPONSES = {
    REFUND_OPEN: "utter_refund_status_open",
    REFUND_APPROVED: "utter_refund_status_approved",
}
UTTER_REFUND_REFUSED = "utter_refund_status_refused"


def refund_reason(events: Iterable[dict[str, Any]]) -> str:
    """The customer's words asking for the refund, redacted and cut short.

    The reason is the latest user message classified ``refund_request`` (the "yes" that
    confirms it is not a reason); personal data in it is replaced by placeholders
    (:func:`analytics.loop.privacy.redact`).
    """
    for event in reversed(list(events)):
        if event.get("event") != "user":
            continue
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        if intent == INTENT_REFUND:
            text = redact(str(event.get("text") or "")).strip()
            if text.startswith("/"):  # a button's payload, not the customer's words
                return NO_REASON
            return text[:MAX_REASON_CHARS] or NO_REASON
    return NO_REASON


def open_request_for(turn: Turn, order_id: int) -> RefundRequest | None:
    """The customer's open request for the order, if one exists already."""
    assert turn.customer is not None
    for request in repo.refund_requests_of(turn.session, turn.customer.id, limit=50):
        if request.order_id == order_id and request.status == REFUND_OPEN:
            return request
    return None


class ActionRefundRequest(ShopAction):
    """Asks to confirm a refund request for the named or latest order (files nothing)."""

    requires_customer = True

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_refund_request"

    def act(self, turn: Turn) -> list[EventType]:
        """Finds the order and asks for confirmation (or says one is open already)."""
        order = find_order(turn)
        if order is None:
            return [SlotSet(SLOT_ORDER_ID, None), *pending.clear()]
        existing = open_request_for(turn, order.id)
        if existing is not None:
            turn.say("utter_refund_exists", request_id=existing.id, order_number=order.order_number)
            return [SlotSet(SLOT_ORDER_ID, None), *pending.clear()]
        turn.say(
            "utter_confirm_refund",
            order_number=order.order_number,
            items=fmt.order_items(order, turn.language),
        )
        return [
            SlotSet(SLOT_ORDER_ID, None),
            *pending.ask(turn, PENDING_REFUND, detail=order.order_number),
        ]


def file_refund(turn: Turn) -> list[EventType]:
    """Files the confirmed refund request (``action_confirm`` calls this).

    The order is the one the question named (``pending_detail``), looked up again among
    the customer's own orders.

    Returns:
        The events that clear the pending question.
    """
    assert turn.customer is not None
    number = pending.pending_detail(turn.tracker)
    order = repo.get_order(turn.session, turn.customer.id, number) if number else None
    if order is None:
        logger.warning("A confirmed refund named no order of the customer; nothing filed")
        turn.say("utter_order_not_found", order_number=number or NO_ORDER)
        return pending.clear()
    at = datetime.now(UTC)
    request = repo.create_refund_request(
        turn.session,
        turn.customer.id,
        order_id=order.id,
        reason=refund_reason(turn.tracker.events),
        at=at,
        sender_id=turn.sender_id,
        language=turn.language,
    )
    if request.created_at != at:  # filed meanwhile (another tab, a repeated "yes")
        turn.say("utter_refund_exists", request_id=request.id, order_number=order.order_number)
        return pending.clear()
    turn.say("utter_refund_created", request_id=request.id, order_number=order.order_number)
    escalate_vip(turn, REASON_VIP_REFUND)
    return pending.clear()


def refund_status_reply(request: RefundRequest, turn: Turn) -> tuple[str, dict[str, Any]]:
    """The response and values telling the customer where a request stands.

    The same responses carry the founder's decision when the console sends it, so what
    the customer is told then and later is the same. The founder's note is passed as
    ``decision_note``, one of ``bot.nlg.VERBATIM_VARIABLES``: a Traditional writer reads
    the bot's words in Traditional and the note exactly as the founder typed it.
    """
    values: dict[str, Any] = {
        "request_id": request.id,
        "order_number": request.order.order_number if request.order is not None else NO_ORDER,
        "created": fmt.day(request.created_at, turn.phrases),
    }
    if request.status == REFUND_OPEN:
        return STATUS_RESPONSES[REFUND_OPEN], values
    note = request.decision_note or ""
    values["decided"] = fmt.day(request.decided_at, turn.phrases)
    values[VALUE_DECISION_NOTE] = turn.phrase(PHRASE_DECISION_NOTE, note=note) if note else ""
    return STATUS_RESPONSES.get(request.status, UTTER_REFUND_REFUSED), values


class ActionRefundStatus(ShopAction):
    """Answers "what happened to my refund?" from the stored status."""

    requires_customer = True

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_refund_status"

    def act(self, turn: Turn) -> list[EventType]:
        """Reports the named order's latest request, else the customer's latest one."""
        assert turn.customer is not None
        requests = repo.refund_requests_of(turn.session, turn.customer.id, limit=50)
        number = next(turn.tracker.get_latest_entity_values(SLOT_ORDER_ID), None)
        if number:
            order = repo.get_order(turn.session, turn.customer.id, number)
            requests = [r for r in requests if order is not None and r.order_id == order.id]
        if not requests:
            turn.say("utter_refund_status_none")
            return [SlotSet(SLOT_ORDER_ID, None)]
        response, values = refund_status_reply(requests[0], turn)
        turn.say(response, **values)
        return [SlotSet(SLOT_ORDER_ID, None)]
