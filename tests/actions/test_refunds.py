"""Refund requests: asked to confirm first, filed once, and "what happened to my refund?".

Real actions against a real seeded store; trackers built by hand, replies collected with
a ``CollectingDispatcher``.
"""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from actions.refunds import (
    PENDING_REFUND,
    PHRASE_DECISION_NOTE,
    VALUE_DECISION_NOTE,
    ActionRefundRequest,
    ActionRefundStatus,
)
from actions.subscription import ActionConfirm, ActionDecline
from analytics.core.language import HANT, detect_script, to_traditional
from analytics.demo.customers import DEMO_EN, DEMO_EN_LATEST_ORDER, DEMO_NEW, DEMO_ZH
from analytics.store import repositories as repo
from analytics.store.models import Customer, RefundRequest
from tests.actions.conftest import MakeTracker, pending_slots, responses, slot_values
from tests.actions.domain import CJK, DOMAIN, MESSAGE_KEYS, REPO, rendered

REFUND_TEXT = "I want a refund, the beans were stale, call me on 13812345678"


def count(session: Session) -> int:
    session.rollback()  # a fresh snapshot: see what the actions committed
    return int(session.scalar(select(func.count(RefundRequest.id))) or 0)


def with_refund_message(tracker: Tracker, text: str = REFUND_TEXT) -> Tracker:
    """The tracker with the customer's earlier refund request in its events."""
    tracker.events.insert(
        0,
        {"event": "user", "text": text, "parse_data": {"intent": {"name": "refund_request"}}},
    )
    return tracker


def ask_refund(
    make_tracker: MakeTracker, dispatcher: CollectingDispatcher, customer: str = DEMO_EN
) -> dict[str, Any]:
    tracker = make_tracker(REFUND_TEXT, intent="refund_request", customer=customer)
    return slot_values(ActionRefundRequest().run(dispatcher, tracker, DOMAIN))


def confirm(
    make_tracker: MakeTracker,
    dispatcher: CollectingDispatcher,
    slots: dict[str, Any],
    customer: str | None = DEMO_EN,
    *,
    sender: str = "test-sender",
) -> dict[str, Any]:
    tracker = make_tracker("yes", intent="affirm", customer=customer, slots=slots, sender=sender)
    return slot_values(ActionConfirm().run(dispatcher, with_refund_message(tracker), DOMAIN))


def test_a_refund_is_confirmed_before_it_is_filed(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    before = count(session)
    asked = ask_refund(make_tracker, dispatcher)
    assert responses(dispatcher) == ["utter_confirm_refund"]
    assert dispatcher.messages[0]["order_number"] == DEMO_EN_LATEST_ORDER
    assert asked["pending_action"] == PENDING_REFUND
    assert asked["pending_customer_id"] == DEMO_EN
    assert asked["pending_detail"] == DEMO_EN_LATEST_ORDER
    assert count(session) == before  # nothing filed by asking
    text = rendered(dispatcher.messages[0], "en")
    assert DEMO_EN_LATEST_ORDER in text and "?" in text


def test_confirming_files_one_request_in_the_conversation_and_language(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    before = count(session)
    asked = ask_refund(make_tracker, dispatcher)
    cleared = confirm(make_tracker, dispatcher, {**asked, "language": "en"})
    assert cleared["pending_action"] is None and cleared["pending_detail"] is None
    assert responses(dispatcher) == ["utter_confirm_refund", "utter_refund_created"]
    assert count(session) == before + 1
    request = session.get(RefundRequest, dispatcher.messages[-1]["request_id"])
    assert request is not None and request.status == "open" and request.source == "chat"
    assert request.sender_id == "test-sender" and request.language == "en"
    assert "stale" in request.reason
    assert "13812345678" not in request.reason  # stored redacted
    # asking again: the open one is named, nothing new is asked or filed
    ask_refund(make_tracker, dispatcher)
    assert responses(dispatcher)[-1] == "utter_refund_exists"
    assert dispatcher.messages[-1]["request_id"] == request.id
    assert count(session) == before + 1


def test_declining_files_nothing(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    before = count(session)
    asked = ask_refund(make_tracker, dispatcher)
    tracker = make_tracker("no", intent="deny", customer=DEMO_EN, slots=asked)
    events = ActionDecline().run(dispatcher, tracker, DOMAIN)
    assert responses(dispatcher)[-1] == "utter_request_not_filed"
    assert slot_values(events)["pending_action"] is None
    assert count(session) == before


def test_another_customer_or_anonymous_cannot_confirm_a_refund(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    before = count(session)
    asked = ask_refund(make_tracker, dispatcher)
    for who in (DEMO_ZH, None):
        confirm(make_tracker, dispatcher, asked, customer=who)
        assert responses(dispatcher)[-1] == "utter_confirmation_other_customer"
    assert count(session) == before


def test_a_stale_refund_question_files_nothing(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    before = count(session)
    slots = {
        **pending_slots(PENDING_REFUND, DEMO_EN, age_seconds=3600),
        "pending_detail": DEMO_EN_LATEST_ORDER,
    }
    confirm(make_tracker, dispatcher, slots)
    assert responses(dispatcher) == ["utter_confirmation_expired"]
    assert count(session) == before


def test_a_forged_order_in_the_question_files_nothing(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    """The order named in the pending question is looked up among the customer's own."""
    before = count(session)
    slots = {**pending_slots(PENDING_REFUND, DEMO_ZH), "pending_detail": DEMO_EN_LATEST_ORDER}
    confirm(make_tracker, dispatcher, slots, customer=DEMO_ZH)
    assert responses(dispatcher) == ["utter_order_not_found"]
    assert count(session) == before


def test_refund_for_someone_elses_order_is_refused(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    before = count(session)
    entities = [{"entity": "order_id", "value": DEMO_EN_LATEST_ORDER}]
    ActionRefundRequest().run(
        dispatcher, make_tracker("退款", customer=DEMO_ZH, entities=entities), DOMAIN
    )
    assert responses(dispatcher) == ["utter_order_not_found"]
    assert count(session) == before


def status_of(make_tracker: MakeTracker, dispatcher: CollectingDispatcher, **kwargs: Any) -> str:
    ActionRefundStatus().run(
        dispatcher,
        make_tracker("what happened to my refund?", intent="refund_status", **kwargs),
        DOMAIN,
    )
    return str(responses(dispatcher)[-1])


def test_refund_status_follows_the_stored_decision(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    asked = ask_refund(make_tracker, dispatcher)
    confirm(make_tracker, dispatcher, asked)
    request_id = dispatcher.messages[-1]["request_id"]
    assert status_of(make_tracker, dispatcher, customer=DEMO_EN) == "utter_refund_status_open"
    assert dispatcher.messages[-1]["request_id"] == request_id
    session.rollback()
    repo.decide_refund(
        session, request_id, approve=False, note="Opened bag", by="founder", at=datetime.now(UTC)
    )
    session.commit()
    reply = status_of(make_tracker, dispatcher, customer=DEMO_EN, slots={"language": "en"})
    assert reply == "utter_refund_status_refused"
    text = rendered(dispatcher.messages[-1], "en")
    stored = session.get(RefundRequest, request_id)
    assert stored is not None and stored.decided_at is not None
    assert f"#{request_id}" in text and DEMO_EN_LATEST_ORDER in text
    assert stored.decided_at.strftime("%Y-%m-%d") in text and "Opened bag" in text


def test_refund_status_shows_only_the_customers_own_requests(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    asked = ask_refund(make_tracker, dispatcher)
    confirm(make_tracker, dispatcher, asked)
    request_id = dispatcher.messages[-1]["request_id"]
    new_customer = session.scalars(select(Customer).where(Customer.external_id == DEMO_NEW)).one()
    assert repo.refund_requests_of(session, new_customer.id) == []
    assert status_of(make_tracker, dispatcher, customer=DEMO_NEW) == "utter_refund_status_none"
    # naming someone else's order tells nothing about it
    entities = [{"entity": "order_id", "value": DEMO_EN_LATEST_ORDER}]
    reply = status_of(make_tracker, dispatcher, customer=DEMO_ZH, entities=entities)
    assert reply == "utter_refund_status_none"
    assert all(m.get("request_id") != request_id for m in dispatcher.messages[2:])
    # anonymous: sign in first
    assert status_of(make_tracker, dispatcher) == "utter_ask_sign_in"
    assert status_of(make_tracker, dispatcher, customer=DEMO_EN, forged=True) == "utter_ask_sign_in"


def nlg_verbatim_variables() -> frozenset[str]:
    """``bot.nlg.VERBATIM_VARIABLES``, read from the source (bot/ runs in the Rasa env)."""
    tree = ast.parse((REPO / "bot" / "nlg.py").read_text(encoding="utf-8"))
    for node in tree.body:
        targets = [node.target] if isinstance(node, ast.AnnAssign) else getattr(node, "targets", [])
        if any(isinstance(t, ast.Name) and t.id == "VERBATIM_VARIABLES" for t in targets):
            assert isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None
            call = node.value
            assert isinstance(call, ast.Call)
            return frozenset(ast.literal_eval(call.args[0]))
    raise AssertionError("bot/nlg.py has no VERBATIM_VARIABLES")


def as_traditional_writer_reads(message: dict[str, Any]) -> str:
    """The Chinese reply as bot/nlg.py sends it to a Traditional writer: the template and
    every value converted (s2tw), except the verbatim ones."""
    verbatim = nlg_verbatim_variables()
    template = next(
        v["text"] for v in DOMAIN["responses"][message["response"]] if not v.get("condition")
    )
    values = {
        k: v if k in verbatim or not isinstance(v, str) else to_traditional(v)
        for k, v in message.items()
        if k not in MESSAGE_KEYS and v is not None
    }
    return re.sub(r"{(\w+)}", lambda m: str(values[m.group(1)]), to_traditional(template))


@pytest.mark.parametrize("approve", [True, False])
def test_the_founders_note_reaches_a_traditional_writer_as_typed(
    store: str,
    session: Session,
    make_tracker: MakeTracker,
    dispatcher: CollectingDispatcher,
    approve: bool,
) -> None:
    asked = ask_refund(make_tracker, dispatcher)
    confirm(make_tracker, dispatcher, asked)
    request_id = dispatcher.messages[-1]["request_id"]
    note = "包装已拆，运费我们出"  # the founder types Simplified: it stays Simplified
    session.rollback()
    repo.decide_refund(
        session, request_id, approve=approve, note=note, by="founder", at=datetime.now(UTC)
    )
    session.commit()
    status_of(make_tracker, dispatcher, customer=DEMO_EN, slots={"language": "zh"})
    message = dispatcher.messages[-1]
    assert VALUE_DECISION_NOTE in nlg_verbatim_variables()
    assert note in message[VALUE_DECISION_NOTE]
    assert not any(note in str(v) for k, v in message.items() if k != VALUE_DECISION_NOTE)
    text = as_traditional_writer_reads(message)
    assert f"店主留言：「{note}」。" in text
    assert detect_script(text.replace(note, "")) == HANT  # the bot's own words converted
    assert note in rendered(message, "zh")  # a Simplified writer reads it the same


def test_the_words_around_the_note_are_the_same_in_both_scripts() -> None:
    # the phrase is passed with the note, unconverted: its Chinese must need no conversion
    phrase = next(
        v["text"] for v in DOMAIN["responses"][PHRASE_DECISION_NOTE] if not v.get("condition")
    )
    assert CJK.search(phrase) and to_traditional(phrase) == phrase
