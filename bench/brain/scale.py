"""Scale benchmark: score 1,000,000 synthetic customers end to end.

The shop is drawn by :func:`bench.brain.synth.synth_frames` (vectorised; about 5 orders and
8 order lines per customer, subscriptions, refunds, conversations and messages). The models
are fit once on a separate synthetic shop of ``--fit-customers`` customers (fitting is a
nightly job; scoring is what has to scale), then :func:`analytics.brain.pipeline.score_customers`
computes for every customer: features, segment, churn risk with top-3 reasons, BG/NBD
expected purchases and P(alive), Gamma-Gamma value, discounted CLV, health with components
and lifecycle stage, and top-10 recommendations; finally the ``customer_scores`` rows
(JSON included) are built in chunks, optionally written to a SQLite file.

Peak memory is the process's maximum resident set size (``ru_maxrss``), which includes the
synthetic tables themselves.

Run: ``.venv/bin/python -m bench.brain.scale [--customers 1000000] [--write-sqlite]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from analytics.brain.pipeline import BrainConfig, fit_brain, score_customers, write_scores
from bench.brain._common import md_table, provenance, write_subsection
from bench.brain.synth import synth_frames

REFERENCE = pd.Timestamp("2026-11-01", tz="UTC")


def peak_rss_gb() -> float:
    """Peak resident set size of this process so far (GB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def main(argv: list[str] | None = None) -> None:
    """Scores a synthetic shop of many customers and reports time and memory.

    Args:
        argv: Command-line arguments (default ``sys.argv[1:]``).
    """
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--fit-customers", type=int, default=100_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--write-sqlite", action="store_true", help="also write customer_scores")
    ap.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    a = ap.parse_args(argv)
    cfg = BrainConfig(n_threads=a.threads)
    timings: list[dict[str, object]] = []

    def timed(name: str, t0: float) -> None:
        timings.append(
            {
                "stage": name,
                "seconds": round(time.perf_counter() - t0, 1),
                "peak RSS so far (GB)": round(peak_rss_gb(), 2),
            }
        )
        print(timings[-1], flush=True)

    t = time.perf_counter()
    fit_frames = synth_frames(a.fit_customers, REFERENCE, seed=1)
    timed(f"draw fit shop ({a.fit_customers:,} customers)", t)
    t = time.perf_counter()
    models = fit_brain(fit_frames, REFERENCE, cfg)
    timed(f"fit all models on {a.fit_customers:,} customers", t)
    del fit_frames
    t = time.perf_counter()
    frames = synth_frames(a.customers, REFERENCE, seed=2)
    sizes = {
        k: len(getattr(frames, k))
        for k in ("orders", "order_items", "subscriptions", "conversations", "messages")
    }
    timed(f"draw scoring shop ({a.customers:,} customers)", t)

    stage_t: dict[str, float] = {}
    last_name = [""]
    last_t = [time.perf_counter()]

    def step(name: str) -> None:
        now = time.perf_counter()
        if last_name[0]:
            stage_t[last_name[0]] = now - last_t[0]
        last_name[0], last_t[0] = name, now

    t_score = time.perf_counter()
    table = score_customers(models, frames, REFERENCE, config=cfg, progress=step)
    step("")
    score_s = time.perf_counter() - t_score
    timed("score (features ... recommendations)", t_score)
    t = time.perf_counter()
    scored_at = datetime.now(UTC)
    n_rows = 0
    if a.write_sqlite:
        from analytics.store.db import make_engine, upgrade_to_head

        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'scale.db'}"
            upgrade_to_head(url)
            engine = make_engine(url)
            # customers must exist for the foreign key
            with engine.begin() as conn:
                frames.customers.assign(
                    name="x",
                    email="x",
                    phone=None,
                    city="x",
                    points=0,
                    acquisition_channel="organic",
                ).to_sql("customers", conn, if_exists="append", index=False, chunksize=50_000)
            n_rows = write_scores(engine, table, models.version, scored_at, chunk=20_000)
            engine.dispose()
        timed("build JSON rows + write customer_scores (SQLite)", t)
    else:
        for lo in range(0, len(table), 50_000):
            n_rows += len(table.rows(models.version, scored_at, lo, lo + 50_000))
        timed("build customer_scores rows (JSON), no database", t)
    total_score = sum(float(str(r["seconds"])) for r in timings[3:])
    peak = peak_rss_gb()
    breakdown = ", ".join(f"{k} {v:.1f} s" for k, v in stage_t.items())
    text = "\n".join(
        [
            provenance("bench.brain.scale"),
            "",
            f"{a.customers:,} synthetic customers (`bench/brain/synth.py`, seed 2): "
            + ", ".join(f"{k} {v:,}" for k, v in sizes.items())
            + f". Models fit on a separate {a.fit_customers:,}-customer shop. {os.cpu_count()} cores, "
            f"OpenMP threads {a.threads}, machine shared with other jobs "
            f"(load average {os.getloadavg()[0]:.1f} at the end).",
            "",
            md_table(timings),
            "",
            f"Scoring breakdown: {breakdown}.",
            "",
            f"**End to end for {a.customers:,} customers (scoring + {n_rows:,} rows): "
            f"{total_score:.0f} s, peak RSS {peak:.2f} GB** (targets: < 300 s, < 6 GB; the peak "
            "includes the synthetic tables in memory). Scoring alone: "
            f"{score_s:.0f} s.",
        ]
    )
    print(text)
    if not a.no_write:
        write_subsection("Scale", text)


if __name__ == "__main__":
    main()
