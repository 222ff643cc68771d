"""Redaction time on adversarial text: linear in the input, by the ratio of two sizes.

Each case is a text made of one hostile pattern repeated to the wanted size: long runs of
``a``, ``@``, digits and dots, mixed scripts, and near misses of every detector (e-mails
without a domain, phone numbers one digit short, card numbers failing Luhn, ID numbers with
a wrong check character, street words without a number, 微信/QQ without an id). The last
case tiles all of them. For each size the best of ``--repeats`` runs is kept.

Linear time means each doubling of the size about doubles the time (ratio ~2); a
backtracking regex shows ~4 per doubling (the old e-mail pattern took 9.4 s on 32,000
``a``). ``tests/analytics/test_privacy.py`` runs :func:`measure` on small sizes and asserts
the ratio, not a wall-clock limit.

Usage::

    .venv/bin/python -m bench.privacy.redact            # 25, 50 and 100 KB
    .venv/bin/python -m bench.privacy.redact --quick    # 5, 10 and 20 KB, one run
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from analytics.loop.privacy import redact
from bench import docs

logger = logging.getLogger(__name__)

KB = 1000
SIZES_KB = (25, 50, 100)
QUICK_SIZES_KB = (5, 10, 20)
DEFAULT_REPEATS = 3
MODULE = "bench.privacy.redact"

PATTERNS: dict[str, str] = {
    "run of a": "a",
    "run of @": "@",
    "run of digits": "1",
    "run of dots": ".",
    "run of full-width digits": "１",
    "mixed scripts": "张a1@．１é ",
    "e-mail near miss": "a" * 63 + "." + "@" + "b-" * 40 + ". ",
    "phone near miss": "138 0013 800 +44 20 79 ",
    "card near miss": "4111.1111.1111.1112 ",
    "ID near miss": "110105 19491231 0021 ",
    "address near miss": "北京市朝阳区建国路号3单元 12 the Street Apt ",
    "WeChat/QQ near miss": "微信: _ WeChat: payments QQ 12 vx：",
    "digit groups": "1 2-3.4 ",
}
TILED = "tiled (all of the above)"


def adversarial_texts(size: int) -> dict[str, str]:
    """One text of exactly ``size`` characters per case.

    Args:
        size: Characters per text.

    Returns:
        Case name to text.
    """
    texts = {name: (unit * (size // len(unit) + 1))[:size] for name, unit in PATTERNS.items()}
    block = "".join(unit * max(1, 200 // len(unit)) for unit in PATTERNS.values())
    texts[TILED] = (block * (size // len(block) + 1))[:size]
    return texts


@dataclass
class Timing:
    """Best time in milliseconds of one case at each size."""

    case: str
    ms: dict[int, float]

    def ratio(self, small: int, large: int) -> float:
        """Time at ``large`` divided by time at ``small`` (sizes in KB)."""
        return self.ms[large] / max(self.ms[small], 1e-6)


def measure(
    sizes_kb: Sequence[int] = SIZES_KB,
    *,
    repeats: int = DEFAULT_REPEATS,
    redactor: Callable[[str], str] = redact,
) -> list[Timing]:
    """Time ``redactor`` on every adversarial case at every size.

    Args:
        sizes_kb: Sizes in KB (1,000 characters).
        repeats: Runs per case and size; the fastest is kept.
        redactor: The function to time.

    Returns:
        One timing per case, plus the total over all cases (last).
    """
    timings: dict[str, dict[int, float]] = {}
    for size in sizes_kb:
        for case, text in adversarial_texts(size * KB).items():
            best = float("inf")
            for _ in range(repeats):
                start = time.perf_counter()
                redactor(text)
                best = min(best, time.perf_counter() - start)
            timings.setdefault(case, {})[size] = best * 1000
    result = [Timing(case, ms) for case, ms in timings.items()]
    total = {size: sum(t.ms[size] for t in result) for size in sizes_kb}
    return [*result, Timing("total", total)]


def render(timings: list[Timing], sizes_kb: Sequence[int]) -> str:
    """A Markdown table: ms per size and the ratio of each doubling.

    Args:
        timings: From :func:`measure`.
        sizes_kb: The sizes measured, ascending.

    Returns:
        The table.
    """
    pairs = list(zip(sizes_kb, sizes_kb[1:], strict=False))
    head = ["case", *(f"{s} KB (ms)" for s in sizes_kb), *(f"{b}/{a}" for a, b in pairs)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" + "--:|" * (len(head) - 1)]
    for t in timings:
        cells = [t.case, *(f"{t.ms[s]:.1f}" for s in sizes_kb)]
        cells += [f"{t.ratio(a, b):.2f}" for a, b in pairs]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the table and the provenance line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5, 10, 20 KB and one run")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args(argv)
    sizes = QUICK_SIZES_KB if args.quick else SIZES_KB
    repeats = args.repeats or (1 if args.quick else DEFAULT_REPEATS)
    timings = measure(sizes, repeats=repeats)
    print(render(timings, sizes))
    total = timings[-1]
    print(
        f"\nTotal {sizes[0]} KB -> {sizes[-1]} KB: {total.ms[sizes[0]]:.0f} ms -> "
        f"{total.ms[sizes[-1]]:.0f} ms, ratio {total.ratio(sizes[0], sizes[-1]):.2f} "
        f"for x{sizes[-1] // sizes[0]} input (linear: ~{sizes[-1] // sizes[0]})"
    )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"{docs.run_line(MODULE)} · commit: `{docs.git_commit()}` · {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average at start {load:.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
