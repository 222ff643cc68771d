"""Identity in the actions: only a door's ``verified_customer_id`` makes a customer known.

The host website's claims (``customer_id`` with ``customer_token``/``customer_hash``) are
the doors' business; reaching the action server unverified they mean nothing, even when
correctly signed with the very ``IDENTITY_SECRET`` the deployment uses.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from rasa_sdk import Action
from rasa_sdk.executor import CollectingDispatcher

from actions.account import ActionAccountStatus
from actions.greet import ActionGreet
from actions.identify import ActionIdentify
from actions.orders import ActionOrderStatus
from actions.refunds import ActionRefundRequest
from actions.subscription import ActionCancelSubscription, ActionPauseSubscription
from analytics.core.identity import VERIFIED_KEY
from analytics.demo.customers import DEMO_NAMES, DEMO_ZH
from tests.actions.conftest import CLAIM_SECRET, MakeTracker, claims_only, responses, slot_values
from tests.actions.domain import DOMAIN

PERSONAL_ACTIONS: list[type[Action]] = [
    ActionAccountStatus,
    ActionOrderStatus,
    ActionRefundRequest,
    ActionCancelSubscription,
    ActionPauseSubscription,
]


def test_a_verified_customer_is_known(
    store: str, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    ActionGreet().run(dispatcher, make_tracker("你好", intent="greet", customer=DEMO_ZH), DOMAIN)
    assert responses(dispatcher) == ["utter_greet_known"]
    assert dispatcher.messages[0]["name"] == DEMO_NAMES[DEMO_ZH]


@pytest.mark.parametrize("action", PERSONAL_ACTIONS, ids=lambda a: a.__name__)
def test_claims_without_a_door_verdict_are_anonymous(
    action: type[Action],
    store: str,
    make_tracker: MakeTracker,
    dispatcher: CollectingDispatcher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # even signed with the deployment's own secret: the action server does not verify
    monkeypatch.setenv("IDENTITY_SECRET", CLAIM_SECRET)
    tracker = make_tracker("我的订单 LB100234", customer=DEMO_ZH, forged=True)
    assert {"customer_id", "customer_token", "customer_hash"} <= set(
        tracker.latest_message["metadata"]
    )
    events = action().run(dispatcher, tracker, DOMAIN)
    assert responses(dispatcher) == ["utter_ask_sign_in"]
    assert events == []
    assert DEMO_NAMES[DEMO_ZH] not in json.dumps(dispatcher.messages, ensure_ascii=False)


def test_claims_do_not_identify_or_greet_by_name(
    store: str, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    tracker = make_tracker("hi", intent="greet", customer=DEMO_ZH, forged=True, language="en")
    assert slot_values(ActionIdentify().run(dispatcher, tracker, DOMAIN))["customer_id"] is None
    ActionGreet().run(dispatcher, tracker, DOMAIN)
    assert responses(dispatcher) == ["utter_greet"]


@pytest.mark.parametrize(
    "metadata",
    [
        None,
        [],
        "cus_0001",
        {VERIFIED_KEY: 1},
        {VERIFIED_KEY: ""},
        {VERIFIED_KEY: "x" * 500},
        {VERIFIED_KEY: None, "customer_id": DEMO_ZH},
        {VERIFIED_KEY: "cus_9999"},  # verified but not in this shop
    ],
)
def test_malformed_or_unknown_verdicts_are_anonymous(
    metadata: Any, store: str, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    tracker = make_tracker("我的订单")
    tracker.latest_message["metadata"] = metadata
    ActionOrderStatus().run(dispatcher, tracker, DOMAIN)
    assert responses(dispatcher) == ["utter_ask_sign_in"]


def test_no_token_or_claim_ends_up_in_slots_or_events(
    store: str, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    claims = claims_only(DEMO_ZH)
    secrets_seen = {claims["customer_token"], claims["customer_hash"]}
    produced: list[Any] = []
    for forged in (False, True):
        tracker = make_tracker("取消订阅", customer=DEMO_ZH, forged=forged)
        tracker.latest_message["metadata"] = {**claims, **tracker.latest_message["metadata"]}
        everything: list[type[Action]] = [ActionIdentify, ActionGreet, *PERSONAL_ACTIONS]
        for action in everything:
            produced += action().run(dispatcher, tracker, DOMAIN)
    text = json.dumps([produced, dispatcher.messages], ensure_ascii=False)
    assert not any(secret in text for secret in secrets_seen)
    names = {e["name"] for e in produced if e["event"] == "slot"}
    assert not names & {"customer_token", "customer_hash", "expires_at", VERIFIED_KEY}
    assert {e["value"] for e in produced if e.get("name") == "customer_id"} == {DEMO_ZH, None}
