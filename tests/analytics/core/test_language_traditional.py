"""Traditional Chinese is Chinese for the main environment and the actions (issue 15).

The bot answers a Traditional writer in Chinese (converted to Traditional by the Rasa
server's response generator, ``bot/nlg.py``); the language rules on this side must
therefore read Traditional text, Hong Kong Cantonese included, as ``zh``.
"""

from __future__ import annotations

import pytest

from actions.identify import choose_language
from analytics.core.language import cjk_count, detect_language

TRADITIONAL = [
    "我的訂單到哪了",
    "請問可以退款嗎",
    "這個茶葉怎麼泡",
    "台灣可以寄嗎",
    "我想取消訂閱 LB100234",
    "佢哋幾時寄嘢㗎",  # Hong Kong Cantonese (㗎: Extension A)
    "乾淨、頭髮、裡面、著急",
]


@pytest.mark.parametrize("text", TRADITIONAL)
def test_traditional_text_is_chinese(text: str) -> None:
    assert detect_language(text) == "zh"
    assert cjk_count(text) >= 2


@pytest.mark.parametrize("text", TRADITIONAL)
def test_a_traditional_message_is_answered_in_chinese(text: str) -> None:
    # The NLU's detection says zh; a Traditional message never falls back to English.
    assert choose_language("zh", "en", "en", text) == "zh"
    assert choose_language("mixed", None, "en", text) == "zh"


def test_a_neutral_message_keeps_the_conversation_language() -> None:
    assert choose_language(None, None, "zh", "LB100234") == "zh"
