"""``action_account_status``: plan, renewal and points of the customer."""

from __future__ import annotations

from rasa_sdk.events import EventType

from actions import brain
from actions import formatting as fmt
from actions.base import ShopAction, Turn
from analytics.store import catalogue
from analytics.store import repositories as repo
from analytics.store.models import SUB_PAUSED, Subscription

PHRASE_PAUSED_UNTIL = "utter_phrase_paused_until"
PHRASE_NEXT_BOX = "utter_phrase_next_box"


def plan_name(turn: Turn, subscription: Subscription) -> str:
    """Returns the subscription box's name in the reply language."""
    product = catalogue.product_by_sku(turn.session, subscription.plan)
    return fmt.product_name(product, turn.language) if product else subscription.plan


def renewal_text(turn: Turn, subscription: Subscription) -> str:
    """Describes the next renewal or the end of a pause (empty when neither is known)."""
    if subscription.status == SUB_PAUSED and subscription.paused_until is not None:
        return turn.phrase(
            PHRASE_PAUSED_UNTIL, until=fmt.day(subscription.paused_until, turn.phrases)
        )
    if subscription.next_renewal_at is not None:
        return turn.phrase(
            PHRASE_NEXT_BOX, when=fmt.day(subscription.next_renewal_at, turn.phrases)
        )
    return ""


class ActionAccountStatus(ShopAction):
    """Tells the customer their plan, renewal date and points."""

    requires_customer = True

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_account_status"

    def act(self, turn: Turn) -> list[EventType]:
        """Reads the subscription and points and answers."""
        assert turn.customer is not None
        note = brain.segment_note(brain.scores_of(turn.session, turn.customer), turn.phrases)
        subscription = repo.current_subscription(turn.session, turn.customer.id)
        if subscription is None:
            turn.say(
                "utter_account_no_subscription", points=turn.customer.points, segment_note=note
            )
            return []
        turn.say(
            "utter_account_status",
            plan=plan_name(turn, subscription),
            status=fmt.subscription_status(subscription.status, turn.phrases),
            renewal=renewal_text(turn, subscription),
            points=turn.customer.points,
            segment_note=note,
        )
        return []
