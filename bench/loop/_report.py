"""Writes the "Conversation loop" section of ``docs/benchmarks.md`` (only that section)."""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BENCH_DOC = REPO / "docs" / "benchmarks.md"
SECTION = "## Conversation loop"
RESULTS = REPO / "var" / "bench" / "loop"


def provenance(module: str) -> str:
    """One line: command, date (UTC), commit and machine of this run."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    args = " ".join(sys.argv[1:])
    cmd = f"`.venv/bin/python -m {module}{(' ' + args) if args else ''}`"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"Command: {cmd} · date: {now} · commit: `{commit}` · {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average at start {load:.1f}"
    )


def write_subsection(title: str, body: str, path: Path = BENCH_DOC) -> None:
    """Replace (or append) ``### title`` inside the conversation-loop section only."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if SECTION not in text:
        text = (
            text.rstrip("\n")
            + f"\n\n{SECTION}\n\nWritten by `bench/loop/*`; regenerate, do not edit by hand.\n"
        )
    start = text.index(SECTION)
    nxt = re.search(r"^## (?!#)", text[start + len(SECTION) :], flags=re.M)
    end = start + len(SECTION) + nxt.start() if nxt else len(text)
    section = text[start:end]
    block = f"### {title}\n\n{body.strip()}\n\n"
    pat = re.compile(rf"^### {re.escape(title)}\n.*?(?=^### |\Z)", flags=re.M | re.S)
    if pat.search(section):
        section = pat.sub(lambda _: block, section, count=1)
    else:
        section = section.rstrip("\n") + "\n\n" + block
    new = (
        text[:start] + section.rstrip("\n") + "\n" + ("\n" + text[end:] if end < len(text) else "")
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new, encoding="utf-8")
