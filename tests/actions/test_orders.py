"""action_order_status against the seeded demo shop."""

from __future__ import annotations

from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.orders import ActionOrderStatus
from analytics.demo.customers import (
    DEMO_EN,
    DEMO_EN_LATEST_ORDER,
    DEMO_NEW,
    DEMO_ZH,
    DEMO_ZH_LATEST_ORDER,
)
from analytics.store.models import Customer, Order
from tests.actions.conftest import MakeTracker, responses
from tests.actions.domain import DOMAIN


def test_anonymous_customer_is_asked_to_sign_in(
    store: str, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    ActionOrderStatus().run(dispatcher, make_tracker("我的订单到哪了"), DOMAIN)
    assert responses(dispatcher) == ["utter_ask_sign_in"]


def test_forged_hash_is_asked_to_sign_in(
    store: str, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    ActionOrderStatus().run(
        dispatcher, make_tracker("where", customer=DEMO_ZH, forged=True), DOMAIN
    )
    assert responses(dispatcher) == ["utter_ask_sign_in"]


def test_latest_order_in_transit(
    store: str, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    ActionOrderStatus().run(dispatcher, make_tracker("我的订单到哪了", customer=DEMO_ZH), DOMAIN)
    [message] = dispatcher.messages
    assert message["response"] == "utter_order_in_transit"
    assert message["order_number"] == DEMO_ZH_LATEST_ORDER
    assert message["tracking_number"] not in ("", "-")


def test_english_items_are_named_in_english(
    store: str, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    tracker = make_tracker("where is my order", customer=DEMO_EN, slots={"language": "en"})
    ActionOrderStatus().run(dispatcher, tracker, DOMAIN)
    [message] = dispatcher.messages
    assert message["order_number"] == DEMO_EN_LATEST_ORDER
    assert message["response"] == "utter_order_delivered"
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in message["items"])


def test_named_order_of_another_customer_is_not_found(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    entities = [{"entity": "order_id", "value": DEMO_EN_LATEST_ORDER.lower()}]
    ActionOrderStatus().run(
        dispatcher, make_tracker("where is it", customer=DEMO_ZH, entities=entities), DOMAIN
    )
    assert responses(dispatcher) == ["utter_order_not_found"]
    assert DEMO_EN_LATEST_ORDER in dispatcher.messages[0]["order_number"]


def test_named_own_order_is_found(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    customer = session.scalars(select(Customer).where(Customer.external_id == DEMO_ZH)).one()
    oldest = session.scalars(
        select(Order).where(Order.customer_id == customer.id).order_by(Order.created_at)
    ).first()
    assert oldest is not None and oldest.order_number != DEMO_ZH_LATEST_ORDER
    entities = [{"entity": "order_id", "value": oldest.order_number}]
    ActionOrderStatus().run(
        dispatcher, make_tracker("x", customer=DEMO_ZH, entities=entities), DOMAIN
    )
    assert dispatcher.messages[0]["order_number"] == oldest.order_number


def test_customer_without_orders(
    store: str, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    ActionOrderStatus().run(
        dispatcher, make_tracker("where is my order", customer=DEMO_NEW), DOMAIN
    )
    assert responses(dispatcher) == ["utter_no_orders"]


def test_broken_store_gives_a_polite_apology(
    broken_store: str, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    ActionOrderStatus().run(dispatcher, make_tracker("我的订单", customer=DEMO_ZH), DOMAIN)
    assert responses(dispatcher) == ["utter_technical_difficulty"]


def test_carrier_is_named_in_the_reply_language() -> None:
    from actions.formatting import carrier, carrier_phrase
    from actions.phrases import Phrasebook

    zh, en = Phrasebook.from_domain(DOMAIN, "zh"), Phrasebook.from_domain(DOMAIN, "en")
    assert carrier_phrase("SF Express") == carrier_phrase("sf") == "utter_phrase_carrier_sf"
    assert carrier_phrase("Some Local Courier") is None
    assert carrier("SF Express", zh) == "顺丰速运"
    assert carrier("sf", en) == "SF Express"
    assert carrier("Some Local Courier", zh) == "Some Local Courier"
    assert carrier(None, en) == "to be confirmed"
