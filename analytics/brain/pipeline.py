"""Fit (or load) the brain's models, score every customer, store ``customer_scores``.

``python -m analytics score`` (or :func:`main`) does, with a progress bar:

1. read the store (:func:`analytics.brain.features.load_frames`);
2. fit the models (unless ``--no-refit`` and a stored model exists), see
   :mod:`analytics.brain.fitting`: churn on features at monthly cutoffs whose 90-day label
   window has ended, holding out the latest labelled cutoff as a *time-based* holdout; RFM
   segments, BG/NBD + Gamma-Gamma, item-item recommendations (evaluated on the last 90 days
   against popularity) and the health scorer on the features as of now;
3. keep the new models only if the new churn model is not worse (ROC-AUC) than the stored
   one on the *current* holdout; models are saved under ``var/models/brain/`` with their
   metrics and training-data window (:mod:`analytics.brain.bundle`);
4. score every customer and replace the rows of ``customer_scores``
   (:mod:`analytics.brain.scoring`).

The names of those modules stay importable from here (``BrainConfig``, ``fit_brain``,
``score_customers``, ``write_scores``, ``save_models``, ``load_current``, ...).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from analytics.brain.bundle import (
    WEEK_DAYS,
    WEEKS_PER_MONTH,
    BrainConfig,
    BrainModels,
    as_utc,
    load_current,
    save_models,
)
from analytics.brain.features import load_frames
from analytics.brain.fitting import (
    churn_dataset,
    evaluate_recommender,
    fit_brain,
    holdout_auc,
    refit_or_keep,
)
from analytics.brain.options import DEFAULT_MODEL_DIR, add_score_arguments
from analytics.brain.scoring import ScoreTable, score_customers, write_scores

__all__ = [
    "WEEKS_PER_MONTH",
    "WEEK_DAYS",
    "BrainConfig",
    "BrainModels",
    "ScoreTable",
    "build_parser",
    "churn_dataset",
    "evaluate_recommender",
    "fit_brain",
    "holdout_auc",
    "load_current",
    "main",
    "refit_or_keep",
    "run",
    "run_from_args",
    "save_models",
    "score_customers",
    "write_scores",
]

logger = logging.getLogger(__name__)

FIT_STAGES = (
    "churn dataset",
    "churn model",
    "features now",
    "segments",
    "BG/NBD + Gamma-Gamma",
    "recommendations",
    "health",
)
"""Stages of :func:`analytics.brain.fitting.fit_brain`, in order."""
SCORE_STAGES = (
    "features",
    "churn",
    "reasons",
    "segments",
    "CLV",
    "health",
    "recommendations",
)
"""Stages of :func:`analytics.brain.scoring.score_customers`, in order."""
READ_STAGE = "read store"
STORE_STAGE = "store"


def run(
    url: str,
    *,
    now: datetime | None = None,
    refit: bool = True,
    model_dir: Path = DEFAULT_MODEL_DIR,
    show_progress: bool = True,
    config: BrainConfig | None = None,
) -> dict[str, Any]:
    """Fit or load the models and store scores for every customer.

    Args:
        url: Store URL.
        now: Scoring time (default: now, UTC).
        refit: Fit new models (kept only if not worse); else load the stored ones.
        model_dir: Where models are saved.
        show_progress: Show a progress bar.
        config: Knobs.

    Returns:
        Summary: version, replaced, holdout AUCs, rows written, seconds.
    """
    from analytics.store.db import make_engine

    cfg = config or BrainConfig()
    started = time.perf_counter()
    ts = as_utc(now or datetime.now(UTC))
    engine = make_engine(url)
    stages = [READ_STAGE, *FIT_STAGES, *SCORE_STAGES, STORE_STAGE]
    bar = tqdm(total=len(stages), desc="score", unit="step", disable=not show_progress)

    def step(name: str) -> None:
        bar.set_postfix_str(name)
        bar.update(1)

    try:
        step(READ_STAGE)
        frames = load_frames(engine)
        info: dict[str, float] = {}
        replaced = False
        models = None if refit else load_current(model_dir)
        if models is None:
            models, replaced, info = refit_or_keep(frames, ts, cfg, model_dir, step)
        else:
            bar.update(len(FIT_STAGES))
        table = score_customers(models, frames, ts, config=cfg, progress=step)
        step(STORE_STAGE)
        n = write_scores(engine, table, models.version, ts.to_pydatetime())
    finally:
        bar.close()
        engine.dispose()
    return {
        "version": models.version,
        "replaced": replaced,
        **info,
        "rows": n,
        "seconds": round(time.perf_counter() - started, 1),
        "metrics": models.metrics,
    }


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """Arguments of the ``score`` command (see :func:`analytics.brain.options.add_score_arguments`).

    Args:
        parser: A parser to add them to; a new one by default.

    Returns:
        The parser.
    """
    p = parser or argparse.ArgumentParser(prog="python -m analytics score", description=__doc__)
    add_score_arguments(p)
    return p


def run_from_args(args: argparse.Namespace, url: str) -> int:
    """Run the ``score`` command from parsed arguments.

    Args:
        args: Parsed :func:`build_parser` arguments.
        url: Store URL.

    Returns:
        The exit code (0).
    """
    now = as_utc(args.now).to_pydatetime() if args.now else None
    out = run(
        url,
        now=now,
        refit=not args.no_refit,
        model_dir=args.model_dir,
        show_progress=not args.no_progress,
        config=BrainConfig(n_threads=args.threads),
    )
    m = out["metrics"]
    print(
        f"Scored {out['rows']} customers with {out['version']} "
        f"({'new model' if out['replaced'] else 'stored model kept'}) in {out['seconds']} s; "
        f"churn holdout ROC-AUC {m['churn_holdout']['roc_auc']:.3f}, "
        f"recommendations P@10 {m['recommendations']['precision_at_10']:.3f} "
        f"(popularity {m['recommendations']['popularity_precision_at_10']:.3f})."
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: ``python -m analytics.brain.pipeline [--database-url URL] ...``.

    Args:
        argv: Command-line arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit code.
    """
    from analytics.core.settings import get_settings

    p = build_parser()
    p.add_argument("--database-url", help="override SHOP_DATABASE_URL")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return run_from_args(args, args.database_url or get_settings().database_url)


if __name__ == "__main__":
    sys.exit(main())
