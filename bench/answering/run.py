"""What the running bot does with shop questions and off-topic messages (issue 15).

For every message of a held-out set, the trained Rasa model's intent (parsed in the Rasa
environment by :mod:`bench.answering.parse`) and then ``action_answer_knowledge``'s own
decision (:func:`actions.knowledge.decide`, same bars, the repository's ``knowledge/``) give
what the customer gets:

- ``bench/knowledge/questions.jsonl`` (shop questions, some without an answer): answered from
  the right passage, from a wrong one, "I don't know" / fallback, or another intent's action;
- ``bench/nlu/data/oos_bilingual.jsonl`` (off-topic, zh/en/mixed): the fallback, "I don't
  know" (both offer the founder), an answer from the FAQ (wrong by definition), or another
  intent's action.

Neither set was used to tune anything. Prints Markdown.

    .venv/bin/python -m bench.answering.run [--model models/leafbean-....tar.gz]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from actions.knowledge import STRICTER_INTENTS, decide
from analytics.loop.knowledge import KnowledgeSnapshot, load_snapshot
from bench.docs import REPO, git_commit

RASA_PYTHON = REPO / ".venv-rasa" / "bin" / "python"
QUESTIONS = REPO / "bench" / "knowledge" / "questions.jsonl"
OFF_TOPIC = REPO / "bench" / "nlu" / "data" / "oos_bilingual.jsonl"
KNOWLEDGE_INTENTS = frozenset({"ask_faq", "shipping_info", *STRICTER_INTENTS})


def newest_model() -> Path:
    """The newest trained model under ``models/``."""
    models = sorted((REPO / "models").glob("leafbean-*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not models:
        raise SystemExit("no trained model: run `make train` first")
    return models[-1]


def parsed(model: Path, source: Path) -> list[dict[str, Any]]:
    """The rows of ``source`` with the model's intent, parsed in the Rasa environment."""
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "parsed.jsonl"
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        subprocess.run(
            [str(RASA_PYTHON), "-m", "bench.answering.parse", str(model), str(source), str(target)],
            cwd=REPO,
            env=env,
            check=True,
            capture_output=True,
        )
        return [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]


def outcome(snapshot: KnowledgeSnapshot, text: str, intent: str) -> str | None:
    """The passage the bot answers from, ``""`` for a refusal, None for another intent."""
    if intent not in KNOWLEDGE_INTENTS:
        return None
    decision = decide(snapshot, text, intent)
    return decision.passage.id if decision.passage is not None else ""


def score_questions(snapshot: KnowledgeSnapshot, rows: list[dict[str, Any]]) -> Counter[str]:
    """Counts what shop questions get."""
    counts: Counter[str] = Counter()
    for row in rows:
        got = outcome(snapshot, row["question"], row["intent"])
        expected = row.get("passage")
        if got is None:
            kind = "other intent"
        elif got == "":
            kind = "refused"
        elif got == expected:
            kind = "right passage"
        else:
            kind = "wrong passage"
        counts[f"{'answerable' if expected else 'unanswerable'}: {kind}"] += 1
    return counts


def score_off_topic(snapshot: KnowledgeSnapshot, rows: list[dict[str, Any]]) -> Counter[str]:
    """Counts what off-topic messages get."""
    counts: Counter[str] = Counter()
    for row in rows:
        got = outcome(snapshot, row["text"], row["intent"])
        if got is None:
            counts["another intent's action"] += 1
        elif got:
            counts["an answer from the FAQ"] += 1
        elif row["intent"] in STRICTER_INTENTS:
            counts["the fallback (offers the founder)"] += 1
        else:
            counts['"I don\'t know" (offers the founder)'] += 1
    return counts


def table(title: str, counts: Counter[str]) -> str:
    """A Markdown table of counts with shares."""
    total = sum(counts.values())
    lines = [f"| {title} ({total}) | messages | share |", "|---|---|---|"]
    lines += [f"| {k} | {v} | {v / total:.3f} |" for k, v in sorted(counts.items())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    args = parser.parse_args(argv)
    model = args.model or newest_model()
    snapshot = load_snapshot(REPO / "knowledge")
    questions = score_questions(snapshot, parsed(model, QUESTIONS))
    off_topic = score_off_topic(snapshot, parsed(model, OFF_TOPIC))
    print(f"model `{model.name}`, commit {git_commit()}\n")
    print(table("shop questions, bench/knowledge/questions.jsonl", questions))
    print()
    print(table("off-topic, bench/nlu/data/oos_bilingual.jsonl", off_topic))


if __name__ == "__main__":
    main()
