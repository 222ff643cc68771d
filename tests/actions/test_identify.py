"""action_identify: verified identity and reply language."""

from __future__ import annotations

from rasa_sdk.executor import CollectingDispatcher

from actions.identify import ActionIdentify, choose_language
from analytics.demo.customers import DEMO_EN, DEMO_NAMES, DEMO_ZH
from tests.actions.conftest import MakeTracker
from tests.actions.domain import DOMAIN


def slots(events: list[dict]) -> dict:
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}


def test_choose_language_rules() -> None:
    assert choose_language("en", "zh", "zh") == "en"
    assert choose_language("zh", "en", "en") == "zh"
    assert choose_language("mixed", "en", "zh") == "en"
    assert choose_language("mixed", None, "en") == "zh"
    assert choose_language(None, "en", "en") == "en"  # button payloads keep the language
    assert choose_language("mixed", "zh", "en", "LB100234") == "en"  # no letters: keep it
    assert choose_language("mixed", "zh", "en", "👍") == "en"
    assert choose_language("mixed", "en", "zh", "我的order") == "en"


def test_verified_customer_sets_identity_slots(
    store: str, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    events = ActionIdentify().run(
        dispatcher, make_tracker("我的order呢", customer=DEMO_EN, language="mixed"), DOMAIN
    )
    assert slots(events) == {
        "customer_id": DEMO_EN,
        "customer_name": DEMO_NAMES[DEMO_EN],
        "language": "en",
    }
    assert dispatcher.messages == []


def test_forged_identity_clears_the_slots(
    store: str, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    tracker = make_tracker(
        "hi", customer=DEMO_ZH, forged=True, language="en", slots={"customer_id": DEMO_ZH}
    )
    assert slots(ActionIdentify().run(dispatcher, tracker, DOMAIN)) == {
        "customer_id": None,
        "customer_name": None,
        "language": "en",
    }


def test_broken_store_still_sets_the_language(
    broken_store: str, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    events = ActionIdentify().run(
        dispatcher, make_tracker("hello", customer=DEMO_EN, language="en"), DOMAIN
    )
    assert slots(events)["language"] == "en" and slots(events)["customer_id"] is None
