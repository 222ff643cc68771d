"""``action_refund_request``: opens a refund request the founder reviews."""

from __future__ import annotations

from datetime import UTC, datetime

from rasa_sdk.events import EventType, SlotSet

from actions.base import ShopAction, Turn
from actions.orders import SLOT_ORDER_ID, find_order
from actions.support import REASON_VIP_REFUND, escalate_vip
from analytics.store import repositories as repo


class ActionRefundRequest(ShopAction):
    """Creates (idempotently) a refund request for the named or latest order."""

    requires_customer = True

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_refund_request"

    def act(self, turn: Turn) -> list[EventType]:
        """Finds the order and records the request."""
        assert turn.customer is not None
        order = find_order(turn)
        if order is None:
            return [SlotSet(SLOT_ORDER_ID, None)]
        text = (turn.tracker.latest_message or {}).get("text") or ""
        at = datetime.now(UTC)
        request = repo.create_refund_request(
            turn.session, turn.customer.id, order_id=order.id, reason=text[:500] or "-", at=at
        )
        if request.created_at != at:  # the open request that already existed
            turn.say("utter_refund_exists", request_id=request.id, order_number=order.order_number)
            return [SlotSet(SLOT_ORDER_ID, None)]
        turn.say("utter_refund_created", request_id=request.id, order_number=order.order_number)
        escalate_vip(turn, REASON_VIP_REFUND)
        return [SlotSet(SLOT_ORDER_ID, None)]
