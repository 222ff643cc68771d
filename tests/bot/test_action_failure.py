"""ActionFailurePolicy: the apology after a silent custom action or session start."""

from __future__ import annotations

from rasa.shared.core.constants import (
    ACTION_EXTRACT_SLOTS,
    ACTION_LISTEN_NAME,
    ACTION_SESSION_START_NAME,
)
from rasa.shared.core.events import ActionExecuted, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.policies.action_failure import failed_session_start


def _tracker(*events: object) -> DialogueStateTracker:
    return DialogueStateTracker.from_events("s", list(events))  # type: ignore[arg-type]


def test_a_silent_session_start_before_the_message_is_a_failure() -> None:
    tracker = _tracker(
        ActionExecuted(ACTION_SESSION_START_NAME),
        UserUttered("我的订单到哪了", {"name": "order_status"}),
        SlotSet("language", "zh"),
        ActionExecuted(ACTION_EXTRACT_SLOTS),
    )
    assert failed_session_start(tracker)


def test_a_session_start_that_ran_is_not_a_failure() -> None:
    tracker = _tracker(
        ActionExecuted(ACTION_SESSION_START_NAME),
        SessionStarted(),
        ActionExecuted(ACTION_LISTEN_NAME),
        UserUttered("hi", {"name": "greet"}),
    )
    assert not failed_session_start(tracker)


def test_once_an_action_has_answered_the_turn_it_is_no_longer_a_failure() -> None:
    tracker = _tracker(
        ActionExecuted(ACTION_SESSION_START_NAME),
        UserUttered("hi", {"name": "greet"}),
        ActionExecuted("utter_technical_difficulty"),
    )
    assert not failed_session_start(tracker)
    assert not failed_session_start(_tracker())
