"""Shared helpers for the brain benchmarks: data location and the report section."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from analytics.core.settings import get_settings
from bench import docs

REPO = Path(__file__).resolve().parents[2]
BENCH_DOC = REPO / "docs" / "benchmarks.md"
SECTION = "## Customer-success brain"
#: What the brain benchmarks measure: uncommitted changes here mark the run's commit.
BRAIN_PATHS = ["analytics/brain", "analytics/store/scores.py", "bench/brain"]


def shared_data_dir() -> Path:
    """Directory of the public data sets (``SHARED_DATA_DIR``, default ``../shared/data``).

    Returns:
        The absolute folder; a relative setting is taken inside the repository.
    """
    return get_settings().shared_data_dir


def provenance(module: str) -> str:
    """One line: command, date (UTC) and commit of this run."""
    return f"{docs.run_line(module)} · commit: `{docs.git_commit(BRAIN_PATHS)}`"


def write_subsection(title: str, body: str, path: Path = BENCH_DOC) -> None:
    """Replaces (or appends) ``### title`` inside this family's section only."""
    docs.write_subsection(SECTION, "bench/brain/*", title, body, path)


def md_table(rows: Sequence[Mapping[str, object]], floatfmt: str = "{:.4f}") -> str:
    """Minimal markdown table from a list of dicts."""
    if not rows:
        return ""
    cols = list(rows[0].keys())

    def fmt(v: object) -> str:
        if not isinstance(v, float):
            return str(v)
        s = floatfmt.format(v)
        return s.rstrip("0").rstrip(".") if "." in s else s

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines)
