"""Knowledge-base retrieval benchmark (issue 15): recall and answers given on held-out questions.

Runs ``PassageRetriever`` (bilingual BM25 with a domain concept table and a calibrated
confidence) and a TF-IDF baseline (scikit-learn ``TfidfVectorizer``, ``char_wb`` 1-3 grams
plus words, cosine similarity) over ``knowledge/`` and scores them on
``bench/knowledge/questions.jsonl``:

- recall@1 and recall@3 on the answerable questions, by language;
- at each retriever's fixed threshold (chosen on the development set
  ``tests/analytics/brain/knowledge_dev.jsonl``, never here): questions answered, answers
  that were right (precision), coverage (right answers over answerable questions) and
  unanswerable questions refused, by language.

Prints Markdown; ``--write-doc`` records it in ``docs/benchmarks.md``; ``--questions``
scores another file (e.g. the development set while tuning).

    .venv/bin/python -m bench.knowledge.run [--write-doc] [--questions PATH]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer

from analytics.brain import retrieval
from analytics.brain.retrieval import PassageRetriever, choose_threshold, passage_text
from analytics.store.knowledge import Passage, load_knowledge
from bench.docs import REPO, git_commit, run_line, write_subsection

QUESTIONS = REPO / "bench" / "knowledge" / "questions.jsonl"
DEV = REPO / "tests" / "analytics" / "brain" / "knowledge_dev.jsonl"
KNOWLEDGE = REPO / "knowledge"
LANGUAGES = ("zh", "en", "mixed", "all")
SECTION = "## Knowledge base retrieval (issue 15)"


class TfidfBaseline:
    """TF-IDF over the same passage text: char_wb 1-3 grams and words, cosine ranking."""

    def fit(self, passages: Sequence[Passage]) -> TfidfBaseline:
        """Fits both vectorizers on the passages' indexed text; returns self."""
        texts = [passage_text(p) for p in passages]
        self.ids_ = [p.id for p in passages]
        self.char_ = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True)
        self.word_ = TfidfVectorizer(analyzer="word", sublinear_tf=True)
        self.matrix_ = self._normalise(
            hstack([self.char_.fit_transform(texts), self.word_.fit_transform(texts)]).tocsr()
        )
        return self

    @staticmethod
    def _normalise(matrix: Any) -> Any:
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return matrix.multiply(1.0 / norms[:, None]).tocsr()

    def ranked_scores(self, question: str, k: int) -> tuple[list[str], float]:
        """The ``k`` passage ids with the highest cosine similarity, and the best similarity."""
        vec = hstack([self.char_.transform([question]), self.word_.transform([question])])
        sims = (self.matrix_ @ self._normalise(vec.tocsr()).T).toarray().ravel()
        order = np.argsort(-sims, kind="stable")[:k]
        return [self.ids_[i] for i in order], float(sims[order[0]]) if len(order) else 0.0

    def ranked(self, question: str, k: int) -> list[str]:
        """The ``k`` passage ids with the highest cosine similarity."""
        return self.ranked_scores(question, k)[0]


@dataclass
class Run:
    """One retriever's answers to a question set: top-3 ids and top confidence per row id."""

    name: str
    threshold: float
    ranked: dict[str, list[str]]
    confidence: dict[str, float]
    ms_per_question: float


Ranker = Callable[[str], tuple[list[str], float]]


def load_questions(path: Path = QUESTIONS) -> list[dict[str, Any]]:
    """Question rows (``id`` filled in by line number when a file has none)."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [json.loads(line) for line in lines]
    for number, row in enumerate(rows, 1):
        row.setdefault("id", f"line{number}")
    return rows


def in_language(rows: list[dict[str, Any]], lang: str) -> list[dict[str, Any]]:
    """The rows of one language (``all``: every row)."""
    return [r for r in rows if lang in (r["language"], "all")]


def run(name: str, rank: Ranker, rows: list[dict[str, Any]], threshold: float) -> Run:
    """Ranks every row with ``rank`` and times it."""
    ranked, confidence = {}, {}
    start = time.perf_counter()
    for row in rows:
        ranked[row["id"]], confidence[row["id"]] = rank(row["question"])
    elapsed = (time.perf_counter() - start) * 1000 / max(len(rows), 1)
    return Run(name, threshold, ranked, confidence, elapsed)


def tuned_threshold(rank: Ranker, dev: list[dict[str, Any]]) -> float:
    """The threshold ``choose_threshold`` picks for a ranker on the development rows."""
    rows = []
    for row in dev:
        ids, conf = rank(row["question"])
        rows.append((conf, row["passage"], ids[0] if ids else None))
    return choose_threshold(rows)


def recall_cells(rows: list[dict[str, Any]], result: Run, k: int) -> list[str]:
    """Recall@k by language over the answerable rows."""
    cells = []
    for lang in LANGUAGES:
        sub = [r for r in in_language(rows, lang) if r["passage"]]
        hits = sum(r["passage"] in result.ranked[r["id"]][:k] for r in sub)
        cells.append(f"{hits / len(sub):.3f}" if sub else "-")
    return cells


def decision_cells(rows: list[dict[str, Any]], result: Run) -> dict[str, list[str]]:
    """At the run's threshold, by language: answered, precision, coverage, refusals."""
    out: dict[str, list[str]] = {"answered": [], "precision": [], "coverage": [], "refused": []}
    for lang in LANGUAGES:
        sub = in_language(rows, lang)
        given = [r for r in sub if result.confidence[r["id"]] >= result.threshold]
        right = [r for r in given if r["passage"] and result.ranked[r["id"]][:1] == [r["passage"]]]
        answerable = [r for r in sub if r["passage"]]
        nulls = [r for r in sub if r["passage"] is None]
        refused = [r for r in nulls if result.confidence[r["id"]] < result.threshold]
        out["answered"].append(f"{len(given)}/{len(sub)}")
        out["precision"].append(
            f"**{len(right) / len(given):.3f}** ({len(right)}/{len(given)})" if given else "-"
        )
        out["coverage"].append(f"{len(right) / len(answerable):.3f}" if answerable else "-")
        out["refused"].append(f"{len(refused)}/{len(nulls)}" if nulls else "-")
    return out


def cross_language(rows: list[dict[str, Any]], passages: list[Passage]) -> list[dict[str, Any]]:
    """Answerable rows whose passage has only the other language's text."""
    one_language = {
        p.id: "zh" if p.text_en is None else "en"
        for p in passages
        if p.text_zh is None or p.text_en is None
    }
    return [
        r
        for r in rows
        if r["passage"] in one_language and r["language"] != one_language[r["passage"]]
    ]


def report(rows: list[dict[str, Any]], runs: list[Run], passages: list[Passage]) -> str:
    """The Markdown tables for the runs."""
    counts = {lang: len(in_language(rows, lang)) for lang in LANGUAGES}
    nulls = {lang: sum(r["passage"] is None for r in in_language(rows, lang)) for lang in LANGUAGES}
    head = [
        "| retriever | metric | "
        + " | ".join(
            f"{lang} (n={counts[lang]}, {counts[lang] - nulls[lang]} answerable)"
            for lang in LANGUAGES
        )
        + " |",
        "|---|---|" + "--:|" * len(LANGUAGES),
    ]
    lines = list(head)
    for result in runs:
        for k in (1, 3):
            cells = recall_cells(rows, result, k)
            lines.append(f"| {result.name} | recall@{k} | " + " | ".join(cells) + " |")
    lines += ["", "Answers given at each retriever's fixed threshold:", "", *head]
    labels = {
        "answered": "answered",
        "precision": "right when answering",
        "coverage": "coverage (right / answerable)",
        "refused": "unanswerable refused",
    }
    for result in runs:
        decided = decision_cells(rows, result)
        for key, label in labels.items():
            name = f"{result.name} @ {result.threshold:.2f}"
            lines.append(f"| {name} | {label} | " + " | ".join(decided[key]) + " |")
    cross = cross_language(rows, passages)
    lines.append("")
    if cross:
        parts = [
            f"{r.name} {sum(x['passage'] in r.ranked[x['id']][:1] for x in cross) / len(cross):.3f}"
            for r in runs
        ]
        lines.append(
            f"Questions over a passage in the other language only (n={len(cross)}), "
            f"recall@1: {', '.join(parts)}."
        )
    lines.append(
        "Thresholds chosen on `tests/analytics/brain/knowledge_dev.jsonl` (not on this set); "
        "time per question: "
        + ", ".join(f"{r.name} {r.ms_per_question:.1f} ms" for r in runs)
        + "."
    )
    return "\n".join(lines)


def evaluate(rows: list[dict[str, Any]], passages: list[Passage], dev: list[dict[str, Any]]) -> str:
    """Runs both retrievers over the rows; returns the Markdown report."""
    start = time.perf_counter()
    ours = PassageRetriever().fit(passages)
    first_ms = (time.perf_counter() - start) * 1000
    retrieval._text_counts.cache_clear()  # a refit that re-tokenizes every passage
    start = time.perf_counter()
    ours = PassageRetriever().fit(passages)
    fit_ms = (time.perf_counter() - start) * 1000

    def rank_ours(question: str) -> tuple[list[str], float]:
        hits = ours.retrieve(question, k=3)
        return [h.passage_id for h in hits], hits[0].confidence if hits else 0.0

    base = TfidfBaseline().fit(passages)

    def rank_base(question: str) -> tuple[list[str], float]:
        return base.ranked_scores(question, 3)

    runs = [
        run("BM25 bilingual (ours)", rank_ours, rows, ours.threshold),
        run("TF-IDF baseline", rank_base, rows, tuned_threshold(rank_base, dev)),
    ]
    text = report(rows, runs, passages)
    return (
        f"{text}\nFitting the index on {len(passages)} passages: {fit_ms:.0f} ms "
        f"({first_ms:.0f} ms the first time in a process, which loads jieba's dictionary)."
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Prints the report; with ``--write-doc`` records it in docs/benchmarks.md."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--write-doc", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--questions", type=Path, default=QUESTIONS, help="question file")
    args = parser.parse_args(argv)
    if args.write_doc and args.questions != QUESTIONS:
        parser.error("--write-doc records the held-out set only")
    report_text = evaluate(
        load_questions(args.questions), load_knowledge(KNOWLEDGE), load_questions(DEV)
    )
    commit = git_commit(
        [
            "analytics/brain/retrieval.py",
            "analytics/brain/retrieval_concepts.py",
            "analytics/store/knowledge.py",
            "knowledge",
            "tests/analytics/brain/knowledge_dev.jsonl",
        ]
    )
    body = f"{report_text}\n\n{run_line('bench.knowledge.run')} · commit: `{commit}`"
    print(body)
    if args.write_doc:
        write_subsection(
            SECTION, "bench/knowledge/run.py", "Recall on the held-out questions", body
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
