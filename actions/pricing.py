"""``action_pricing``: prices straight from the product table."""

from __future__ import annotations

from rasa_sdk.events import EventType, SlotSet

from actions import formatting as fmt
from actions.base import ShopAction, Turn
from analytics.store import catalogue

SLOT_PRODUCT = "product"


class ActionPricing(ShopAction):
    """Gives a named product's price, or an overview of the price ranges."""

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_pricing"

    def act(self, turn: Turn) -> list[EventType]:
        """Answers with the price."""
        name = next(turn.tracker.get_latest_entity_values(SLOT_PRODUCT), None)
        product = catalogue.find_product(turn.session, name) if name else None
        if product is not None:
            turn.say(
                "utter_price",
                product=fmt.product_name(product, turn.language),
                price=fmt.money(product.price_cents),
            )
            return [SlotSet(SLOT_PRODUCT, None)]
        overview = catalogue.price_overview(turn.session)
        turn.say("utter_price_overview", **{k: fmt.money(v) for k, v in overview.items()})
        return [SlotSet(SLOT_PRODUCT, None)]
