"""analytics.brain.retrieval: answer quality floors on the dev set, cross-language, refusals.

The floors are the values measured on tests/analytics/brain/knowledge_dev.jsonl at the commit
that set them, rounded down by about two points; the held-out bench is never used here.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest

from analytics.brain import retrieval
from analytics.brain.retrieval import DEFAULT_THRESHOLD, PassageRetriever, tokenize
from analytics.brain.retrieval_concepts import CONCEPTS, concept_tokens
from analytics.store.knowledge import load_knowledge

REPO = Path(__file__).resolve().parents[3]
DEV = Path(__file__).with_name("knowledge_dev.jsonl")
PASSAGES = load_knowledge(REPO / "knowledge")
BY_ID = {p.id: p for p in PASSAGES}
ROWS = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines() if line]


@pytest.fixture(scope="module")
def retriever() -> PassageRetriever:
    return PassageRetriever().fit(PASSAGES)


@pytest.fixture(scope="module")
def dev_results(retriever: PassageRetriever) -> list[tuple[dict, list[retrieval.Hit]]]:
    return [(row, retriever.retrieve(row["question"], k=3)) for row in ROWS]


def _recall(results: list[tuple[dict, list[retrieval.Hit]]], k: int) -> float:
    rows = [(row, hits) for row, hits in results if row["passage"]]
    found = sum(row["passage"] in [h.passage_id for h in hits[:k]] for row, hits in rows)
    return found / len(rows)


def test_dev_recall_floors(dev_results: list) -> None:
    # measured: recall@1 0.914, recall@3 0.983 (450 questions, 406 answerable; the 351
    # questions before the everyday ones: 0.889 / 0.977, were 0.863 / 0.980)
    assert _recall(dev_results, 1) >= 0.89
    assert _recall(dev_results, 3) >= 0.96


@pytest.mark.parametrize(
    ("language", "precision_floor", "coverage_floor"),
    # measured: zh 0.946 / 0.732, en 0.939 / 0.842, all 0.947 / 0.796 (the 351 questions
    # before the everyday ones: all 0.939 / 0.752)
    [("zh", 0.92, 0.71), ("en", 0.91, 0.82), (None, 0.92, 0.77)],
)
def test_answers_given_at_the_threshold_are_mostly_right(
    dev_results: list, language: str | None, precision_floor: float, coverage_floor: float
) -> None:
    rows = [(r, h) for r, h in dev_results if language in (None, r["language"])]
    given = [(r, h) for r, h in rows if h and h[0].confidence >= DEFAULT_THRESHOLD]
    right = [r for r, h in given if r["passage"] == h[0].passage_id]
    answerable = [r for r, _ in rows if r["passage"]]
    assert len(right) / len(given) >= precision_floor
    assert len(right) / len(answerable) >= coverage_floor


EVERYDAY = [r for r in ROWS if r.get("id", "").startswith("everyday-")]


def test_the_everyday_questions_cover_the_basics() -> None:
    assert len(EVERYDAY) >= 60
    assert {r["language"] for r in EVERYDAY} == {"zh", "en", "mixed"}
    assert all(r["passage"] in BY_ID for r in EVERYDAY)
    topics = {BY_ID[r["passage"]].topic for r in EVERYDAY}
    assert topics == {p.topic for p in PASSAGES}


def test_everyday_questions_are_answered_right_and_never_wrongly(
    retriever: PassageRetriever,
) -> None:
    """The first things customers type: answered from the right passage, or refused."""
    right, wrong = [], []
    for row in EVERYDAY:
        hits = retriever.retrieve(row["question"], k=1)
        if hits and hits[0].confidence >= DEFAULT_THRESHOLD:
            (right if hits[0].passage_id == row["passage"] else wrong).append(
                (row["question"], hits[0].passage_id)
            )
    assert wrong == []  # measured 0 (before issue 15's everyday work: 8 of 99)
    assert len(right) / len(EVERYDAY) >= 0.9  # measured 92/99 = 0.929 (before: 62/99)


@pytest.mark.parametrize(
    ("question", "passage"),
    [
        ("How much is shipping?", "shipping-costs"),  # was refused (0.63)
        ("Do you ship abroad?", "shipping-international"),  # was the foreign-cards passage
        ("how long does delivery take", "shipping-times"),  # was the refund-time passage
        ("What is your return policy?", "returns-refunds-policy"),  # was return shipping
        ("运费怎么算？", "shipping-costs"),
        ("能寄到国外吗", "shipping-international"),  # a Chinese question, an English passage
    ],
)
def test_the_most_basic_questions_are_answered(
    retriever: PassageRetriever, question: str, passage: str
) -> None:
    hits = retriever.retrieve(question, k=1)
    assert hits[0].passage_id == passage
    assert retriever.answerable(question)


def test_shipping_abroad_is_not_paying_from_abroad() -> None:
    assert "c:ship_abroad" in concept_tokens("do you ship overseas")
    assert "c:ship_abroad" in concept_tokens("能寄到国外吗")
    assert "c:ship_abroad" not in concept_tokens("i have a card from abroad")
    assert list(concept_tokens("how long does a refund take")) == ["c:refund_time", "c:refund"]


def test_unanswerable_dev_questions_are_mostly_refused(dev_results: list) -> None:
    nulls = [h for r, h in dev_results if r["passage"] is None]
    refused = sum(not h or h[0].confidence < DEFAULT_THRESHOLD for h in nulls)
    assert refused / len(nulls) >= 0.9  # measured 41/44 = 0.932


def test_a_wrong_answer_is_rarer_than_a_refusal_of_an_answerable_question(
    dev_results: list,
) -> None:
    answerable = [(r, h) for r, h in dev_results if r["passage"]]
    kept = [(r, h) for r, h in answerable if h and h[0].confidence >= DEFAULT_THRESHOLD]
    wrong = sum(h[0].passage_id != r["passage"] for r, h in kept)
    refused = len(answerable) - len(kept)
    assert wrong < refused / 2


@pytest.mark.parametrize(
    ("question", "passage", "missing"),
    [
        ("Can I join your WeChat tea group?", "contact-wechat", "en"),
        ("Is Huabei installment available?", "payment-wechat-huabei", "en"),
        ("你们发新加坡吗，关税谁付", "shipping-international", "zh"),
        ("我只有国外的Visa卡怎么付款", "payment-foreign-cards", "zh"),
        ("海外的信用卡能付款吗", "payment-foreign-cards", "zh"),
    ],
)
def test_questions_cross_to_a_passage_in_the_other_language_and_are_answered(
    retriever: PassageRetriever, question: str, passage: str, missing: str
) -> None:
    # the passage has no text in the question's language
    assert getattr(BY_ID[passage], f"text_{missing}") is None
    hits = retriever.retrieve(question, k=1)
    assert hits[0].passage_id == passage
    assert retriever.answerable(question)


@pytest.mark.parametrize(
    ("question", "passage", "sure"),
    [
        ("买多少免运费", "shipping-costs", False),  # ranked first, not sure enough to answer
        ("茶罐压坏了", "returns-refunds-damaged", True),  # 压坏 / 破损
        ("怎么关掉促销短信", "privacy-marketing", True),
        ("I changed my mind, can I send it back?", "returns-refunds-policy", True),
        ("My box of tea got crushed in the mail", "returns-refunds-damaged", True),
        ("Do you offer free delivery?", "shipping-costs", True),
    ],
)
def test_synonyms_reach_the_passage(
    retriever: PassageRetriever, question: str, passage: str, sure: bool
) -> None:
    assert retriever.retrieve(question, k=1)[0].passage_id == passage
    assert retriever.answerable(question) == sure


@pytest.mark.parametrize(
    "question",
    [
        "What's the best smartphone to buy this year?",
        "Who will win the next election?",
        "讲一个冷笑话",
        "帮我算一下 3 的平方根",
        "你们卖电动车吗",
        "recommend一首好听的song",
        "how tall is the Eiffel Tower",
        "Can you write my essay about climate change?",
        "can you book me a taxi",  # "taxi" is not "tax"
        "do you sell laptops",  # "sell" alone is not the privacy passage
    ],
)
def test_out_of_scope_questions_are_refused(retriever: PassageRetriever, question: str) -> None:
    assert not retriever.answerable(question)
    assert retriever.confidence(question) < DEFAULT_THRESHOLD


def test_ambiguous_questions_are_refused_rather_than_guessed(retriever: PassageRetriever) -> None:
    # consumer fapiao or the wholesale VAT invoice: the two passages tie, so no answer
    question = "Could I get an official Chinese tax invoice for this purchase?"
    hits = retriever.retrieve(question, k=2)
    assert {h.passage_id for h in hits} == {"payment-fapiao", "wholesale-payment-invoices"}
    assert not retriever.answerable(question)


def test_confidence_is_consistent(retriever: PassageRetriever) -> None:
    question = "How long do refunds take to arrive?"
    hits = retriever.retrieve(question, k=5)
    assert hits[0].confidence == retriever.confidence(question)
    assert all(0.0 < h.confidence < 1.0 for h in hits)
    assert hits[0].lead > 0 and all(h.lead <= 0 for h in hits[1:])
    assert [h.confidence for h in hits] == sorted((h.confidence for h in hits), reverse=True)
    assert retriever.answerable(question) == (hits[0].confidence >= DEFAULT_THRESHOLD)


def test_a_stricter_threshold_answers_less(retriever: PassageRetriever) -> None:
    strict = PassageRetriever(threshold=0.95).fit(PASSAGES)
    questions = [r["question"] for r in ROWS[:80]]
    assert sum(map(strict.answerable, questions)) < sum(map(retriever.answerable, questions))


def test_concepts_match_across_languages_and_prefer_the_longest_form() -> None:
    assert list(concept_tokens("退款")) == list(concept_tokens("i want my money back"))
    assert list(concept_tokens("包邮")) == list(concept_tokens("free shipping")) == ["c:ship_fee"]
    assert list(concept_tokens("taxi")) == [] and list(concept_tokens("taxes")) == ["c:price"]
    assert list(concept_tokens("扣款失败")) == ["c:renew_fail"]  # not "扣款" (billing)
    assert list(concept_tokens("can’t, don’t want")) == ["c:no_reason"]  # curly apostrophe
    chinese = [f for forms in CONCEPTS.values() for f in forms if not f.isascii()]
    assert len(chinese) == len(set(chinese))  # one concept per Chinese form


def test_an_edited_passage_is_found_after_a_refit() -> None:
    edited = dataclasses.replace(
        BY_ID["contact-hours"], text_en="We answer from 8:00 to 22:00, even on the Zorblax day."
    )
    model = PassageRetriever().fit([edited if p.id == edited.id else p for p in PASSAGES])
    found = model.retrieve("Zorblax", k=1)[0]
    assert found.passage_id == "contact-hours"
    before = PassageRetriever().fit(PASSAGES).retrieve("Zorblax", k=1)
    assert not before or before[0].score < found.score


def test_fitting_and_retrieval_are_fast(retriever: PassageRetriever) -> None:
    tokenize("预热 warm up")  # jieba's dictionary is loaded once per process
    retrieval._text_counts.cache_clear()
    start = time.perf_counter()
    PassageRetriever().fit(PASSAGES)
    assert time.perf_counter() - start < 1.0  # measured ~0.2-0.4 s on a shared 2-core box
    questions = [r["question"] for r in ROWS[:100]]
    start = time.perf_counter()
    for question in questions:
        retriever.retrieve(question, k=3)
    assert (time.perf_counter() - start) / len(questions) < 0.02  # measured ~0.5 ms
