"""Writes the "Conversation loop" section of ``docs/benchmarks.md`` (only that section)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

from bench import docs

REPO = Path(__file__).resolve().parents[2]
BENCH_DOC = REPO / "docs" / "benchmarks.md"
SECTION = "## Conversation loop"
RESULTS = REPO / "var" / "bench" / "loop"


def provenance(module: str) -> str:
    """One line: command, date (UTC), commit and machine of this run."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{docs.run_line(module)} · commit: `{docs.git_commit()}` · {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average at start {load:.1f}"
    )


def write_subsection(title: str, body: str, path: Path = BENCH_DOC) -> None:
    """Replaces (or appends) ``### title`` inside this family's section only."""
    docs.write_subsection(SECTION, "bench/loop/*", title, body, path)
