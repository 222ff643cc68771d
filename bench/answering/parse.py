"""Parses the messages of a JSONL file with a trained Rasa model (run in the Rasa environment).

Each line's ``question`` (or ``text``) is parsed; the line is written back with ``intent`` and
``intent_confidence`` added. Used by :mod:`bench.answering.run`.

    .venv-rasa/bin/python -m bench.answering.parse MODEL IN.jsonl OUT.jsonl
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path


async def parse_file(model: str, source: Path, target: Path) -> int:
    """Parses every message of ``source`` into ``target``; returns how many."""
    from rasa.core.agent import Agent

    agent = Agent.load(model)
    count = 0
    with target.open("w", encoding="utf-8") as out:
        for line in source.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            parsed = await agent.parse_message(str(row.get("question") or row.get("text") or ""))
            row["intent"] = parsed["intent"]["name"]
            row["intent_confidence"] = parsed["intent"]["confidence"]
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def main(argv: list[str] | None = None) -> None:
    """Command line: MODEL IN OUT."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        raise SystemExit("usage: python -m bench.answering.parse MODEL IN.jsonl OUT.jsonl")
    logging.basicConfig(level=logging.WARNING)
    print(asyncio.run(parse_file(args[0], Path(args[1]), Path(args[2]))))


if __name__ == "__main__":
    main()
