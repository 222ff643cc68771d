"""``action_recommend``: what the customer might like next."""

from __future__ import annotations

from rasa_sdk.events import EventType

from actions import formatting as fmt
from actions.base import ShopAction, Turn
from analytics import repo

RECOMMENDATION_COUNT = 3


class ActionRecommend(ShopAction):
    """Recommends best sellers the customer has not bought yet."""

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_recommend"

    def act(self, turn: Turn) -> list[EventType]:
        """Picks products and names them in the reply language."""
        customer_id = turn.customer.id if turn.customer is not None else None
        products = repo.best_sellers(
            turn.session, exclude_customer_id=customer_id, limit=RECOMMENDATION_COUNT
        )
        names = [fmt.product_name(p, turn.language) for p in products]
        turn.say("utter_recommend", items=fmt.join_names(names, turn.language))
        return []
