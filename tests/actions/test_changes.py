"""Account changes the bot cannot make: explained, offered to the founder, asked first."""

from __future__ import annotations

from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.changes import PENDING_ACCOUNT_CHANGE, ActionUpdateAccount
from actions.subscription import ActionConfirm, ActionDecline
from analytics.demo.customers import DEMO_EN, DEMO_ZH
from analytics.store.models import ChangeRequest
from tests.actions.conftest import MakeTracker, responses, slot_values
from tests.actions.domain import DOMAIN, rendered

ASK = "please change my phone number to 13812345678"


def changes(session: Session) -> list[ChangeRequest]:
    session.rollback()
    return list(session.scalars(select(ChangeRequest)))


def ask(make_tracker: MakeTracker, dispatcher: CollectingDispatcher, **kwargs: object) -> dict:
    tracker = make_tracker(ASK, intent="update_account", **kwargs)
    return slot_values(ActionUpdateAccount().run(dispatcher, tracker, DOMAIN))


def answer(
    make_tracker: MakeTracker, dispatcher: CollectingDispatcher, action: type, slots: dict,
    customer: str | None = DEMO_EN,
) -> None:  # fmt: skip
    tracker = make_tracker("yes", intent="affirm", customer=customer, slots=slots)
    tracker.events.insert(
        0, {"event": "user", "text": ASK, "parse_data": {"intent": {"name": "update_account"}}}
    )
    action().run(dispatcher, tracker, DOMAIN)


def test_anonymous_customers_get_the_self_service_answer(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    asked = ask(make_tracker, dispatcher)
    assert responses(dispatcher) == ["utter_update_account"]
    assert asked["pending_action"] is None and changes(session) == []


def test_a_signed_in_customer_is_asked_then_the_request_is_filed_open_and_redacted(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    asked = ask(make_tracker, dispatcher, customer=DEMO_EN, slots={"language": "en"})
    assert responses(dispatcher) == ["utter_confirm_account_change"]
    assert asked["pending_action"] == PENDING_ACCOUNT_CHANGE
    assert "Account > Settings" in rendered(dispatcher.messages[0], "en")
    assert changes(session) == []  # asking files nothing
    answer(make_tracker, dispatcher, ActionConfirm, {**asked, "language": "en"})
    assert responses(dispatcher)[-1] == "utter_account_change_filed"
    [change] = changes(session)
    assert (change.kind, change.status, change.decided_at) == ("account_details", "open", None)
    assert change.id == dispatcher.messages[-1]["request_id"]
    assert "phone" in change.detail and "13812345678" not in change.detail  # redacted
    assert change.sender_id == "test-sender" and change.language == "en"


def test_no_or_someone_else_files_nothing(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    asked = ask(make_tracker, dispatcher, customer=DEMO_EN)
    answer(make_tracker, dispatcher, ActionDecline, asked)
    assert responses(dispatcher)[-1] == "utter_request_not_filed"
    asked = ask(make_tracker, dispatcher, customer=DEMO_EN)
    for other in (DEMO_ZH, None):
        answer(make_tracker, dispatcher, ActionConfirm, asked, customer=other)
        assert responses(dispatcher)[-1] == "utter_confirmation_other_customer"
    assert changes(session) == []
