"""``action_recommend``: what the customer might like next."""

from __future__ import annotations

from rasa_sdk.events import EventType

from actions import brain
from actions import formatting as fmt
from actions.base import ShopAction, Turn
from analytics.store import catalogue
from analytics.store import repositories as repo
from analytics.store.models import Product

RECOMMENDATION_COUNT = 3


class ActionRecommend(ShopAction):
    """Recommends from the brain's stored picks, else best sellers not yet bought."""

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_recommend"

    def act(self, turn: Turn) -> list[EventType]:
        """Picks products and names them in the reply language."""
        score = brain.scores_of(turn.session, turn.customer)
        picks: list[Product] = []
        for sku in brain.recommended_skus(score):
            product = catalogue.product_by_sku(turn.session, sku)
            if product is not None and product.active:
                picks.append(product)
            if len(picks) == RECOMMENDATION_COUNT:
                break
        if picks and score is not None:
            top = score.recommendations[0]
            names = [fmt.product_name(p, turn.language) for p in picks]
            reason = str(top.get("en" if turn.language == fmt.LANG_EN else "zh") or "")
            turn.say(
                "utter_recommend_personal",
                items=fmt.join_names(names, turn.language),
                reason=reason,
            )
            return []
        customer_id = turn.customer.id if turn.customer is not None else None
        products = repo.best_sellers(
            turn.session, exclude_customer_id=customer_id, limit=RECOMMENDATION_COUNT
        )
        names = [fmt.product_name(p, turn.language) for p in products]
        turn.say("utter_recommend", items=fmt.join_names(names, turn.language))
        return []
