"""Tests for bot.nlu.classifier (TF-IDF + calibrated linear intent classifier)."""

from __future__ import annotations

import pytest
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.classifier import BilingualIntentClassifier, TextIntentModel
from bot.nlu.tokenizer import BilingualTokenizer

EXAMPLES = {
    "greet": ["你好", "在吗", "hi", "hello there", "您好呀", "good morning", "嗨，在不在", "hey"],
    "order_status": [
        "我的订单到哪了",
        "where is my order",
        "订单什么时候到",
        "track my package",
        "查一下物流",
        "my parcel has not arrived",
        "快递到哪里了",
        "when will my order arrive",
    ],
    "cancel_subscription": [
        "取消订阅",
        "I want to cancel my subscription",
        "帮我退订每月礼盒",
        "stop my monthly box",
        "不想再订了",
        "please cancel my plan",
        "我要取消会员订阅",
        "unsubscribe me from the box",
    ],
    "pricing": [
        "多少钱",
        "how much is it",
        "价格是多少",
        "what does the tea cost",
        "这个咖啡怎么卖",
        "what's the price",
        "贵不贵",
        "how expensive is the kettle",
    ],
}


def tokenized_training_data(
    model_storage: ModelStorage, execution_context: ExecutionContext
) -> tuple[TrainingData, BilingualTokenizer]:
    tokenizer = BilingualTokenizer.create(
        {**BilingualTokenizer.get_default_config(), "dictionary_path": None},
        model_storage,
        Resource("tok"),
        execution_context,
    )
    messages = [
        Message(data={TEXT: text, INTENT: intent})
        for intent, texts in EXAMPLES.items()
        for text in texts
    ]
    data = TrainingData(messages)
    tokenizer.process_training_data(data)
    return data, tokenizer


@pytest.mark.parametrize("model", ["svc", "lr", "ensemble"])
def test_trains_predicts_and_round_trips(
    model_storage: ModelStorage, execution_context: ExecutionContext, model: str
) -> None:
    data, tokenizer = tokenized_training_data(model_storage, execution_context)
    config = {**BilingualIntentClassifier.get_default_config(), "model": model}
    resource = Resource(f"clf_{model}")
    classifier = BilingualIntentClassifier.create(
        config, model_storage, resource, execution_context
    )
    classifier.train(data)
    loaded = BilingualIntentClassifier.load(config, model_storage, resource, execution_context)

    cases = {
        "我的快递到哪了": "order_status",
        "where is my parcel": "order_status",
        "我想取消訂閱": "cancel_subscription",  # Traditional
        "cancel 我的订阅": "cancel_subscription",  # code-switched
        "hello": "greet",
        "这个多少钱": "pricing",
    }
    messages = [Message(data={TEXT: text}) for text in cases]
    tokenizer.process(messages)
    loaded.process(messages)
    for message, expected in zip(messages, cases.values(), strict=True):
        assert message.get(INTENT)["name"] == expected, message.get(TEXT)
        ranking = message.get(INTENT_RANKING_KEY)
        confidences = [r["confidence"] for r in ranking]
        assert confidences == sorted(confidences, reverse=True)
        assert len(ranking) == len(EXAMPLES)
        assert sum(confidences) == pytest.approx(1.0, abs=1e-6)
        assert message.as_dict(only_output_properties=True)[INTENT]["name"] == expected


def test_out_of_domain_gets_lower_confidence(
    model_storage: ModelStorage, execution_context: ExecutionContext
) -> None:
    data, tokenizer = tokenized_training_data(model_storage, execution_context)
    config = {**BilingualIntentClassifier.get_default_config(), "model": "lr"}
    classifier = BilingualIntentClassifier.create(
        config, model_storage, Resource("clf"), execution_context
    )
    classifier.train(data)
    messages = [Message(data={TEXT: t}) for t in ["where is my order", "量子力学的基本原理"]]
    tokenizer.process(messages)
    classifier.process(messages)
    in_domain, out_of_domain = (m.get(INTENT)["confidence"] for m in messages)
    assert in_domain > out_of_domain
    assert out_of_domain < 0.5


def test_untrained_classifier_returns_no_intent(
    model_storage: ModelStorage, execution_context: ExecutionContext
) -> None:
    classifier = BilingualIntentClassifier.create(
        BilingualIntentClassifier.get_default_config(),
        model_storage,
        Resource("empty"),
        execution_context,
    )
    classifier.train(TrainingData())
    message = Message(data={TEXT: "hi"})
    classifier.process([message])
    assert message.get(INTENT) == {"name": None, "confidence": 0.0}


def test_text_model_trains_on_thousands_of_examples() -> None:
    words, labels = [], []
    for i in range(2000):
        label = f"intent_{i % 40}"
        words.append(f"word{i % 40} filler{i % 7} common text number {i % 13}")
        labels.append(label)
    model = TextIntentModel(char_ngram_range=(1, 4))
    model.fit(words, words, labels)
    assert model.predict(["word3 filler1 common"], ["word3 filler1 common"]) == ["intent_3"]


def test_fast_calibrated_model_matches_scikit_learn() -> None:
    import numpy as np
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import LinearSVC

    words = [t for texts in EXAMPLES.values() for t in texts]
    labels = [intent for intent, texts in EXAMPLES.items() for _ in texts]
    model = TextIntentModel(word_ngram_range=(1, 1), char_ngram_range=(1, 3), model="svc")
    model.fit(words, words, labels)
    x = model._features(words, words, fit=False)
    reference = CalibratedClassifierCV(
        LinearSVC(C=1.0, random_state=42), cv=3, method="sigmoid", ensemble=False
    ).fit(x, np.asarray(labels))
    assert type(model.estimators[0]).__name__ == "_SigmoidCalibratedLinear"
    queries = ["where is my parcel", "取消订阅", "量子力学"]
    np.testing.assert_allclose(
        model.predict_proba(queries, queries),
        reference.predict_proba(model._features(queries, queries, fit=False)),
        atol=1e-9,
    )


def test_views_average_one_calibrated_svm_per_feature_view() -> None:
    import numpy as np

    words = [t for texts in EXAMPLES.values() for t in texts]
    labels = [intent for intent, texts in EXAMPLES.items() for _ in texts]
    single = TextIntentModel(views=["all"]).fit(words, words, labels)
    views = TextIntentModel(views=["all", "word", "char"]).fit(words, words, labels)
    assert len(single.estimators) == 1
    assert views.estimator_views == ["all", "word", "char"]
    queries = ["where is my parcel", "取消订阅", "这个多少钱"]
    probs = views.predict_proba(queries, queries)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    blocks = views._blocks(queries, queries, fit=False)
    members = [
        est.predict_proba(views._view(blocks, view))
        for est, view in zip(views.estimators, views.estimator_views, strict=True)
    ]
    np.testing.assert_allclose(probs, np.mean(members, axis=0), atol=1e-12)
    np.testing.assert_allclose(
        views.estimators[0].predict_proba(views._features(queries, queries, fit=False)),
        single.predict_proba(queries, queries),
        atol=1e-12,
    )
    assert views.predict(queries, queries) == ["order_status", "cancel_subscription", "pricing"]
    # with one feature type every view is the same features: one SVM, not three
    chars_only = TextIntentModel(word_ngram_range=None, views=["all", "word", "char"])
    assert chars_only.fit(words, words, labels).estimator_views == ["all"]
    with pytest.raises(ValueError, match="Unknown views"):
        TextIntentModel(views=["words"])


def test_component_passes_views_and_char_analyzer(
    model_storage: ModelStorage, execution_context: ExecutionContext
) -> None:
    config = {
        **BilingualIntentClassifier.get_default_config(),
        "views": ["all", "word", "char"],
        "char_analyzer": "char",
        "calibration": "temperature",
    }
    classifier = BilingualIntentClassifier.create(
        config, model_storage, Resource("clf_views"), execution_context
    )
    model = classifier._new_model()
    assert model.views == ("all", "word", "char")
    assert model.char_analyzer == "char"
    assert model.calibration == "temperature"


def test_temperature_calibration_keeps_the_svm_ranking() -> None:
    import numpy as np
    from sklearn.svm import LinearSVC

    words = [t for texts in EXAMPLES.values() for t in texts]
    labels = [intent for intent, texts in EXAMPLES.items() for _ in texts]
    model = TextIntentModel(calibration="temperature", class_weight="balanced")
    model.fit(words, words, labels)
    estimator = model.estimators[0]
    assert type(estimator).__name__ == "_TemperatureLinear"
    assert estimator.temperature > 0
    queries = ["where is my parcel", "取消订阅", "这个多少钱", "量子力学"]
    probs = model.predict_proba(queries, queries)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    x = model._features(words, words, fit=False)
    svc = LinearSVC(class_weight="balanced", random_state=42).fit(x, np.asarray(labels))
    scores = svc.decision_function(model._features(queries, queries, fit=False))
    # same order of intents as the SVM's own scores (a softmax is monotone)
    np.testing.assert_array_equal(np.argsort(-probs, axis=1), np.argsort(-scores, axis=1))
    with pytest.raises(ValueError, match="Unknown calibration"):
        TextIntentModel(calibration="isotonic")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("很满意", (1, 0, 0, 0)),
        ("不太满意", (0, 0, 1, 0)),  # negation flips the next term
        ("从来没让我失望过", (0, 0, 0, 1)),  # within the window of a few characters
        ("不错", (1, 0, 0, 0)),  # a fixed phrase is not a negation
        ("great tea", (1, 0, 0, 0)),
        ("not bad at all", (0, 0, 0, 1)),
        ("i have never been disappointed", (0, 0, 0, 1)),
        ("it wasn't good", (0, 0, 1, 0)),
        ("not fresh, but lovely", (1, 0, 1, 0)),  # "but" and punctuation end the negation
        ("没有，挺好的", (1, 0, 0, 0)),
        ("where is my order", (0, 0, 0, 0)),
    ],
)
def test_polarity_counts_with_negation(text: str, expected: tuple[int, int, int, int]) -> None:
    from bot.nlu.polarity import polarity_counts

    assert polarity_counts(text) == expected


def test_polarity_feature_block_shape_and_sign() -> None:
    from bot.nlu.polarity import N_FEATURES, polarity_matrix

    block = polarity_matrix(["很满意", "不太满意", "hello"], weight=2.0)
    assert block.shape == (3, N_FEATURES)
    net = block[:, -1]
    assert net[0] > 0 > net[1]
    assert net[2] == 0
    assert polarity_matrix([]).shape == (0, N_FEATURES)


def test_model_with_polarity_features_trains_and_predicts(
    model_storage: ModelStorage, execution_context: ExecutionContext
) -> None:
    examples = {
        **EXAMPLES,
        "praise": [
            "很满意",
            "茶很好喝",
            "great service",
            "love the tea",
            "服务很棒",
            "excellent box",
        ],
        "complain": ["很失望", "太差了", "terrible service", "awful tea", "包装破了", "so slow"],
    }
    words = [t for texts in examples.values() for t in texts]
    labels = [intent for intent, texts in examples.items() for _ in texts]
    plain = TextIntentModel(calibration="temperature", class_weight="balanced")
    model = TextIntentModel(
        calibration="temperature", class_weight="balanced", polarity_features=True
    )
    model.fit(words, words, labels)
    plain.fit(words, words, labels)
    x = model._features(words, words, fit=False)
    assert x.shape[1] == plain._features(words, words, fit=False).shape[1] + 5
    queries = ["不太满意", "not bad at all, really good", "where is my parcel"]
    assert model.predict(queries, queries) == ["complain", "praise", "order_status"]
    # the component passes the key
    config = {**BilingualIntentClassifier.get_default_config(), "polarity_features": True}
    classifier = BilingualIntentClassifier.create(
        config, model_storage, Resource("clf_polarity"), execution_context
    )
    assert classifier._new_model().polarity_features
    assert not BilingualIntentClassifier.get_default_config()["polarity_features"]


def test_english_stems_join_word_forms_and_leave_chinese_alone() -> None:
    from bot.nlu.text import english_stem, stem_english_words

    assert {english_stem(w) for w in ("charged", "charges", "charging", "charge")} == {"charg"}
    assert english_stem("refunded") == english_stem("refunds") == "refund"
    assert stem_english_words("my card was charged 两次 lb100234 i'm 12.5") == (
        "my card was charg 两次 lb100234 i'm 12.5"
    )
    # word n-grams only, so the unseen forms can only be matched through their stems
    words = [
        "i was charged twice",
        "they are charging me again",
        "refund my order",
        "i want a refund",
        "where is my parcel",
        "track the parcel",
    ]
    labels = ["charge", "charge", "refund", "refund", "status", "status"]
    queries = ["why was i charged", "a double charge", "refunded order?", "tracking please"]
    stemmed = TextIntentModel(
        char_ngram_range=None, calibration="temperature", english_stems=True
    ).fit(words, words, labels)
    assert stemmed.predict(queries, queries) == ["charge", "charge", "refund", "status"]
    plain = TextIntentModel(char_ngram_range=None, calibration="temperature")
    plain.fit(words, words, labels)
    # "charge", "refunded" and "tracking" are unknown words without stems
    assert plain._features(["charge refunded tracking"], [""], fit=False).nnz == 0
    assert stemmed._features(["charge refunded tracking"], [""], fit=False).nnz == 3


def test_from_config_passes_every_key_of_the_component() -> None:
    config = {
        **BilingualIntentClassifier.get_default_config(),
        "english_stems": True,
        "polarity_features": True,
        "calibration": "temperature",
        "C": 0.5,
        "word_ngram_range": None,
    }
    model = TextIntentModel.from_config(config)
    assert model.english_stems and model.polarity_features
    assert model.calibration == "temperature" and model.C == 0.5
    assert model.word_ngram_range is None and model.char_ngram_range == (1, 4)
    assert not TextIntentModel.from_config({}).english_stems


def test_aligned_keeps_or_reorders_columns_by_intent() -> None:
    import numpy as np

    words = [t for texts in EXAMPLES.values() for t in texts]
    labels = [intent for intent, texts in EXAMPLES.items() for _ in texts]
    model = TextIntentModel(calibration="temperature").fit(words, words, labels)
    probs = np.arange(len(model.classes_), dtype=float)[None, :]

    class Reversed:
        classes_ = model.classes_[::-1]

    assert model._aligned(model.estimators[0], probs) is probs
    np.testing.assert_array_equal(model._aligned(Reversed(), probs), probs[:, ::-1])


@pytest.fixture(scope="module")
def bot_model() -> tuple[TextIntentModel, object]:
    """config.yml's classifier trained on all of nlu_data/ (about 10 s), with its features."""
    import yaml

    from bench.nlu.botdata import load_bot_examples
    from bench.nlu.datasets import REPO
    from bot.nlu.text import normalize

    config = yaml.safe_load((REPO / "config.yml").read_text(encoding="utf-8"))
    settings = next(
        c for c in config["pipeline"] if c["name"].endswith("BilingualIntentClassifier")
    )
    tokenizer = BilingualTokenizer(
        {**BilingualTokenizer.get_default_config(), "dictionary_path": None},
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        BilingualTokenizer.read_dictionary(str(REPO / "bot" / "nlu" / "userdict.txt")),
    )

    def features(texts: list[str]) -> tuple[list[str], list[str]]:
        words = [" ".join(normalize(t.text) for t in tokenizer.tokenize_text(x)) for x in texts]
        return words, [" ".join(normalize(x).split()) for x in texts]

    examples = load_bot_examples()
    model = TextIntentModel.from_config(settings).fit(
        *features([e.text for e in examples]), [e.intent for e in examples]
    )
    return model, features


def test_policy_questions_are_faq_and_specific_requests_are_actions(bot_model) -> None:
    """The fixed policy-vs-action list (bench/nlu/data/policy_pairs.jsonl, not training data).

    Policy questions ("what is your return policy", "订阅可以随时取消吗") must come out
    ask_faq, so the bot answers them from the knowledge base and files nothing; a request
    for a specific refund or cancellation must come out refund_request /
    cancel_subscription, and a question about a refund already asked for refund_status.
    """
    from bench.nlu.scope_eval import load_policy_pairs

    model, features = bot_model
    pairs = load_policy_pairs()
    assert {p.label for p in pairs} == {
        "ask_faq",
        "refund_request",
        "cancel_subscription",
        "refund_status",
    }
    assert all(
        sum(p.label == "ask_faq" and p.language == lang for p in pairs) >= 3
        for lang in ("zh", "en", "mixed")
    )
    predicted = model.predict(*features([p.text for p in pairs]))
    wrong = [
        (p.text, p.label, got) for p, got in zip(pairs, predicted, strict=True) if got != p.label
    ]
    assert not wrong, "\n".join(
        f"{text!r}: {gold} expected, got {got}" for text, gold, got in wrong
    )


def test_obvious_out_of_scope_messages_are_out_of_scope(bot_model) -> None:
    model, features = bot_model
    texts = ["what's the weather in paris tomorrow", "给我讲个笑话吧", "帮我写一下 homework"]
    assert model.predict(*features(texts)) == ["out_of_scope"] * 3
