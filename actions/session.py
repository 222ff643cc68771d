"""``action_session_start``: a new conversation session forgets pending questions.

Rasa runs it when a conversation starts and when a session expires (after
``session_expiration_time`` of silence, see ``bot/domain/core.yml``). Rasa's own
version carries every slot over when ``carry_over_slots_to_new_session`` is on; this
one carries over only the reply language, so a confirmation
asked in an earlier session (cancel, pause, an offer) can never be answered in a new
one, and who the customer is gets decided afresh from the next message.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import SLOT_LANGUAGE
from analytics.core.vocabulary import LANGUAGES

ACTION_LISTEN = "action_listen"


class ActionSessionStart(Action):
    """Starts a session, carrying over the reply language and nothing else."""

    def name(self) -> str:
        """The action's name in the domain (it replaces Rasa's default)."""
        return "action_session_start"

    def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> list[EventType]:
        """Returns the session start, the carried slots and ``action_listen``."""
        events: list[EventType] = [SessionStarted()]
        language = tracker.get_slot(SLOT_LANGUAGE)
        if language in LANGUAGES:
            events.append(SlotSet(SLOT_LANGUAGE, language))
        events.append(ActionExecuted(ACTION_LISTEN))
        return events
