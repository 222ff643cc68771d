"""Writes benchmark results into one section of ``docs/benchmarks.md``.

Each benchmark family owns a ``## Section``; a run replaces (or appends) its own
``### Subsection`` there and leaves every other part of the file as it was.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH_DOC = REPO / "docs" / "benchmarks.md"


def _git(*args: str) -> str:
    """Output of ``git <args>`` in the repository, stripped (raises on failure)."""
    return subprocess.run(
        ["git", *args], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()


def git_commit(paths: Sequence[str] = (), *, dirty_suffix: str = " (+ uncommitted changes)") -> str:
    """Short hash of ``HEAD``, plus ``dirty_suffix`` if any of ``paths`` has uncommitted changes.

    Returns ``"unknown"`` outside a git checkout.
    """
    try:
        commit = _git("rev-parse", "--short", "HEAD")
        if paths and _git("status", "--porcelain", "--", *paths):
            commit += dirty_suffix
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit


def run_line(module: str) -> str:
    """``Command: `...` · date: ...``: how this run was started and when (UTC)."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    args = " ".join(sys.argv[1:])
    return f"Command: `.venv/bin/python -m {module}{(' ' + args) if args else ''}` · date: {now}"


def write_subsection(
    section: str, writer: str, title: str, body: str, path: Path = BENCH_DOC
) -> None:
    """Replaces (or appends) ``### title`` inside ``section`` of the benchmarks page.

    Args:
        section: The family's heading, e.g. ``## Conversation loop``.
        writer: Where the section is generated from, e.g. ``bench/loop/*``.
        title: The subsection's title (without ``###``).
        body: The subsection's Markdown.
        path: The benchmarks page.
    """
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if section not in text:
        text = (
            text.rstrip("\n")
            + f"\n\n{section}\n\nWritten by `{writer}`; regenerate, do not edit by hand.\n"
        )
    start = text.index(section)
    # The section ends at the next "## " heading or at an HTML comment line (another
    # writer's marker, e.g. "<!-- nlu-bench:start -->"), which must stay where it is.
    nxt = re.search(r"^(?:## (?!#)|<!-- )", text[start + len(section) :], flags=re.M)
    end = start + len(section) + nxt.start() if nxt else len(text)
    part = text[start:end]
    block = f"### {title}\n\n{body.strip()}\n\n"
    pat = re.compile(rf"^### {re.escape(title)}\n.*?(?=^### |\Z)", flags=re.M | re.S)
    if pat.search(part):
        part = pat.sub(lambda _: block, part, count=1)
    else:
        part = part.rstrip("\n") + "\n\n" + block
    new = text[:start] + part.rstrip("\n") + "\n" + ("\n" + text[end:] if end < len(text) else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new, encoding="utf-8")
