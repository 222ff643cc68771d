"""analytics.brain.retrieval: bilingual BM25 over the FAQ, tuned on the dev set only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analytics.brain.retrieval import (
    CALIBRATION,
    DEFAULT_THRESHOLD,
    PassageRetriever,
    fit_calibration,
    stem,
    tokenize,
    tune_threshold,
)
from analytics.store.knowledge import load_knowledge

REPO = Path(__file__).resolve().parents[3]
DEV = Path(__file__).with_name("knowledge_dev.jsonl")
PASSAGES = load_knowledge(REPO / "knowledge")
BY_ID = {p.id: p for p in PASSAGES}


@pytest.fixture(scope="module")
def retriever() -> PassageRetriever:
    return PassageRetriever().fit(PASSAGES)


def dev_rows() -> list[dict]:
    return [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines() if line]


def top(retriever: PassageRetriever, question: str) -> str:
    hits = retriever.retrieve(question, k=1)
    assert hits, question
    return hits[0].passage_id


def test_estimator_conventions() -> None:
    model = PassageRetriever(k1=1.5, b=0.5)
    assert model.get_params()["k1"] == 1.5 and not hasattr(model, "idf_")
    assert model.fit(PASSAGES) is model and len(model.ids_) == 65
    with pytest.raises(ValueError, match="at least one passage"):
        PassageRetriever().fit([])


def test_tokens_cover_both_languages() -> None:
    tokens = tokenize("怎么取消订阅 Refunds shipping")
    assert "z:取消" in tokens and "b:订阅" in tokens
    assert "e:refund" in tokens and "g:#ref" in tokens
    assert "z:怎么" not in tokens  # a function word carries no topic
    assert stem("deliveries") == "delivery" and stem("cancelled") == "cancell"
    assert stem("shipping") == stem("shipped") == "ship"  # the doubled consonant goes
    assert "c:return" in tokenize("退货") and "c:return" in tokenize("send it back")


@pytest.mark.parametrize(
    ("question", "passage"),
    [
        ("怎么取消订阅", "subscriptions-cancel"),
        ("怎么申请退货", "returns-refunds-how-to-request"),
        ("我的快递到哪了", "shipping-tracking"),
        ("What grind should I use for the coffee beans?", "products-brewing-coffee-beans"),
        ("refund要多久", "returns-refunds-refund-time"),
    ],
)
def test_questions_find_their_passage(
    retriever: PassageRetriever, question: str, passage: str
) -> None:
    assert top(retriever, question) == passage
    assert retriever.answerable(question)


@pytest.mark.parametrize(
    ("question", "passage"),
    [
        ("Can I get a fapiao?", "payment-fapiao"),
        ("Do you have a WeChat group?", "contact-wechat"),
    ],
)
def test_an_english_question_finds_a_chinese_only_passage(
    retriever: PassageRetriever, question: str, passage: str
) -> None:
    assert BY_ID[passage].text_en is None
    assert top(retriever, question) == passage


def test_a_chinese_question_finds_an_english_only_passage(retriever: PassageRetriever) -> None:
    assert BY_ID["shipping-international"].text_zh is None
    assert "shipping-international" in [
        h.passage_id for h in retriever.retrieve("国际配送到新加坡", k=3)
    ]


def test_a_typo_still_finds_the_passage(retriever: PassageRetriever) -> None:
    assert top(retriever, "How do I cancle my subscribtion?") == "subscriptions-cancel"
    assert top(retriever, "chage my delivry adress") == "shipping-address-change"


@pytest.mark.parametrize(
    "question",
    [
        "Which team won the basketball game yesterday?",
        "股票明天会涨吗",
        "Tell me a joke about cats",
    ],
)
def test_unrelated_questions_fall_below_the_threshold(
    retriever: PassageRetriever, question: str
) -> None:
    assert retriever.confidence(question) < DEFAULT_THRESHOLD
    assert not retriever.answerable(question)


def test_hits_are_ranked_with_confidences_in_unit_interval(retriever: PassageRetriever) -> None:
    hits = retriever.retrieve("shipping costs and free shipping", k=5)
    assert len(hits) == 5 and hits[0].passage_id == "shipping-costs"
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(0.0 < h.confidence < 1.0 for h in hits)


@pytest.mark.parametrize(
    "question",
    [
        "",
        "   ",
        "\ud800\udfff\ud83d",
        "\x00\x1b[31m",
        "茶" * 200_000,
        "shipping " * 50_000,
        "🍵" * 50,
    ],
)
def test_hostile_questions_never_raise(retriever: PassageRetriever, question: str) -> None:
    hits = retriever.retrieve(question, k=3)
    assert len(hits) <= 3
    assert isinstance(retriever.answerable(question), bool)


def test_the_default_threshold_and_calibration_are_the_ones_fitted_on_the_dev_set(
    retriever: PassageRetriever,
) -> None:
    rows = dev_rows()
    assert len(rows) >= 300 and sum(r["passage"] is None for r in rows) >= 40
    assert all(r["passage"] is None or r["passage"] in BY_ID for r in rows)
    asked = {r["passage"] for r in rows}
    assert set(BY_ID) <= asked  # every passage is asked about in the dev set
    pairs = [(r["question"], r["passage"]) for r in rows]
    assert fit_calibration(PassageRetriever(calibration=(0.0, 1.0, 0.0)).fit(PASSAGES), pairs) == (
        pytest.approx(CALIBRATION, abs=0.02)
    )
    assert tune_threshold(retriever, pairs) == DEFAULT_THRESHOLD


def test_the_dev_set_is_not_the_held_out_bench() -> None:
    bench = REPO / "bench" / "knowledge" / "questions.jsonl"
    held_out = {json.loads(line)["question"] for line in bench.read_text("utf-8").splitlines()}
    assert not held_out & {r["question"] for r in dev_rows()}


def test_dev_set_quality_floor(retriever: PassageRetriever) -> None:
    rows = [r for r in dev_rows() if r["passage"]]
    at3 = sum(
        r["passage"] in [h.passage_id for h in retriever.retrieve(r["question"])] for r in rows
    )
    assert at3 / len(rows) >= 0.8
