"""The house rules that no linter checks: every source file stays small.

A file that grows past the limit is a sign that it does two jobs; split it by concern
(docs/architecture.md says where things go). Alembic migrations are history and exempt.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAX_LINES = 500
SOURCE_SUFFIXES = (".py", ".ts", ".js", ".css", ".html", ".sh", ".mk")
EXEMPT_PARTS = ("migrations/versions/",)


def tracked_sources() -> list[Path]:
    """Every source file git tracks (or would track) in the checkout."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    files = []
    for name in out.splitlines():
        if not (name.endswith(SOURCE_SUFFIXES) or Path(name).name == "Makefile"):
            continue
        if any(part in name for part in EXEMPT_PARTS):
            continue
        path = REPO / name
        if path.is_file():
            files.append(path)
    return files


def test_the_checkout_has_sources() -> None:
    names = {p.relative_to(REPO).as_posix() for p in tracked_sources()}
    assert {"analytics/cli.py", "widget/src/widget.ts", "Makefile"} <= names


def test_every_source_file_is_under_the_limit() -> None:
    too_long = {}
    for path in tracked_sources():
        with path.open("rb") as fh:
            lines = sum(1 for _ in fh)
        if lines >= MAX_LINES:
            too_long[path.relative_to(REPO).as_posix()] = lines
    assert not too_long, f"split these by concern (limit {MAX_LINES} lines): {too_long}"
