"""Knowledge-base retrieval benchmark (issue 15): recall@1/@3 and refusals on the held-out set.

Runs ``PassageRetriever`` (bilingual BM25) and a TF-IDF baseline (scikit-learn
``TfidfVectorizer``, ``char_wb`` 1-3 grams plus words, cosine similarity) over
``knowledge/`` and scores them on ``bench/knowledge/questions.jsonl``: recall@1 and
recall@3 on the answerable questions by language, then, at the retriever's fixed
threshold (tuned on the development set, never here), the share of unanswerable
questions refused and of answerable ones wrongly refused. Prints a Markdown table;
``--write-doc`` records it in ``docs/benchmarks.md``.

    .venv/bin/python -m bench.knowledge.run [--write-doc]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer

from analytics.brain.retrieval import PassageRetriever, passage_text
from analytics.store.knowledge import Passage, load_knowledge
from bench.docs import REPO, git_commit, run_line, write_subsection

QUESTIONS = REPO / "bench" / "knowledge" / "questions.jsonl"
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

    def ranked(self, question: str, k: int) -> list[str]:
        """The ``k`` passage ids with the highest cosine similarity."""
        vec = hstack([self.char_.transform([question]), self.word_.transform([question])])
        sims = (self.matrix_ @ self._normalise(vec.tocsr()).T).toarray().ravel()
        return [self.ids_[i] for i in np.argsort(-sims, kind="stable")[:k]]


def load_questions(path: Path = QUESTIONS) -> list[dict[str, Any]]:
    """The held-out question rows."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def recall(rows: list[dict[str, Any]], ranked: dict[str, list[str]], k: int) -> dict[str, str]:
    """Recall@k by language over the answerable rows, formatted with n."""
    out = {}
    for lang in LANGUAGES:
        sub = [r for r in rows if r["passage"] and lang in (r["language"], "all")]
        hits = sum(r["passage"] in ranked[r["id"]][:k] for r in sub)
        out[lang] = f"{hits / len(sub):.3f}" if sub else "-"
    return out


def evaluate(rows: list[dict[str, Any]], passages: list[Passage]) -> str:
    """Runs both retrievers over the rows; returns the Markdown report."""
    ours = PassageRetriever().fit(passages)
    base = TfidfBaseline().fit(passages)
    ours_ranked, base_ranked, confidence = {}, {}, {}
    for row in rows:
        hits = ours.retrieve(row["question"], k=3)
        ours_ranked[row["id"]] = [h.passage_id for h in hits]
        confidence[row["id"]] = hits[0].confidence if hits else 0.0
        base_ranked[row["id"]] = base.ranked(row["question"], 3)
    answerable = [r for r in rows if r["passage"]]
    counts = {lang: sum(lang in (r["language"], "all") for r in answerable) for lang in LANGUAGES}
    lines = [
        "| retriever | metric | "
        + " | ".join(f"{lang} (n={counts[lang]})" for lang in LANGUAGES)
        + " |",
        "|---|---|" + "--:|" * len(LANGUAGES),
    ]
    for name, ranked in (("BM25 bilingual (ours)", ours_ranked), ("TF-IDF baseline", base_ranked)):
        for k in (1, 3):
            cells = recall(rows, ranked, k)
            lines.append(
                f"| {name} | recall@{k} | " + " | ".join(cells[x] for x in LANGUAGES) + " |"
            )
    nulls = [r for r in rows if r["passage"] is None]
    refused = sum(confidence[r["id"]] < ours.threshold for r in nulls)
    wrongly = sum(confidence[r["id"]] < ours.threshold for r in answerable)
    one_language = {
        p.id: "zh" if p.text_en is None else "en"
        for p in passages
        if p.text_zh is None or p.text_en is None
    }
    cross = [
        r
        for r in answerable
        if r["passage"] in one_language and r["language"] != one_language[r["passage"]]
    ]
    cross_ours = sum(r["passage"] in ours_ranked[r["id"]][:1] for r in cross)
    cross_base = sum(r["passage"] in base_ranked[r["id"]][:1] for r in cross)
    lines += [
        "",
        f"At the fixed threshold **{ours.threshold:.2f}** (tuned on "
        "`tests/analytics/brain/knowledge_dev.jsonl`, not on this set): unanswerable questions "
        f"correctly refused **{refused / len(nulls):.3f}** ({refused}/{len(nulls)}); answerable "
        f"questions wrongly refused **{wrongly / len(answerable):.3f}** "
        f"({wrongly}/{len(answerable)}).",
    ]
    if cross:
        lines.append(
            f"Questions over a passage in the other language only (n={len(cross)}), "
            f"recall@1: ours {cross_ours / len(cross):.3f}, TF-IDF {cross_base / len(cross):.3f}."
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Prints the report; with ``--write-doc`` records it in docs/benchmarks.md."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--write-doc", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args(argv)
    report = evaluate(load_questions(), load_knowledge(KNOWLEDGE))
    commit = git_commit(
        ["analytics/brain/retrieval.py", "analytics/store/knowledge.py", "knowledge"]
    )
    body = f"{report}\n\n{run_line('bench.knowledge.run')} · commit: `{commit}`"
    print(body)
    if args.write_doc:
        write_subsection(
            SECTION, "bench/knowledge/run.py", "Recall on the held-out questions", body
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
