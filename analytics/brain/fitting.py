"""Fitting the brain's models and evaluating them on time-based holdouts.

Churn (:class:`~analytics.brain.churn.ChurnModel`) is fit on features at monthly cutoffs whose
90-day label window has ended, holding out the latest labelled cutoff as a *time-based*
holdout; RFM segments, BG/NBD + Gamma-Gamma, item-item recommendations (evaluated on the last
90 days against popularity) and the health scorer are fit on the features as of now.
:func:`refit_or_keep` keeps the stored bundle when a refit is worse on the current holdout.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score
from threadpoolctl import threadpool_limits

from analytics.brain.bundle import (
    WEEK_DAYS,
    BrainConfig,
    BrainModels,
    as_utc,
    load_current,
    product_names,
    save_models,
)
from analytics.brain.churn import ChurnModel
from analytics.brain.clv import BetaGeoModel, GammaGammaModel, rfm_summary
from analytics.brain.features import (
    CHURN_FEATURES,
    StoreFrames,
    active_plans,
    build_features,
    build_labels,
    purchases,
    training_population,
)
from analytics.brain.health import HealthScorer
from analytics.brain.recommend import ItemItemRecommender, precision_recall_at_k
from analytics.brain.segments import RFMSegmenter, rfm_frame

__all__ = [
    "churn_dataset",
    "evaluate_recommender",
    "fit_brain",
    "holdout_auc",
    "refit_or_keep",
]

logger = logging.getLogger(__name__)


def churn_dataset(
    frames: StoreFrames, now: pd.Timestamp, config: BrainConfig
) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Stacked features/labels at monthly cutoffs whose label window ended by ``now``.

    Args:
        frames: Store tables.
        now: The end of the data window.
        config: Knobs (horizon, number of cutoffs, their spacing).

    Returns:
        ``(X, y, cutoff)`` with one row per customer and cutoff (population of
        :func:`training_population`).

    Raises:
        ValueError: If no cutoff has a labelled customer.
    """
    Xs, ys, cs = [], [], []
    for k in range(config.n_train_cutoffs):
        cut = now - pd.Timedelta(days=config.horizon_days + k * config.cutoff_step_days)
        X = build_features(frames, cut)
        X = X[training_population(X)]
        if X.empty:
            continue
        y = build_labels(frames, cut, X.index, config.horizon_days)
        Xs.append(X)
        ys.append(y)
        cs.append(pd.Series(cut, index=X.index))
    if not Xs:
        raise ValueError("no labelled customers: the store history is too short")
    return pd.concat(Xs), pd.concat(ys), pd.concat(cs)


def evaluate_recommender(
    frames: StoreFrames, now: pd.Timestamp, holdout_days: int = 90, k: int = 10
) -> dict[str, float]:
    """Precision@k / recall@k of item-item vs popularity on a time-based holdout.

    Fit on purchases before ``now - holdout_days``; the truth is the set of products each
    customer bought in the holdout that they had not bought before.

    Args:
        frames: Store tables.
        now: End of the holdout.
        holdout_days: Length of the holdout.
        k: Recommendations per customer.

    Returns:
        Precision and recall at 10 of both, and the number of customers evaluated.
    """
    split = now - pd.Timedelta(days=holdout_days)
    train = purchases(frames, before=split)
    test = purchases(frames, after=split, before=now)
    rec = ItemItemRecommender(product_names=product_names(frames)).fit(
        train, items=list(frames.products["sku"].astype(str))
    )
    plans = active_plans(frames, split)
    bought = train.groupby("customer_id")["sku"].agg(set).to_dict()
    actual = {
        c: set(s) - bought.get(c, set())
        for c, s in test.groupby("customer_id")["sku"].agg(set).items()
    }
    cf: dict[Any, list[str]] = {}
    pop: dict[Any, list[str]] = {}
    popular = [str(rec.items_[j]) for j in rec.popular_order_ if rec.popularity_[j] > 0]
    for c in actual:
        b = bought.get(c, set())
        cf[c] = [r.sku for r in rec.recommend(c, n=k, bought=b, subscribed=plans.get(c, []))]
        pop[c] = [s for s in popular if s not in b][:k]
    m_cf = precision_recall_at_k(cf, actual, k)
    m_pop = precision_recall_at_k(pop, actual, k)
    return {
        "precision_at_10": m_cf["precision"],
        "recall_at_10": m_cf["recall"],
        "popularity_precision_at_10": m_pop["precision"],
        "popularity_recall_at_10": m_pop["recall"],
        "n_customers": m_cf["n_customers"],
    }


def fit_brain(
    frames: StoreFrames,
    now: datetime | pd.Timestamp,
    config: BrainConfig | None = None,
    progress: Callable[[str], None] | None = None,
) -> BrainModels:
    """Fit every model of the brain on the store as of ``now``.

    Args:
        frames: Store tables.
        now: Scoring time (end of the data window).
        config: Knobs.
        progress: Called with a stage name before each stage.

    Returns:
        The fitted models with metrics (time-based churn holdout, recommendations vs
        popularity, segment sizes, BG/NBD parameters).
    """
    cfg = config or BrainConfig()
    with threadpool_limits(cfg.n_threads):
        return _fit_brain(frames, as_utc(now), cfg, progress or (lambda _s: None))


def _fit_churn(
    X: pd.DataFrame, y: pd.Series, cut: pd.Series, cfg: BrainConfig
) -> tuple[ChurnModel, dict[str, Any], int]:
    """Fit churn on all but the latest labelled cutoff; measure it on that one.

    Returns:
        ``(model, holdout metrics, training rows)``.
    """
    latest = cut.max()
    train = (cut < latest).to_numpy()
    if train.sum() == 0 or y[train].nunique() < 2:
        train = np.ones(len(y), dtype=bool)
    Xtr, ytr = X[train], y[train]
    if len(Xtr) > cfg.max_train_rows:
        keep = np.random.default_rng(0).choice(len(Xtr), cfg.max_train_rows, replace=False)
        Xtr, ytr = Xtr.iloc[keep], ytr.iloc[keep]
    churn = ChurnModel(**cfg.churn_kwargs).fit(Xtr[list(CHURN_FEATURES)], ytr.to_numpy())
    is_ho = (cut == latest).to_numpy()
    Xho, yho = X[is_ho], y[is_ho]
    p_ho = churn.predict_proba(Xho[list(CHURN_FEATURES)])[:, 1]
    holdout = {
        "cutoff": str(latest),
        "n": len(yho),
        "churn_rate": float(yho.mean()),
        "roc_auc": float(roc_auc_score(yho, p_ho)) if yho.nunique() == 2 else float("nan"),
        "brier": float(brier_score_loss(yho, p_ho)),
    }
    return churn, holdout, len(Xtr)


def _fit_brain(
    frames: StoreFrames, now: pd.Timestamp, cfg: BrainConfig, step: Callable[[str], None]
) -> BrainModels:
    step("churn dataset")
    X, y, cut = churn_dataset(frames, now, cfg)
    step("churn model")
    churn, holdout, n_train = _fit_churn(X, y, cut, cfg)

    step("features now")
    Xnow = build_features(frames, now)
    step("segments")
    rfm = rfm_frame(Xnow)
    segmenter = RFMSegmenter().fit(rfm)
    step("BG/NBD + Gamma-Gamma")
    summ = rfm_summary(
        frames.orders,
        "customer_id",
        "created_at",
        now,
        value_col="total_cents",
        freq_days=WEEK_DAYS,
    )
    bg = BetaGeoModel().fit(summ["frequency"], summ["recency"], summ["T"])
    gg = GammaGammaModel().fit(summ["frequency"], summ["monetary_value"])
    step("recommendations")
    inactive = frames.products.loc[~frames.products["active"].astype(bool), "sku"].astype(str)
    rec = ItemItemRecommender(product_names=product_names(frames), inactive_skus=list(inactive))
    rec.fit(purchases(frames, before=now), items=list(frames.products["sku"].astype(str)))
    rec_metrics = evaluate_recommender(frames, now, k=cfg.n_recommendations)
    step("health")
    Hx = Xnow.assign(churn_risk=churn.predict_proba(Xnow[list(CHURN_FEATURES)])[:, 1])
    health = HealthScorer().fit(Hx)
    seg_sizes = pd.Series(segmenter.predict(rfm)).value_counts().to_dict()
    start = frames.orders["created_at"].min()
    digest = hashlib.sha1(f"{now}|{len(X)}|{holdout}".encode()).hexdigest()[:8]
    metrics = {
        "churn_holdout": holdout,
        "churn_selection": churn.metrics_ | {"comparison": churn.comparison_},
        "churn_train_rows": n_train,
        "recommendations": rec_metrics,
        "segments": {
            "k": segmenter.k_,
            "silhouette": segmenter.silhouette_,
            "sizes": {str(k): int(v) for k, v in seg_sizes.items()},
        },
        "bgnbd": bg.params_,
        "gamma_gamma": gg.params_,
    }
    return BrainModels(
        version=f"brain-{now:%Y%m%dT%H%M}-{digest}",
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
        data_window={"start": str(start), "end": str(now)},
        churn=churn,
        segmenter=segmenter,
        bgnbd=bg,
        gamma_gamma=gg,
        recommender=rec,
        health=health,
        metrics=metrics,
    )


def holdout_auc(
    models: BrainModels, frames: StoreFrames, now: pd.Timestamp, config: BrainConfig
) -> float:
    """ROC-AUC of a bundle's churn model on the current time-based holdout.

    Args:
        models: The bundle.
        frames: Store tables.
        now: End of the data window; the holdout is the cutoff one horizon before it.
        config: Knobs.

    Returns:
        The ROC-AUC, NaN when the holdout has a single class.
    """
    cut = now - pd.Timedelta(days=config.horizon_days)
    X = build_features(frames, cut)
    X = X[training_population(X)]
    y = build_labels(frames, cut, X.index, config.horizon_days)
    if y.nunique() < 2:
        return float("nan")
    return float(roc_auc_score(y, models.churn.predict_proba(X[list(CHURN_FEATURES)])[:, 1]))


def refit_or_keep(
    frames: StoreFrames,
    now: pd.Timestamp,
    config: BrainConfig,
    model_dir: Path,
    progress: Callable[[str], None] | None = None,
) -> tuple[BrainModels, bool, dict[str, float]]:
    """Fit new models; keep the stored ones if the new churn model is worse on the holdout.

    Args:
        frames: Store tables.
        now: End of the data window.
        config: Knobs.
        model_dir: Where the bundles are saved.
        progress: Stage callback of the fit.

    Returns:
        ``(models to use, replaced?, {"new_auc", "stored_auc"})``.
    """
    new = fit_brain(frames, now, config, progress)
    stored = load_current(model_dir)
    new_auc = holdout_auc(new, frames, now, config)
    info = {"new_auc": new_auc, "stored_auc": float("nan")}
    if stored is not None:
        try:
            info["stored_auc"] = holdout_auc(stored, frames, now, config)
        except Exception:  # an incompatible old bundle never blocks a refit
            logger.exception("stored model could not be evaluated; replacing it")
        if np.isfinite(info["stored_auc"]) and new_auc < info["stored_auc"]:
            logger.warning(
                "refit is worse on the holdout (%.4f < %.4f); keeping %s",
                new_auc,
                info["stored_auc"],
                stored.version,
            )
            return stored, False, info
    save_models(new, model_dir)
    return new, True, info
