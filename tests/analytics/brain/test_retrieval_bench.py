"""bench/knowledge/run.py: the report's tables, on the dev set (never the held-out answers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from analytics.store.knowledge import load_knowledge
from bench.knowledge import run

REPO = Path(__file__).resolve().parents[3]
DEV = Path(__file__).with_name("knowledge_dev.jsonl")


def test_the_report_counts_answers_given_per_language() -> None:
    rows = run.load_questions(DEV)[:120]
    report = run.evaluate(rows, load_knowledge(REPO / "knowledge"), run.load_questions(DEV))
    for name in ("BM25 bilingual (ours)", "TF-IDF baseline"):
        for metric in ("recall@1", "recall@3"):
            assert f"| {name} | {metric} |" in report
        for metric in ("answered", "right when answering", "coverage", "unanswerable refused"):
            assert f"| {name} @ " in report and f" | {metric}" in report
    zh = sum(r["language"] == "zh" for r in rows)
    assert f"zh (n={zh}, " in report and "Fitting the index on 65 passages" in report


def test_decisions_follow_the_threshold() -> None:
    rows: list[dict[str, Any]] = [
        {"id": "a", "question": "", "language": "en", "passage": "x"},
        {"id": "b", "question": "", "language": "en", "passage": "y"},
        {"id": "c", "question": "", "language": "zh", "passage": None},
    ]
    result = run.Run(
        "t", 0.5, {"a": ["x"], "b": ["x"], "c": ["x"]}, {"a": 0.9, "b": 0.6, "c": 0.4}, 0.0
    )
    cells = run.decision_cells(rows, result)
    column = dict(zip(run.LANGUAGES, range(len(run.LANGUAGES)), strict=True))
    assert cells["answered"][column["en"]] == "2/2"
    assert cells["precision"][column["en"]] == "**0.500** (1/2)"
    assert cells["refused"][column["zh"]] == "1/1"
    assert cells["coverage"][column["all"]] == "0.500"


def test_write_doc_refuses_another_question_file() -> None:
    with pytest.raises(SystemExit):
        run.main(["--write-doc", "--questions", str(DEV)])
