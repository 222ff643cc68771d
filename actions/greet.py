"""``action_greet``: greets a signed-in customer by name."""

from __future__ import annotations

from rasa_sdk.events import EventType

from actions.base import ShopAction, Turn


class ActionGreet(ShopAction):
    """Greets by name when the customer is verified, generically otherwise."""

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_greet"

    def act(self, turn: Turn) -> list[EventType]:
        """Sends the greeting."""
        if turn.customer is not None:
            turn.say("utter_greet_known", name=turn.customer.name)
        else:
            turn.say("utter_greet")
        return []
