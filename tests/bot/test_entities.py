"""Tests for bot.nlu.entities.BilingualEntityExtractor."""

from __future__ import annotations

from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.entities import BilingualEntityExtractor

LOOKUPS = [
    {
        "name": "product",
        "elements": ["西湖龙井", "West Lake Longjing", "每月茶礼盒", "茶礼盒", "Tea", "肯尼亚AA"],
    }
]


def trained(
    model_storage: ModelStorage, execution_context: ExecutionContext
) -> BilingualEntityExtractor:
    config = BilingualEntityExtractor.get_default_config()
    resource = Resource("ents")
    extractor = BilingualEntityExtractor.create(config, model_storage, resource, execution_context)
    extractor.train(TrainingData(lookup_tables=LOOKUPS))
    return BilingualEntityExtractor.load(config, model_storage, resource, execution_context)


def spans(extractor: BilingualEntityExtractor, text: str) -> list[tuple[str, str, str]]:
    return [(e["entity"], text[e["start"] : e["end"]], e["value"]) for e in extractor.extract(text)]


def test_order_ids_inside_chinese_and_english(
    model_storage: ModelStorage, execution_context: ExecutionContext
) -> None:
    extractor = trained(model_storage, execution_context)
    assert spans(extractor, "我的订单lb100234到哪了") == [("order_id", "lb100234", "LB100234")]
    assert spans(extractor, "where is LB100234?") == [("order_id", "LB100234", "LB100234")]
    assert spans(extractor, "LB1002345 and XLB100234") == []


def test_products_in_chinese_without_word_boundaries(
    model_storage: ModelStorage, execution_context: ExecutionContext
) -> None:
    extractor = trained(model_storage, execution_context)
    assert spans(extractor, "我想买西湖龙井吗") == [("product", "西湖龙井", "西湖龙井")]
    # longest match wins over the contained "茶礼盒"
    assert spans(extractor, "退掉每月茶礼盒") == [("product", "每月茶礼盒", "每月茶礼盒")]
    # Traditional text gives the canonical Simplified value with original offsets
    assert spans(extractor, "我想買西湖龍井") == [("product", "西湖龍井", "西湖龙井")]
    assert spans(extractor, "肯尼亚AA还有吗") == [("product", "肯尼亚AA", "肯尼亚AA")]


def test_latin_products_respect_word_boundaries_and_case(
    model_storage: ModelStorage, execution_context: ExecutionContext
) -> None:
    extractor = trained(model_storage, execution_context)
    assert spans(extractor, "is west lake  longjing fresh") == [
        ("product", "west lake  longjing", "West Lake Longjing")
    ]
    assert spans(extractor, "the steam is hot") == []
    assert spans(extractor, "I love tea!") == [("product", "tea", "Tea")]


def test_process_appends_entities_with_extractor_name(
    model_storage: ModelStorage, execution_context: ExecutionContext
) -> None:
    extractor = trained(model_storage, execution_context)
    message = Message(data={TEXT: "订单LB100234里的西湖龙井"})
    extractor.process([message])
    entities = message.get(ENTITIES)
    assert [e["entity"] for e in entities] == ["order_id", "product"]
    assert all(e["extractor"] == "BilingualEntityExtractor" for e in entities)
