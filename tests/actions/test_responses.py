"""Every reply reads whole in Chinese and in English, from the domain's responses.

The sentences live in ``bot/domain/*.yml``; the actions name a response and fill its
variables (some of them pieces of text, ``utter_phrase_*``, rendered from the domain).
These tests render the responses as Rasa would: every variable has a value, the Chinese
text holds no English words and the English text no Chinese.
"""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions import brain
from actions import formatting as fmt
from actions.account import ActionAccountStatus
from actions.orders import CLOSED_RESPONSES, ActionOrderStatus
from actions.phrases import PLACEHOLDER, Phrasebook, PhraseError, render_response
from actions.pricing import ActionPricing
from actions.recommend import ActionRecommend
from actions.subscription import OFFER_RESPONSES, ActionCancelSubscription, ActionPauseSubscription
from analytics.brain.offers import OFFERS
from analytics.core.vocabulary import LANG_EN, LANG_ZH, LANGUAGES, SEGMENTS
from analytics.demo.customers import DEMO_VIP_AT_RISK, DEMO_ZH
from analytics.store.models import (
    ORDER_CANCELLED,
    ORDER_REFUNDED,
    SUB_ACTIVE,
    SUB_CANCELED,
    SUB_PAUSED,
)
from tests.actions.conftest import MakeTracker
from tests.actions.domain import CJK, DOMAIN, english_words, rendered
from tests.actions.test_brain import VIP, store_score

RESPONSES = DOMAIN["responses"]
SAMPLE = {LANG_ZH: "样例", LANG_EN: "sample"}
RECOMMENDATIONS = [
    {"sku": "C02", "because": "C01", "en": "x", "zh": "x"},
    {"sku": "A03", "because": None, "en": "x", "zh": "x"},
]


def placeholders(name: str) -> set[str]:
    return {key for v in RESPONSES[name] for key in PLACEHOLDER.findall(v.get("text", ""))}


def assert_reads_in(text: str, language: str, what: str) -> None:
    assert "{" not in text and "}" not in text, f"{what}: an unfilled variable in {text!r}"
    if language == LANG_ZH:
        assert CJK.search(text), f"{what}: no Chinese in {text!r}"
        assert not english_words(text), f"{what}: English in the Chinese text {text!r}"
    else:
        assert not CJK.search(text), f"{what}: Chinese in the English text {text!r}"


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("name", sorted(RESPONSES))
def test_every_response_renders_in_both_languages(name: str, language: str) -> None:
    values = {key: SAMPLE[language] for key in placeholders(name)}
    assert_reads_in(render_response(RESPONSES, name, language, **values), language, name)


def test_a_missing_variable_or_response_is_an_error() -> None:
    with pytest.raises(PhraseError, match="order_number"):
        render_response(RESPONSES, "utter_order_cancelled", LANG_EN, items="x")
    with pytest.raises(PhraseError, match="utter_nowhere"):
        Phrasebook.from_domain(DOMAIN, LANG_ZH).text("utter_nowhere")
    with pytest.raises(PhraseError):  # Rasa did not send its domain
        Phrasebook.from_domain({}, LANG_ZH).text(fmt.PHRASE_TO_BE_CONFIRMED)


def test_every_kind_of_value_has_its_words() -> None:
    assert set(OFFER_RESPONSES) == set(OFFERS)
    assert set(brain.SEGMENT_NOTE_PHRASES) == set(SEGMENTS)
    assert set(fmt.SUBSCRIPTION_STATUS_PHRASES) == {SUB_ACTIVE, SUB_PAUSED, SUB_CANCELED}
    assert set(CLOSED_RESPONSES) == {ORDER_CANCELLED, ORDER_REFUNDED}
    assert set(fmt.CARRIER_CODES.values()) == set(fmt.CARRIER_PHRASES)
    for name in [
        *OFFER_RESPONSES.values(),
        *brain.SEGMENT_NOTE_PHRASES.values(),
        *fmt.SUBSCRIPTION_STATUS_PHRASES.values(),
        *CLOSED_RESPONSES.values(),
        *fmt.CARRIER_PHRASES.values(),
    ]:
        assert name in RESPONSES, name


def offer_text(kind: str, language: str) -> str:
    return render_response(RESPONSES, OFFER_RESPONSES[kind], language, plan=SAMPLE[language])


def test_offer_texts_say_what_is_offered_and_never_show_scores() -> None:
    assert "免费" in offer_text("free_month", LANG_ZH)
    assert "free" in offer_text("free_month", LANG_EN)
    assert "3" in offer_text("discount_3_boxes", LANG_EN)
    assert "3 期" in offer_text("discount_3_boxes", LANG_ZH)
    for kind in OFFERS:
        for language in LANGUAGES:
            text = offer_text(kind, language)
            assert "0.8" not in text and "80%" not in text and "2000" not in text
            assert "risk" not in text.lower() and "风险" not in text


def test_the_english_pieces_of_the_account_status_start_with_a_space() -> None:
    en = Phrasebook.from_domain(DOMAIN, LANG_EN)
    for name in [*brain.SEGMENT_NOTE_PHRASES.values(), "utter_phrase_paused_until"]:
        assert en.text(name, until="2030-01-01").startswith(" "), name


def run_all(
    make_tracker: MakeTracker, dispatcher: CollectingDispatcher, language: str
) -> list[dict[str, Any]]:
    """What the actions that fill in pieces of text say to a VIP subscriber."""
    slots = {"language": language}
    for action, text, intent, customer in [
        (ActionAccountStatus, "my account", "account_status", DEMO_VIP_AT_RISK),
        (ActionOrderStatus, "my order", "order_status", DEMO_ZH),  # in transit
        (ActionRecommend, "recommend", "ask_recommendation", DEMO_VIP_AT_RISK),
        (ActionPricing, "prices", "pricing", DEMO_VIP_AT_RISK),
        (ActionPauseSubscription, "pause", "pause_subscription", DEMO_VIP_AT_RISK),
        (ActionCancelSubscription, "cancel", "cancel_subscription", DEMO_VIP_AT_RISK),
    ]:
        tracker = make_tracker(text, intent=intent, customer=customer, slots=slots)
        action().run(dispatcher, tracker, DOMAIN)
    return list(dispatcher.messages)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_actions_replies_read_whole_in_the_reply_language(
    language: str,
    store: str,
    session: Session,
    make_tracker: MakeTracker,
    dispatcher: CollectingDispatcher,
) -> None:
    store_score(session, DEMO_VIP_AT_RISK, **VIP, recommendations=RECOMMENDATIONS)
    messages = run_all(make_tracker, dispatcher, language)
    assert [m["response"] for m in messages] == [
        "utter_account_status",
        "utter_order_in_transit",
        "utter_recommend_personal",
        "utter_price_overview",
        "utter_already_paused",  # the VIP's box is paused
        "utter_retention_offer_free_month",
    ]
    for message in messages:
        assert_reads_in(rendered(message, language), language, message["response"])
    account, order, recommendation = messages[:3]
    zh = language == LANG_ZH
    assert account["status"] == ("已暂停" if zh else "paused")
    assert account["renewal"].startswith("暂停至 " if zh else " Paused until ")
    assert account["segment_note"] == (
        "好久不见，想你了！有新茶上架，欢迎回来看看。"
        if zh
        else (" We've missed you! New teas just arrived.")
    )
    assert order["carrier"] in (
        [render_response(RESPONSES, p, language) for p in fmt.CARRIER_PHRASES.values()]
    )
    assert recommendation["reason"] == (
        "买过云南小粒咖啡的顾客也买了耶加雪菲"
        if zh
        else "Customers who bought Yunnan Arabica also bought Ethiopia Yirgacheffe"
    )
