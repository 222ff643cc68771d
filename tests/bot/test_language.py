"""Tests for bot.nlu.language (language detection zh / en / mixed)."""

from __future__ import annotations

import pytest
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.language import LanguageDetector, detect_language

PRODUCTS = ["西湖龙井", "West Lake Longjing", "肯尼亚AA", "Kenya AA", "French Press", "法压壶"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Chinese, including ids, numbers, products, acronyms and brand words
        ("在吗", "zh"),
        ("我的订单LB100234到哪了", "zh"),
        ("我的订单lb100234到哪了？", "zh"),
        ("我想买West Lake Longjing", "zh"),
        ("French Press多少钱", "zh"),
        ("我想買西湖龍井", "zh"),
        ("VIP会员有折扣吗", "zh"),
        ("iPhone上能下单吗", "zh"),
        ("ok谢谢", "zh"),
        ("买了3袋，一共128元", "zh"),
        ("V60滤杯有货吗", "zh"),
        ("我的邮箱是 amy@example.com", "zh"),
        ("请帮我转人工", "zh"),
        ("謝謝你的幫助", "zh"),
        # English, including Chinese product names
        ("hi", "en"),
        ("Hello there!", "en"),
        ("where is LB100234", "en"),
        ("I want to buy 西湖龙井", "en"),
        ("Is the 法压壶 in stock?", "en"),
        ("CANCEL MY SUBSCRIPTION", "en"),
        ("I'm not happy with the delivery", "en"),
        # Code-switched
        ("我的order到哪了", "mixed"),
        ("cancel 我的订阅", "mixed"),
        ("Order到哪了", "mixed"),
        ("my 订单 is late", "mixed"),
        ("Hi 你好", "mixed"),
        ("这个discount code怎么用", "mixed"),
        ("please 帮我 refund", "mixed"),
        # No language evidence
        ("LB100234", "mixed"),
        ("123", "mixed"),
        ("👍", "mixed"),
        ("", "mixed"),
    ],
)
def test_detect_language(text: str, expected: str) -> None:
    assert detect_language(text, neutral_terms=PRODUCTS) == expected


def test_product_names_only_neutral_when_known() -> None:
    assert detect_language("我想买Lapsang Souchong") == "mixed"
    assert detect_language("我想买Lapsang Souchong", neutral_terms=["Lapsang Souchong"]) == "zh"


def test_neutral_language_is_configurable() -> None:
    assert detect_language("LB100234", neutral_language="zh") == "zh"


def test_component_learns_products_from_lookup_tables_and_persists(
    model_storage: ModelStorage, execution_context: ExecutionContext
) -> None:
    config = LanguageDetector.get_default_config()
    resource = Resource("lang")
    detector = LanguageDetector.create(config, model_storage, resource, execution_context)
    assert detector.detect("我想买Lapsang Souchong") == "mixed"
    data = TrainingData(
        lookup_tables=[
            {"name": "product", "elements": ["Lapsang Souchong", "正山小种"]},
            {"name": "city", "elements": ["Shanghai"]},
        ]
    )
    detector.train(data)
    loaded = LanguageDetector.load(config, model_storage, resource, execution_context)
    assert loaded.detect("我想买Lapsang Souchong") == "zh"
    assert loaded.detect("我在Shanghai") == "mixed"  # only the configured lookup is neutral

    message = Message(data={TEXT: "我的order到哪了"})
    loaded.process([message])
    assert message.get("language") == "mixed"
    assert "language" in message.as_dict_nlu()
    assert message.as_dict(only_output_properties=True)["language"] == "mixed"
