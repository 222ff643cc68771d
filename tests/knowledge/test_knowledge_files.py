"""The founder's FAQ (knowledge/) and the held-apart question set (bench/knowledge/) agree."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from analytics.store.knowledge import Passage, load_knowledge

REPO = Path(__file__).resolve().parents[2]
KNOWLEDGE = REPO / "knowledge"
QUESTIONS = REPO / "bench" / "knowledge" / "questions.jsonl"
TOPICS = {
    "shipping",
    "returns-refunds",
    "payment",
    "products-brewing",
    "subscriptions",
    "wholesale",
    "contact",
    "privacy",
}
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
LANG_SHARES = {"zh": (0.40, 0.50), "en": (0.35, 0.45), "mixed": (0.10, 0.20)}
MIN_QUESTIONS = 220
MIN_UNANSWERABLE = 20

# The one parser (analytics.store.knowledge) enforces the format itself: front matter keys,
# headings, language blocks, no stray text, unique ids; loading fails on any breach.
ALL_PASSAGES = load_knowledge(KNOWLEDGE)
KNOWLEDGE_BY_FILE: dict[str, list[Passage]] = {}
for _passage in ALL_PASSAGES:
    KNOWLEDGE_BY_FILE.setdefault(_passage.file.stem, []).append(_passage)
PASSAGES = {p.id: p for p in ALL_PASSAGES}


def blocks(passage: Passage) -> dict[str, str]:
    """The passage's language blocks by language."""
    texts = {"zh": passage.text_zh, "en": passage.text_en}
    return {lang: text for lang, text in texts.items() if text is not None}


def load_questions() -> list[dict]:
    lines = QUESTIONS.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


QUESTION_ROWS = load_questions()


def test_every_topic_has_its_file() -> None:
    assert set(KNOWLEDGE_BY_FILE) == TOPICS


@pytest.mark.parametrize("stem", sorted(TOPICS))
def test_front_matter_names_the_topic_in_both_languages(stem: str) -> None:
    first = KNOWLEDGE_BY_FILE[stem][0]
    assert first.topic == stem
    assert CJK.search(first.topic_title_zh)
    assert first.topic_title_en and not CJK.search(first.topic_title_en)


@pytest.mark.parametrize("stem", sorted(TOPICS))
def test_passage_ids_carry_the_topic_prefix(stem: str) -> None:
    passages = KNOWLEDGE_BY_FILE[stem]
    assert len(passages) >= 5, f"{stem}: only {len(passages)} passages"
    for passage in passages:
        assert passage.id.startswith(stem + "-"), passage.id


def test_passage_ids_are_unique_across_files() -> None:
    ids = [p.id for p in ALL_PASSAGES]
    assert [i for i, n in Counter(ids).items() if n > 1] == []


def test_every_passage_has_text_in_the_right_script() -> None:
    for pid, passage in PASSAGES.items():
        texts = blocks(passage)
        assert texts, f"{pid}: no <!-- zh --> or <!-- en --> block"
        for lang, text in texts.items():
            assert text, f"{pid}: empty {lang} block"
        if "zh" in texts:
            assert CJK.search(texts["zh"]), f"{pid}: zh block without Chinese"
        if "en" in texts:
            assert not CJK.search(texts["en"]), f"{pid}: Chinese characters in the en block"
        assert CJK.search(passage.title_zh), f"{pid}: heading's first half not Chinese"


def test_both_one_language_kinds_exist() -> None:
    kinds = Counter(tuple(sorted(blocks(p))) for p in PASSAGES.values())
    assert kinds[("zh",)] >= 3 and kinds[("en",)] >= 1 and kinds[("en", "zh")] >= 40


def test_question_rows_are_well_formed() -> None:
    ids = [row["id"] for row in QUESTION_ROWS]
    assert len(ids) == len(set(ids))
    for row in QUESTION_ROWS:
        assert set(row) <= {"id", "question", "language", "passage", "note"}, row
        assert re.fullmatch(r"q\d{3,}", row["id"]), row
        assert row["question"].strip(), row
        assert row["language"] in LANG_SHARES, row
        has_cjk = bool(CJK.search(row["question"]))
        assert has_cjk == (row["language"] != "en"), f"{row['id']}: script and language disagree"


def test_every_question_points_at_a_passage_or_null() -> None:
    unknown = [
        r["id"] for r in QUESTION_ROWS if r["passage"] is not None and r["passage"] not in PASSAGES
    ]
    assert unknown == []


def test_every_passage_is_asked_about() -> None:
    asked = {row["passage"] for row in QUESTION_ROWS}
    assert sorted(set(PASSAGES) - asked) == []


def test_enough_questions_and_unanswerable_ones() -> None:
    assert len(QUESTION_ROWS) >= MIN_QUESTIONS
    assert sum(row["passage"] is None for row in QUESTION_ROWS) >= MIN_UNANSWERABLE


def test_language_shares() -> None:
    counts = Counter(row["language"] for row in QUESTION_ROWS)
    for lang, (low, high) in LANG_SHARES.items():
        share = counts[lang] / len(QUESTION_ROWS)
        assert low <= share <= high, f"{lang}: {share:.2f} outside [{low}, {high}]"


def test_cross_language_cases_exist() -> None:
    def one_language(pid: str | None) -> str | None:
        texts = blocks(PASSAGES[pid]) if pid else {}
        return next(iter(texts)) if len(texts) == 1 else None

    pairs = Counter(
        (row["language"], one_language(row["passage"]))
        for row in QUESTION_ROWS
        if one_language(row["passage"])
    )
    assert pairs[("en", "zh")] >= 3 and pairs[("zh", "en")] >= 2
