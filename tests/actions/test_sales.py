"""Pricing, recommendations, account status and handoff."""

from __future__ import annotations

from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.account import ActionAccountStatus
from actions.greet import ActionGreet
from actions.pricing import ActionPricing
from actions.recommend import ActionRecommend
from actions.support import ActionHandoff
from analytics.demo.customers import DEMO_EN, DEMO_NAMES, DEMO_ZH
from analytics.store.models import Conversation
from tests.actions.conftest import MakeTracker, responses
from tests.actions.domain import DOMAIN


def test_price_of_a_named_product_in_either_language(
    store: str, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    ActionPricing().run(
        dispatcher,
        make_tracker("龙井多少钱", entities=[{"entity": "product", "value": "西湖龙井"}]),
        DOMAIN,
    )
    tracker = make_tracker(
        "price?",
        entities=[{"entity": "product", "value": "west lake longjing"}],
        slots={"language": "en"},
    )
    ActionPricing().run(dispatcher, tracker, DOMAIN)
    assert [m["price"] for m in dispatcher.messages] == ["128", "128"]
    assert [m["product"] for m in dispatcher.messages] == ["西湖龙井", "West Lake Longjing"]


def test_price_overview_without_a_product(
    store: str, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    ActionPricing().run(dispatcher, make_tracker("价格"), DOMAIN)
    [message] = dispatcher.messages
    assert message["response"] == "utter_price_overview"
    assert message["tea_box"] == "129" and message["coffee_box"] == "119"
    assert message["tea_min"] == "68" and message["tea_max"] == "188"


def test_recommendations_exclude_what_the_customer_bought(
    store: str, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    ActionRecommend().run(dispatcher, make_tracker("推荐", customer=DEMO_ZH), DOMAIN)
    ActionRecommend().run(dispatcher, make_tracker("recommend"), DOMAIN)
    signed_in, anonymous = dispatcher.messages
    assert signed_in["items"] and anonymous["items"]
    assert signed_in["items"].count("、") == 2


def test_account_status_is_private_and_in_language(
    store: str, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    ActionAccountStatus().run(dispatcher, make_tracker("my plan"), DOMAIN)
    ActionAccountStatus().run(
        dispatcher, make_tracker("my plan", customer=DEMO_EN, slots={"language": "en"}), DOMAIN
    )
    assert responses(dispatcher) == ["utter_ask_sign_in", "utter_account_status"]
    assert dispatcher.messages[1]["plan"] == "Monthly Coffee Box"


def test_greeting_uses_the_verified_name_only(
    store: str, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    ActionGreet().run(dispatcher, make_tracker("你好", customer=DEMO_ZH), DOMAIN)
    ActionGreet().run(dispatcher, make_tracker("你好", customer=DEMO_ZH, forged=True), DOMAIN)
    assert responses(dispatcher) == ["utter_greet_known", "utter_greet"]
    assert dispatcher.messages[0]["name"] == DEMO_NAMES[DEMO_ZH]


def test_handoff_flags_the_conversation(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    ActionHandoff().run(
        dispatcher, make_tracker("转人工", intent="human_handoff", sender="conv-42"), DOMAIN
    )
    assert responses(dispatcher) == ["utter_handoff"]
    session.rollback()
    conversation = session.scalars(
        select(Conversation).where(Conversation.sender_id == "conv-42")
    ).one()
    assert conversation.needs_handoff and conversation.customer_id is None


def test_english_account_status_reads_without_double_spaces(
    store: str, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    ActionAccountStatus().run(
        dispatcher, make_tracker("my plan", customer=DEMO_EN, slots={"language": "en"}), DOMAIN
    )
    [message] = dispatcher.messages
    assert message["renewal"].startswith(" Next box ships on ") and message["renewal"].endswith(".")
