"""The brain's fitted models as one versioned bundle: its knobs, saving and loading.

A bundle (:class:`BrainModels`) holds every fitted model with the metrics and the data window
it was trained on. :func:`save_models` writes it under ``var/models/brain/`` as
``<version>.joblib`` with ``<version>.json`` (its metrics) and marks it current
(``current.json``); :func:`load_current` reads the current one back.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import joblib
import pandas as pd

from analytics.brain.churn import ChurnModel
from analytics.brain.clv import BetaGeoModel, GammaGammaModel
from analytics.brain.features import StoreFrames
from analytics.brain.health import HealthScorer
from analytics.brain.options import DEFAULT_MODEL_DIR
from analytics.brain.recommend import ItemItemRecommender
from analytics.brain.segments import RFMSegmenter

__all__ = [
    "CURRENT_FILE",
    "WEEKS_PER_MONTH",
    "WEEK_DAYS",
    "BrainConfig",
    "BrainModels",
    "as_utc",
    "load_current",
    "product_names",
    "save_models",
]

logger = logging.getLogger(__name__)

WEEK_DAYS = 7.0
"""BG/NBD works in weeks."""
WEEKS_PER_MONTH = 30.44 / 7.0
CURRENT_FILE = "current.json"
"""The file naming the current bundle in a model folder."""


@dataclass
class BrainConfig:
    """Knobs of the brain (defaults are the documented ones)."""

    horizon_days: int = 90
    n_train_cutoffs: int = 6
    cutoff_step_days: int = 30
    clv_months: int = 24
    monthly_discount: float = 0.01
    n_recommendations: int = 10
    churn_kwargs: dict[str, Any] = field(default_factory=dict)
    max_train_rows: int = 300_000
    reasons_min_risk: float = 0.2  # customers below this churn risk get no reasons
    n_threads: int = 1  # OpenMP threads for HGB/K-means (1 is robust on a shared 2-core box)


@dataclass
class BrainModels:
    """Everything fitted, saved together with its metrics."""

    version: str
    trained_at: str
    data_window: dict[str, str]
    churn: ChurnModel
    segmenter: RFMSegmenter
    bgnbd: BetaGeoModel
    gamma_gamma: GammaGammaModel
    recommender: ItemItemRecommender
    health: HealthScorer
    metrics: dict[str, Any]


def as_utc(t: datetime | pd.Timestamp | str) -> pd.Timestamp:
    """A time as an aware UTC Timestamp (naive times count as UTC)."""
    ts = pd.Timestamp(t)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def product_names(frames: StoreFrames) -> dict[str, tuple[str, str]]:
    """SKU -> (English name, Chinese name) of every product."""
    p = frames.products
    return {
        str(s): (str(e), str(z))
        for s, e, z in zip(p["sku"], p["name_en"], p["name_zh"], strict=True)
    }


def save_models(models: BrainModels, model_dir: Path = DEFAULT_MODEL_DIR) -> Path:
    """Save the bundle, its metrics JSON, and mark it current.

    Args:
        models: The bundle.
        model_dir: The model folder.

    Returns:
        The path of the saved bundle.
    """
    model_dir.mkdir(parents=True, exist_ok=True)
    path = model_dir / f"{models.version}.joblib"
    joblib.dump(models, path)
    meta = {
        "version": models.version,
        "trained_at": models.trained_at,
        "data_window": models.data_window,
        "metrics": models.metrics,
        "path": path.name,
    }
    text = json.dumps(meta, indent=2, default=str, ensure_ascii=False)
    (model_dir / f"{models.version}.json").write_text(text, encoding="utf-8")
    (model_dir / CURRENT_FILE).write_text(text, encoding="utf-8")
    return path


def load_current(model_dir: Path = DEFAULT_MODEL_DIR) -> BrainModels | None:
    """The current saved bundle, or ``None`` (none saved, or unreadable).

    Args:
        model_dir: The model folder.

    Returns:
        The bundle or ``None``.
    """
    cur = model_dir / CURRENT_FILE
    if not cur.exists():
        return None
    meta = json.loads(cur.read_text(encoding="utf-8"))
    path = model_dir / meta["path"]
    if not path.exists():
        return None
    try:
        models: BrainModels = joblib.load(path)
    except Exception:  # an unreadable or incompatible bundle means "no stored model"
        logger.exception("cannot load %s; it will be replaced", path)
        return None
    return models
