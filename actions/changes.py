"""``action_update_account``: a change to the account the founder makes, asked first.

The bot cannot change an address, phone number or e-mail itself. A signed-in customer
who asks is told how to do it on the site and asked whether the request should go to the
founder instead; only "yes" (``action_confirm``, the same pending-question rules as
everywhere, :mod:`actions.pending`) files it as an **open** change request for the
console's "Requests" queue, with the customer's words redacted. The founder approves or
refuses it with a note and the decision is sent to the conversation
(:mod:`web.console.routes.requests`). An anonymous customer gets the self-service answer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from rasa_sdk.events import EventType

from actions import pending
from actions.base import ShopAction, Turn
from analytics.loop.privacy import redact
from analytics.store import repositories as repo
from analytics.store.models import CHANGE_ACCOUNT

logger = logging.getLogger(__name__)

PENDING_ACCOUNT_CHANGE = "account_change"
INTENT_UPDATE_ACCOUNT = "update_account"
MAX_DETAIL_CHARS = 500
NO_DETAIL = "-"


def change_wording(events: Iterable[dict[str, Any]]) -> str:
    """The customer's words asking for the change (latest ``update_account``), redacted."""
    for event in reversed(list(events)):
        if event.get("event") != "user":
            continue
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        if intent == INTENT_UPDATE_ACCOUNT:
            text = redact(str(event.get("text") or "")).strip()
            if text.startswith("/"):  # a button's payload, not the customer's words
                return NO_DETAIL
            return text[:MAX_DETAIL_CHARS] or NO_DETAIL
    return NO_DETAIL


class ActionUpdateAccount(ShopAction):
    """Explains self-service and offers to pass the change to the founder (asks first)."""

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_update_account"

    def act(self, turn: Turn) -> list[EventType]:
        """Anonymous: how to do it on the site. Signed in: that, and "shall I ask the founder?"."""
        if turn.customer is None:
            turn.say("utter_update_account")
            return pending.clear()
        turn.say("utter_confirm_account_change")
        return pending.ask(turn, PENDING_ACCOUNT_CHANGE)


def file_account_change(turn: Turn) -> list[EventType]:
    """Files the confirmed request as an open change request (``action_confirm`` calls this)."""
    assert turn.customer is not None
    change = repo.record_change(
        turn.session,
        turn.customer.id,
        kind=CHANGE_ACCOUNT,
        detail=change_wording(turn.tracker.events),
        at=datetime.now(UTC),
        sender_id=turn.sender_id,
        language=turn.language,
        done=False,
    )
    turn.say("utter_account_change_filed", request_id=change.id)
    return pending.clear()
