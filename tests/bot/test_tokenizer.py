"""Tests for bot.nlu.tokenizer.BilingualTokenizer."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.tokenizer import BilingualTokenizer


def make(
    model_storage: ModelStorage,
    execution_context: ExecutionContext,
    **config: object,
) -> BilingualTokenizer:
    """Creates a tokenizer with the default config updated by ``config``."""
    full = {**BilingualTokenizer.get_default_config(), "dictionary_path": None, **config}
    return BilingualTokenizer.create(full, model_storage, Resource("tok"), execution_context)


def texts(tokenizer: BilingualTokenizer, text: str) -> list[str]:
    return [t.text for t in tokenizer.tokenize_text(text)]


@pytest.mark.parametrize(
    "text",
    [
        "我的订单LB100234到哪了？",
        "我的order到哪了",
        "cancel 我的订阅",
        "  hello   world  ",
        "我想買西湖龍井，多少錢？",
        "Where is my order lb123456? It's 12.5% off",
        "肯尼亚AA 2袋 + French Press 😀",
        "\t\n",
        "",
    ],
)
def test_offsets_match_original_text_and_no_whitespace_tokens(
    model_storage: ModelStorage, execution_context: ExecutionContext, text: str
) -> None:
    tokenizer = make(model_storage, execution_context)
    tokens = tokenizer.tokenize_text(text)
    for token in tokens:
        assert text[token.start : token.end] == token.text
        assert token.text.strip() == token.text and token.text
    starts = [t.start for t in tokens]
    assert starts == sorted(starts)


def test_segments_han_and_latin_runs(
    model_storage: ModelStorage, execution_context: ExecutionContext
) -> None:
    tokenizer = make(model_storage, execution_context)
    assert texts(tokenizer, "我的order到哪了") == ["我", "的", "order", "到", "哪", "了"]
    assert texts(tokenizer, "cancel 我的订阅") == ["cancel", "我", "的", "订阅"]


def test_order_ids_and_numbers_are_single_tokens(
    model_storage: ModelStorage, execution_context: ExecutionContext
) -> None:
    tokenizer = make(model_storage, execution_context)
    assert "LB100234" in texts(tokenizer, "订单LB100234到哪了")
    assert "lb100234" in texts(tokenizer, "where is lb100234")
    assert texts(tokenizer, "买了3袋，共128.50元") == ["买", "了", "3", "袋", "共", "128.50", "元"]
    # Seven digits is not an order id: stays one word token, never split oddly.
    assert texts(tokenizer, "LB1002345") == ["LB1002345"]


def test_traditional_chinese_segmented_like_simplified(
    model_storage: ModelStorage, execution_context: ExecutionContext
) -> None:
    tokenizer = make(model_storage, execution_context)
    simplified = tokenizer.tokenize_text("我想取消订阅，请帮我处理")
    traditional = tokenizer.tokenize_text("我想取消訂閱，請幫我處理")
    assert [(t.start, t.end) for t in simplified] == [(t.start, t.end) for t in traditional]
    assert "訂閱" in [t.text for t in traditional]


def test_user_dictionary_is_loaded_and_persisted(
    tmp_path: Path, model_storage: ModelStorage, execution_context: ExecutionContext
) -> None:
    dictionary = tmp_path / "userdict.txt"
    dictionary.write_text("每月茶礼盒 100 nz\n云南小粒咖啡 100 nz\n", encoding="utf-8")
    without = make(model_storage, execution_context)
    assert "每月茶礼盒" not in texts(without, "我想退掉每月茶礼盒")

    config = {**BilingualTokenizer.get_default_config(), "dictionary_path": str(dictionary)}
    resource = Resource("tok_dict")
    trained = BilingualTokenizer.create(config, model_storage, resource, execution_context)
    assert "每月茶礼盒" in texts(trained, "我想退掉每月茶礼盒")
    trained.train(TrainingData())

    dictionary.unlink()  # the trained model must not need the file any more
    loaded = BilingualTokenizer.load(config, model_storage, resource, execution_context)
    assert "每月茶礼盒" in texts(loaded, "我想退掉每月茶礼盒")
    assert "云南小粒咖啡" in texts(loaded, "云南小粒咖啡还有吗")


def test_missing_dictionary_warns_and_continues(
    tmp_path: Path,
    model_storage: ModelStorage,
    execution_context: ExecutionContext,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.nlu.tokenizer"):
        tokenizer = make(
            model_storage, execution_context, dictionary_path=str(tmp_path / "missing.txt")
        )
    assert "not found" in caplog.text
    assert texts(tokenizer, "你好") == ["你好"]


def test_process_sets_tokens_and_splits_intents(
    model_storage: ModelStorage, execution_context: ExecutionContext
) -> None:
    tokenizer = make(
        model_storage, execution_context, intent_tokenization_flag=True, intent_split_symbol="_"
    )
    message = Message(data={TEXT: "cancel 我的订阅", INTENT: "cancel_subscription"})
    tokenizer.process_training_data(TrainingData([message]))
    assert [t.text for t in message.get(TOKENS_NAMES[TEXT])] == ["cancel", "我", "的", "订阅"]
    assert [t.text for t in message.get(TOKENS_NAMES[INTENT])] == ["cancel", "subscription"]


def test_token_pattern_still_applies(
    model_storage: ModelStorage, execution_context: ExecutionContext
) -> None:
    tokenizer = make(model_storage, execution_context, token_pattern=r"[a-z]+")
    message = Message(data={TEXT: "pour-over 手冲壶"})
    tokens = tokenizer.tokenize(message, TEXT)
    assert [t.text for t in tokens][:2] == ["pour", "over"]
