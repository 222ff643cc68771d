"""Every Chinese response of the domain converts to Traditional, and the generator uses it.

Over every response variation in ``bot/domain/*.yml`` that is not the English one: its
text and button titles, converted with each OpenCC variant the generator accepts, hold no
Simplified-only character, keep every ``{placeholder}`` and convert back to the original.
Then ``bot.nlg.ScriptAwareNLG`` on the real domain: a Traditional conversation gets the
converted response, a Simplified one exactly what Rasa's own generator gives, English is
untouched, and the founder's words passed as a variable stay as written.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("opencc")

from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator  # noqa: E402
from rasa.shared.core.domain import Domain  # noqa: E402
from rasa.shared.core.events import BotUttered, SlotSet, UserUttered  # noqa: E402
from rasa.shared.core.trackers import DialogueStateTracker  # noqa: E402
from rasa.utils.endpoints import EndpointConfig  # noqa: E402

from bot.channels.script import (  # noqa: E402
    HANS,
    HANT,
    NEUTRAL,
    VARIANTS,
    detect_script,
    script_evidence,
    to_simplified,
    to_traditional,
)
from bot.nlg import ScriptAwareNLG  # noqa: E402

pytestmark = pytest.mark.rasa_env

REPO = Path(__file__).resolve().parents[2]
HAN = re.compile("[\u3400-\u9fff]")
PLACEHOLDER = re.compile(r"{[^{}\n]+}")
DOMAIN = Domain.load(str(REPO / "bot" / "domain"))


def chinese_texts() -> list[tuple[str, str]]:
    """``(response name, text)`` of every Chinese text and button title in the domain."""
    found = []
    for name, variations in DOMAIN.responses.items():
        for variation in variations:
            conditions = variation.get("condition") or []
            if any(c.get("name") == "language" and c.get("value") == "en" for c in conditions):
                continue
            texts = [variation.get("text") or ""]
            texts += [b.get("title", "") for b in variation.get("buttons") or []]
            found += [(name, text) for text in texts if HAN.search(text)]
    return found


CHINESE = chinese_texts()


def test_the_domain_has_chinese_responses() -> None:
    assert len(CHINESE) >= 80
    assert all(detect_script(text) != HANT for _, text in CHINESE)


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_chinese_response_converts_to_traditional(variant: str) -> None:
    problems = []
    for name, text in CHINESE:
        converted = to_traditional(text, variant)
        if script_evidence(converted)[1]:
            problems.append((name, "Simplified left", converted))
        if detect_script(converted) == HANS:
            problems.append((name, "reads as Simplified", converted))
        if sorted(PLACEHOLDER.findall(converted)) != sorted(PLACEHOLDER.findall(text)):
            problems.append((name, "placeholders changed", converted))
        if to_simplified(converted) != text:
            problems.append((name, "does not convert back", converted))
    assert problems == []
    changed = sum(to_traditional(text, variant) != text for _, text in CHINESE)
    assert changed >= 0.9 * len(CHINESE)  # nearly every sentence has a character to convert


def tracker(*texts: str, language: str = "zh") -> DialogueStateTracker:
    """A conversation whose customer wrote ``texts``, with the reply language set."""
    events: list[Any] = []
    for text in texts:
        events += [UserUttered(text), SlotSet("language", language)]
    return DialogueStateTracker.from_events("t", events, slots=DOMAIN.slots)


def generate(nlg: Any, action: str, conversation: DialogueStateTracker, **kwargs: Any) -> Any:
    return asyncio.run(nlg.generate(action, conversation, "rest", **kwargs))


def test_a_traditional_conversation_gets_the_converted_response() -> None:
    nlg = ScriptAwareNLG(domain=DOMAIN)
    values = {"order_number": "LB100234", "items": "西湖龙井 x1", "created": "2026-12-01"}
    reply = generate(nlg, "utter_order_pending", tracker("我的訂單到哪了"), **values)
    assert reply["text"] == "訂單 LB100234（西湖龍井 x1，2026-12-01 下單）正在打包，很快發貨。"
    # A neutral message keeps Traditional; the same in Simplified is what Rasa gives.
    sticky = generate(nlg, "utter_order_pending", tracker("我的訂單到哪了", "好的"), **values)
    assert sticky["text"] == reply["text"]
    plain = generate(nlg, "utter_order_pending", tracker("我的订单到哪了"), **values)
    stock = generate(
        TemplatedNaturalLanguageGenerator(DOMAIN.responses),
        "utter_order_pending",
        tracker("我的订单到哪了"),
        **values,
    )
    assert plain == stock and plain["text"].startswith("订单 LB100234（西湖龙井")


def test_button_titles_are_converted_and_payloads_kept() -> None:
    nlg = ScriptAwareNLG(domain=DOMAIN)
    reply = generate(nlg, "utter_report_problem", tracker("東西壞了"))
    assert detect_script(reply["text"]) == HANT
    titles = [b["title"] for b in reply["buttons"]]
    assert titles == ["申請退款", "轉人工"]
    assert [b["payload"] for b in reply["buttons"]] == ["/refund_request", "/human_handoff"]


def test_english_replies_are_untouched() -> None:
    nlg = ScriptAwareNLG(domain=DOMAIN)
    stock = TemplatedNaturalLanguageGenerator(DOMAIN.responses)
    conversation = tracker("我的訂單到哪了", "where is my order?", language="en")
    values = {"order_number": "LB100234", "items": "Kenya AA", "created": "2026-12-01"}
    assert generate(nlg, "utter_order_pending", conversation, **values) == generate(
        stock, "utter_order_pending", conversation, **values
    )


def test_the_founders_words_are_never_converted() -> None:
    responses = {"utter_decision": [{"text": "店主的决定：{decision_note}（{reason}）"}]}
    nlg = ScriptAwareNLG(responses=responses)
    reply = generate(
        nlg,
        "utter_decision",
        tracker("退款呢？我的訂單"),
        decision_note="已经退款",
        reason="发错货",
    )
    assert reply["text"] == "店主的決定：已经退款（發錯貨）"
    # A founder's takeover message in the tracker does not make the conversation Simplified.
    conversation = tracker("退款呢？我的訂單")
    conversation.update(BotUttered("好的，我来处理", metadata={"author": "founder"}))
    assert generate(nlg, "utter_decision", conversation, decision_note="x", reason="发")[
        "text"
    ] == ("店主的決定：x（發）")


def test_unknown_responses_and_neutral_conversations() -> None:
    nlg = ScriptAwareNLG(domain=DOMAIN)
    assert generate(nlg, "utter_does_not_exist", tracker("訂單")) is None
    assert detect_script("好的") == NEUTRAL
    reply = generate(nlg, "utter_greet", tracker("好的"))
    assert detect_script(reply["text"]) != HANT  # nothing Traditional yet: Simplified


def test_the_endpoints_files_configure_the_generator() -> None:
    for name in ("endpoints.yml", "endpoints.prod.yml"):
        section = yaml.safe_load((REPO / "bot" / name).read_text(encoding="utf-8"))["nlg"]
        config = EndpointConfig.from_dict(section)
        assert config.type == "bot.nlg.ScriptAwareNLG", name
        assert ScriptAwareNLG(config, DOMAIN).variant == "s2tw"
    hk = ScriptAwareNLG(EndpointConfig(type="bot.nlg.ScriptAwareNLG", variant="s2hk"), DOMAIN)
    assert hk.variant == "s2hk"
    with pytest.raises(ValueError):
        ScriptAwareNLG(EndpointConfig(variant="s2twp"), DOMAIN)


def test_values_are_never_read_as_templates() -> None:
    responses = {"utter_answer": [{"text": "{answer}\n\n来源：{title}", "buttons": [
        {"title": "{title}", "payload": "/ask{\"q\": \"x\"}"}]}]}  # fmt: skip
    nlg = ScriptAwareNLG(responses=responses)
    tricky = "满100[元]包邮，格式如 {order_number} 或 {{x}}"
    for conversation, expected in (
        (tracker("问一下"), tricky),
        (tracker("問一下"), "滿100[元]包郵，格式如 {order_number} 或 {{x}}"),
    ):
        reply = generate(nlg, "utter_answer", conversation, answer=tricky, title="运费")
        assert reply["text"].startswith(expected), reply
        assert reply["buttons"][0]["payload"] == '/ask{"q": "x"}'
    # Rasa's own interpolator gives the raw template back for such a value.
    stock = TemplatedNaturalLanguageGenerator(responses)
    raw = generate(stock, "utter_answer", tracker("问一下"), answer=tricky, title="运费")
    assert raw["text"].startswith("{answer}")
    # A placeholder without a value stays; the others are filled.
    assert generate(nlg, "utter_answer", tracker("问一下"), title="运费")["text"] == (
        "{answer}\n\n来源：运费"
    )
