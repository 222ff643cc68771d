"""action_refund_request creates one request per order, never two."""

from __future__ import annotations

from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from actions.refunds import ActionRefundRequest
from analytics.demo.customers import DEMO_EN, DEMO_EN_LATEST_ORDER, DEMO_ZH
from analytics.store.models import RefundRequest
from tests.actions.conftest import MakeTracker, responses
from tests.actions.domain import DOMAIN


def test_refund_request_is_recorded_once(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    before = session.scalar(select(func.count(RefundRequest.id)))
    tracker = make_tracker(
        "I want a refund, the beans were stale", intent="refund_request", customer=DEMO_EN
    )
    ActionRefundRequest().run(dispatcher, tracker, DOMAIN)
    ActionRefundRequest().run(dispatcher, tracker, DOMAIN)
    assert responses(dispatcher) == ["utter_refund_created", "utter_refund_exists"]
    assert dispatcher.messages[0]["order_number"] == DEMO_EN_LATEST_ORDER
    assert dispatcher.messages[0]["request_id"] == dispatcher.messages[1]["request_id"]
    session.rollback()  # end the read snapshot to see what the action committed
    assert session.scalar(select(func.count(RefundRequest.id))) == before + 1
    request = session.get(RefundRequest, dispatcher.messages[0]["request_id"])
    assert request is not None and "stale" in request.reason and request.source == "chat"


def test_refund_for_someone_elses_order_is_refused(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    before = session.scalar(select(func.count(RefundRequest.id)))
    entities = [{"entity": "order_id", "value": DEMO_EN_LATEST_ORDER}]
    ActionRefundRequest().run(
        dispatcher, make_tracker("退款", customer=DEMO_ZH, entities=entities), DOMAIN
    )
    assert responses(dispatcher) == ["utter_order_not_found"]
    session.rollback()
    assert session.scalar(select(func.count(RefundRequest.id))) == before
