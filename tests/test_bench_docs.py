"""bench.docs.write_subsection: replaces only its own subsection, keeps other writers' markers."""

from __future__ import annotations

from pathlib import Path

from bench.docs import write_subsection

PAGE = """# Benchmarks

## Conversation loop

Written by `bench/loop/*`; regenerate, do not edit by hand.

### Ingest

old ingest

### Uplift

old uplift

<!-- nlu-bench:start -->
## NLU benchmark

nlu table
<!-- nlu-bench:end -->
"""


def test_replaces_its_subsection_and_keeps_the_next_writers_marker(tmp_path: Path) -> None:
    page = tmp_path / "benchmarks.md"
    page.write_text(PAGE, encoding="utf-8")
    write_subsection("## Conversation loop", "bench/loop/*", "Uplift", "new uplift", page)
    text = page.read_text(encoding="utf-8")
    assert "new uplift" in text and "old uplift" not in text and "old ingest" in text
    assert "new uplift\n\n<!-- nlu-bench:start -->\n## NLU benchmark\n" in text
    write_subsection("## Conversation loop", "bench/loop/*", "Uplift", "new uplift", page)
    assert page.read_text(encoding="utf-8") == text  # idempotent


def test_a_new_subsection_lands_before_the_marker(tmp_path: Path) -> None:
    page = tmp_path / "benchmarks.md"
    page.write_text(PAGE, encoding="utf-8")
    write_subsection("## Conversation loop", "bench/loop/*", "Latency", "fast", page)
    text = page.read_text(encoding="utf-8")
    assert text.index("### Latency") < text.index("<!-- nlu-bench:start -->")
    assert text.endswith("nlu table\n<!-- nlu-bench:end -->\n")
