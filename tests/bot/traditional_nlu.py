"""Does the NLU read Traditional Chinese like its Simplified twin? A measurement.

Each Chinese message of a sample is parsed by the trained model twice, as written
(Simplified) and converted to Traditional with OpenCC (``s2tw``), and the two parses are
compared: same intent (after the fallback threshold), same entities, confidence gap.

Samples: the Chinese training examples of ``nlu_data/zh`` and ``nlu_data/mixed`` (the
model has seen their Simplified form, never the Traditional one) and held-out messages the
model was not trained on (``bench/knowledge/questions.jsonl`` and the
``bench/nlu/data/oos_bilingual*.jsonl`` Chinese lines).

Usage (Rasa environment)::

    .venv-rasa/bin/python -m tests.bot.traditional_nlu [--model M] [--limit N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.channels.script import HANT, detect_script, to_traditional

REPO = Path(__file__).resolve().parents[2]
HAN = re.compile("[\u4e00-\u9fff]")
_ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")


def training_examples() -> list[str]:
    """The Chinese (and mixed) training examples that are Simplified, annotations removed."""
    found = []
    for path in sorted((REPO / "nlu_data").glob("*/*.yml")):
        if path.parent.name not in ("zh", "mixed"):
            continue
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for item in data.get("nlu") or []:
            if "intent" not in item:
                continue
            for line in str(item.get("examples", "")).splitlines():
                line = line.strip()
                if line.startswith("- "):
                    found.append(_ANNOTATION.sub(r"\1", line[2:]))
    return found


def held_out_examples() -> list[str]:
    """Chinese messages the model was not trained on (benchmark question sets)."""
    found = []
    files = [
        REPO / "bench/knowledge/questions.jsonl",
        *(REPO / "bench/nlu/data").glob("oos_*.jsonl"),
    ]
    for path in files:
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                text = row.get("question") or row.get("text") or ""
                if row.get("language") == "zh":
                    found.append(text)
    return found


def twins(texts: Iterable[str]) -> list[tuple[str, str]]:
    """``(simplified, traditional)`` pairs whose conversion reads as Traditional."""
    pairs = []
    for text in dict.fromkeys(texts):
        if not HAN.search(text) or detect_script(text) == HANT:
            continue
        converted = to_traditional(text)
        if converted != text and detect_script(converted) == HANT:
            pairs.append((text, converted))
    return pairs


@dataclass
class Agreement:
    """How the parses of the twins compare."""

    pairs: int = 0
    same_intent: int = 0
    same_entities: int = 0
    max_confidence_gap: float = 0.0
    sum_confidence_gap: float = 0.0
    differing: list[tuple[str, str, str, str]] | None = None

    def report(self, name: str) -> str:
        """One line of results."""
        n = max(self.pairs, 1)
        return (
            f"{name}: {self.pairs} pairs, same intent {self.same_intent}/{self.pairs} "
            f"({self.same_intent / n:.3f}), same entities {self.same_entities}/{self.pairs}, "
            f"confidence gap mean {self.sum_confidence_gap / n:.3f} max {self.max_confidence_gap:.3f}"
        )


def _entities(parse: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((e["entity"], str(e.get("value"))) for e in parse.get("entities") or [])


async def compare(agent: Any, pairs: list[tuple[str, str]]) -> Agreement:
    """Parses both twins of every pair with the agent's NLU."""
    result = Agreement(differing=[])
    for simplified, traditional in pairs:
        a = await agent.parse_message(simplified)
        b = await agent.parse_message(traditional)
        result.pairs += 1
        ia, ib = a["intent"]["name"], b["intent"]["name"]
        gap = abs(float(a["intent"]["confidence"]) - float(b["intent"]["confidence"]))
        result.sum_confidence_gap += gap
        result.max_confidence_gap = max(result.max_confidence_gap, gap)
        if ia == ib:
            result.same_intent += 1
        else:
            assert result.differing is not None
            result.differing.append((simplified, ia, traditional, ib))
        if _entities(a) == _entities(b):
            result.same_entities += 1
    return result


def newest_model() -> Path:
    """The newest trained model in ``models/``."""
    models = sorted((REPO / "models").glob("leafbean-*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not models:
        raise SystemExit("no trained model: make train")
    return models[-1]


def load_agent(model: Path) -> Any:
    """The Rasa agent of a model (NLU and dialogue; no endpoints)."""
    from rasa.core.agent import Agent

    return Agent.load(str(model))


def main(argv: list[str] | None = None) -> int:
    """Prints the agreement of Simplified and Traditional twins; exit 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--limit", type=int, default=0, help="pairs per sample (0: all)")
    args = parser.parse_args(argv)
    model = args.model or newest_model()
    agent = load_agent(model)
    print(f"model {model.name}")
    for name, texts in (("training", training_examples()), ("held-out", held_out_examples())):
        pairs = twins(texts)
        if args.limit:
            pairs = pairs[: args.limit]
        result = asyncio.run(compare(agent, pairs))
        print(result.report(name))
        for row in (result.differing or [])[:15]:
            print("   ", *row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
