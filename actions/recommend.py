"""``action_recommend``: what the customer might like next."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rasa_sdk.events import EventType

from actions import brain
from actions import formatting as fmt
from actions.base import ShopAction, Turn
from analytics.store import catalogue
from analytics.store import repositories as repo
from analytics.store.models import Product

RECOMMENDATION_COUNT = 3
PHRASE_ALSO_BOUGHT = "utter_phrase_reason_also_bought"
PHRASE_POPULAR = "utter_phrase_reason_popular"
KEY_SKU = "sku"
KEY_BECAUSE = "because"


def reason_text(turn: Turn, recommendation: Mapping[str, Any]) -> str:
    """Why a product is recommended, in the reply language.

    Args:
        turn: The current turn.
        recommendation: One of the brain's stored recommendations (``sku`` and, for a
            collaborative pick, ``because``: the bought product behind it).

    Returns:
        "Customers who bought X also bought Y" when both products are known, else
        "Popular with our customers".
    """
    because, sku = recommendation.get(KEY_BECAUSE), recommendation.get(KEY_SKU)
    bought = catalogue.product_by_sku(turn.session, str(because)) if because else None
    picked = catalogue.product_by_sku(turn.session, str(sku)) if sku else None
    if bought is None or picked is None:
        return turn.phrase(PHRASE_POPULAR)
    return turn.phrase(
        PHRASE_ALSO_BOUGHT,
        because=fmt.product_name(bought, turn.language),
        product=fmt.product_name(picked, turn.language),
    )


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
            names = [fmt.product_name(p, turn.language) for p in picks]
            turn.say(
                "utter_recommend_personal",
                items=fmt.join_names(names, turn.language),
                reason=reason_text(turn, score.recommendations[0]),
            )
            return []
        customer_id = turn.customer.id if turn.customer is not None else None
        products = repo.best_sellers(
            turn.session, exclude_customer_id=customer_id, limit=RECOMMENDATION_COUNT
        )
        names = [fmt.product_name(p, turn.language) for p in products]
        turn.say("utter_recommend", items=fmt.join_names(names, turn.language))
        return []
