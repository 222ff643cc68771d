"""Complaints, problem reports and handing the conversation to the founder."""

from __future__ import annotations

from datetime import UTC, datetime

from rasa_sdk.events import EventType

from actions import brain
from actions.base import ShopAction, Turn
from analytics.store import repositories as repo

REASON_ASKED = "customer asked for a person"
REASON_VIP_COMPLAINT = "VIP complaint"
REASON_VIP_REFUND = "VIP refund request"
REASON_LIVE_RISK = "high live risk"


def escalate_vip(turn: Turn, reason: str) -> bool:
    """Hands the conversation to the founder as a priority when it matters most.

    That is a VIP (high lifetime value), or a customer whose live risk from this
    week's conversations is high (the reason then names why, e.g. "asked about
    a late order three times this week").

    Returns:
        True if the conversation was handed over.
    """
    live_reason = brain.live_alert_reason(brain.live_risk_of(turn.session, turn.customer))
    if brain.is_vip(brain.scores_of(turn.session, turn.customer)):
        hand_off(turn, reason)
    elif live_reason is not None:
        hand_off(turn, f"{REASON_LIVE_RISK}: {live_reason}")
    else:
        return False
    turn.say("utter_handoff_priority")
    return True


def hand_off(turn: Turn, reason: str) -> None:
    """Marks the conversation as needing the founder."""
    repo.mark_handoff(
        turn.session,
        turn.sender_id,
        customer_id=turn.customer.id if turn.customer is not None else None,
        reason=reason,
        at=datetime.now(UTC),
    )


class ActionHandoff(ShopAction):
    """Flags the conversation for the founder and tells the customer."""

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_handoff"

    def act(self, turn: Turn) -> list[EventType]:
        """Marks the handoff."""
        hand_off(turn, REASON_ASKED)
        turn.say("utter_handoff")
        return []


class ActionComplain(ShopAction):
    """Apologises and offers a person; a VIP goes straight to the founder."""

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_complain"

    def act(self, turn: Turn) -> list[EventType]:
        """Answers a complaint."""
        if not escalate_vip(turn, REASON_VIP_COMPLAINT):
            turn.say("utter_complain")
        return []


class ActionReportProblem(ShopAction):
    """Apologises for a concrete problem and offers a refund or a person."""

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_report_problem"

    def act(self, turn: Turn) -> list[EventType]:
        """Answers a problem report."""
        turn.say("utter_report_problem")
        return []
