"""The founder's FAQ (knowledge/) and the held-apart question set (bench/knowledge/) agree.

Standard library only: the front matter is three flat `key: value` lines, read by hand.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

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
FRONT_MATTER_KEYS = {"topic", "title_zh", "title_en"}
HEADING = re.compile(r"^## (?P<zh>.+?) / (?P<en>.+?) \{#(?P<id>[a-z0-9]+(?:-[a-z0-9]+)*)\}\s*$")
LANG_MARKER = re.compile(r"^<!-- (zh|en) -->$")
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
LANG_SHARES = {"zh": (0.40, 0.50), "en": (0.35, 0.45), "mixed": (0.10, 0.20)}
MIN_QUESTIONS = 220
MIN_UNANSWERABLE = 20


def knowledge_files() -> list[Path]:
    return sorted(p for p in KNOWLEDGE.glob("*.md") if p.name != "README.md")


def split_front_matter(text: str) -> tuple[dict[str, str], list[str]]:
    lines = text.splitlines()
    assert lines and lines[0] == "---", "the file must start with '---' front matter"
    end = lines.index("---", 1)
    meta = {}
    for line in lines[1:end]:
        key, sep, value = line.partition(":")
        assert sep, f"front matter line without ':': {line!r}"
        meta[key.strip()] = value.strip()
    return meta, lines[end + 1 :]


def parse_passages(body: list[str]) -> list[dict]:
    """Each `## ` heading opens a passage; `<!-- zh -->` / `<!-- en -->` open its blocks."""
    passages: list[dict] = []
    lang = None
    for line in body:
        if line.startswith("## "):
            match = HEADING.match(line)
            assert match, f"heading not '## 中文 / English {{#id}}': {line!r}"
            passages.append({"id": match["id"], "heading": match.groupdict(), "blocks": {}})
            lang = None
        elif line.startswith("# "):
            raise AssertionError(f"top-level heading in a knowledge file: {line!r}")
        elif LANG_MARKER.match(line):
            assert passages, "a language block before the first passage"
            lang = LANG_MARKER.match(line).group(1)
            assert lang not in passages[-1]["blocks"], f"{passages[-1]['id']}: two {lang} blocks"
            passages[-1]["blocks"][lang] = []
        elif lang is not None:
            passages[-1]["blocks"][lang].append(line)
        else:
            assert not line.strip(), f"text outside a language block: {line!r}"
    for passage in passages:
        passage["blocks"] = {k: "\n".join(v).strip() for k, v in passage["blocks"].items()}
    return passages


def load_knowledge() -> dict[str, tuple[dict[str, str], list[dict]]]:
    loaded = {}
    for path in knowledge_files():
        meta, body = split_front_matter(path.read_text(encoding="utf-8"))
        loaded[path.stem] = (meta, parse_passages(body))
    return loaded


KNOWLEDGE_BY_FILE = load_knowledge()
PASSAGES = {p["id"]: p for _, passages in KNOWLEDGE_BY_FILE.values() for p in passages}


def load_questions() -> list[dict]:
    lines = QUESTIONS.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


QUESTION_ROWS = load_questions()


def test_every_topic_has_its_file() -> None:
    assert set(KNOWLEDGE_BY_FILE) == TOPICS


@pytest.mark.parametrize("stem", sorted(TOPICS))
def test_front_matter_names_the_topic_in_both_languages(stem: str) -> None:
    meta, _ = KNOWLEDGE_BY_FILE[stem]
    assert set(meta) == FRONT_MATTER_KEYS
    assert meta["topic"] == stem
    assert CJK.search(meta["title_zh"])
    assert meta["title_en"] and not CJK.search(meta["title_en"])


@pytest.mark.parametrize("stem", sorted(TOPICS))
def test_passage_ids_carry_the_topic_prefix(stem: str) -> None:
    _, passages = KNOWLEDGE_BY_FILE[stem]
    assert len(passages) >= 5, f"{stem}: only {len(passages)} passages"
    for passage in passages:
        assert passage["id"].startswith(stem + "-"), passage["id"]


def test_passage_ids_are_unique_across_files() -> None:
    ids = [p["id"] for _, passages in KNOWLEDGE_BY_FILE.values() for p in passages]
    assert [i for i, n in Counter(ids).items() if n > 1] == []


def test_every_passage_has_text_in_the_right_script() -> None:
    for pid, passage in PASSAGES.items():
        blocks = passage["blocks"]
        assert blocks, f"{pid}: no <!-- zh --> or <!-- en --> block"
        for lang, text in blocks.items():
            assert text, f"{pid}: empty {lang} block"
        if "zh" in blocks:
            assert CJK.search(blocks["zh"]), f"{pid}: zh block without Chinese"
        if "en" in blocks:
            assert not CJK.search(blocks["en"]), f"{pid}: Chinese characters in the en block"
        assert CJK.search(passage["heading"]["zh"]), f"{pid}: heading's first half not Chinese"


def test_both_one_language_kinds_exist() -> None:
    kinds = Counter(tuple(sorted(p["blocks"])) for p in PASSAGES.values())
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
        blocks = PASSAGES[pid]["blocks"] if pid else {}
        return next(iter(blocks)) if len(blocks) == 1 else None

    pairs = Counter(
        (row["language"], one_language(row["passage"]))
        for row in QUESTION_ROWS
        if one_language(row["passage"])
    )
    assert pairs[("en", "zh")] >= 3 and pairs[("zh", "en")] >= 2
