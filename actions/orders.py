"""``action_order_status``: where the customer's order is."""

from __future__ import annotations

from rasa_sdk.events import EventType, SlotSet

from actions import formatting as fmt
from actions.base import ShopAction, Turn
from actions.phrases import Phrasebook
from analytics.store import repositories as repo
from analytics.store.models import (
    ORDER_CANCELLED,
    ORDER_REFUNDED,
    SHIP_DELAYED,
    SHIP_DELIVERED,
    SHIP_IN_TRANSIT,
    SHIP_PENDING,
    Order,
)

SLOT_ORDER_ID = "order_id"
NO_TRACKING_NUMBER = "-"
UTTER_ORDER_PENDING = "utter_order_pending"
#: shipping status -> the response describing an open order.
STATUS_RESPONSES = {
    SHIP_PENDING: UTTER_ORDER_PENDING,
    SHIP_IN_TRANSIT: "utter_order_in_transit",
    SHIP_DELAYED: "utter_order_delayed",
    SHIP_DELIVERED: "utter_order_delivered",
}
#: order status -> the response describing a closed order.
CLOSED_RESPONSES = {
    ORDER_CANCELLED: "utter_order_cancelled",
    ORDER_REFUNDED: "utter_order_refunded",
}


def order_reply(order: Order, phrases: Phrasebook) -> tuple[str, dict[str, str]]:
    """Chooses the response and its values for an order's state.

    Args:
        order: The order, with items loaded.
        phrases: The reply language's phrases.

    Returns:
        The response name and its template values.
    """
    values = {
        "order_number": order.order_number,
        "items": fmt.order_items(order, phrases.language),
        "created": fmt.day(order.created_at, phrases),
        "carrier": fmt.carrier(order.carrier, phrases),
        "tracking_number": order.tracking_number or NO_TRACKING_NUMBER,
        "eta": fmt.day(order.estimated_delivery, phrases),
        "delivered": fmt.day(order.delivered_at, phrases),
    }
    if order.status in CLOSED_RESPONSES:
        return CLOSED_RESPONSES[order.status], values
    return STATUS_RESPONSES.get(order.shipping_status, UTTER_ORDER_PENDING), values


def find_order(turn: Turn) -> Order | None:
    """The order the customer named (only among their own), else their latest.

    Tells the customer when there is none (unknown number, or no orders yet).

    Args:
        turn: The current turn, with a verified customer.

    Returns:
        The order, or None after telling the customer why not.
    """
    assert turn.customer is not None
    number = next(turn.tracker.get_latest_entity_values(SLOT_ORDER_ID), None)
    if number:
        order = repo.get_order(turn.session, turn.customer.id, number)
        if order is None:
            turn.say("utter_order_not_found", order_number=number.upper())
        return order
    order = repo.latest_order(turn.session, turn.customer.id)
    if order is None:
        turn.say("utter_no_orders")
    return order


class ActionOrderStatus(ShopAction):
    """Answers with the named order's status, or the latest order's."""

    requires_customer = True

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_order_status"

    def act(self, turn: Turn) -> list[EventType]:
        """Looks the order up (only among the customer's own) and reports it."""
        order = find_order(turn)
        if order is None:
            return [SlotSet(SLOT_ORDER_ID, None)]
        response, values = order_reply(order, turn.phrases)
        turn.say(response, **values)
        return [SlotSet(SLOT_ORDER_ID, None)]
