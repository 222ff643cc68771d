"""Fit (or load) the brain's models, score every customer, store ``customer_scores``.

``python -m analytics score`` (or :func:`main`) does, with a progress bar:

1. read the store (:func:`analytics.brain.features.load_frames`);
2. fit the models (unless ``--no-refit`` and a stored model exists):
   churn (:class:`~analytics.brain.churn.ChurnModel`) on features at monthly cutoffs whose 90-day
   label window has ended, holding out the latest labelled cutoff as a *time-based* holdout;
   RFM segments, BG/NBD + Gamma-Gamma, item-item recommendations (evaluated on the last 90
   days against popularity) and the health scorer on the features as of now;
3. keep the new models only if the new churn model is not worse (ROC-AUC) than the stored
   one on the *current* holdout; models are saved under ``var/models/brain/`` with their
   metrics and training-data window;
4. score every customer and replace the rows of ``customer_scores``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.metrics import brier_score_loss, roc_auc_score
from sqlalchemy import Engine, delete, insert
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from analytics.brain.churn import ChurnModel
from analytics.brain.clv import BetaGeoModel, GammaGammaModel, discounted_clv, rfm_summary
from analytics.brain.features import (
    CHURN_FEATURES,
    StoreFrames,
    active_plans,
    build_features,
    build_labels,
    load_frames,
    purchases,
    subscription_states,
    training_population,
)
from analytics.brain.health import HealthScorer
from analytics.brain.options import DEFAULT_MODEL_DIR, add_score_arguments
from analytics.brain.recommend import ItemItemRecommender, precision_recall_at_k
from analytics.brain.segments import RFMSegmenter
from analytics.store.models import CustomerScore

logger = logging.getLogger(__name__)

WEEK_DAYS = 7.0
WEEKS_PER_MONTH = 30.44 / 7.0


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


def _ts(t: datetime | pd.Timestamp | str) -> pd.Timestamp:
    ts = pd.Timestamp(t)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def churn_dataset(
    frames: StoreFrames, now: pd.Timestamp, config: BrainConfig
) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Stacked features/labels at monthly cutoffs whose label window ended by ``now``.

    Returns:
        ``(X, y, cutoff)`` with one row per customer and cutoff (population of
        :func:`training_population`).
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


def _product_names(frames: StoreFrames) -> dict[str, tuple[str, str]]:
    p = frames.products
    return {
        str(s): (str(e), str(z))
        for s, e, z in zip(p["sku"], p["name_en"], p["name_zh"], strict=True)
    }


def evaluate_recommender(
    frames: StoreFrames, now: pd.Timestamp, holdout_days: int = 90, k: int = 10
) -> dict[str, float]:
    """Precision@k / recall@k of item-item vs popularity on a time-based holdout.

    Fit on purchases before ``now - holdout_days``; the truth is the set of products each
    customer bought in the holdout that they had not bought before.
    """
    split = now - pd.Timedelta(days=holdout_days)
    train = purchases(frames, before=split)
    test = purchases(frames, after=split, before=now)
    rec = ItemItemRecommender(product_names=_product_names(frames)).fit(
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
        return _fit_brain(frames, _ts(now), cfg, progress or (lambda _s: None))


def _fit_brain(
    frames: StoreFrames, now: pd.Timestamp, cfg: BrainConfig, step: Callable[[str], None]
) -> BrainModels:
    step("churn dataset")
    X, y, cut = churn_dataset(frames, now, cfg)
    latest = cut.max()
    train = (cut < latest).to_numpy()
    if train.sum() == 0 or y[train].nunique() < 2:
        train = np.ones(len(y), dtype=bool)
    Xtr, ytr = X[train], y[train]
    if len(Xtr) > cfg.max_train_rows:
        keep = np.random.default_rng(0).choice(len(Xtr), cfg.max_train_rows, replace=False)
        Xtr, ytr = Xtr.iloc[keep], ytr.iloc[keep]
    step("churn model")
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

    step("features now")
    Xnow = build_features(frames, now)
    step("segments")
    rfm = pd.DataFrame(
        {
            "recency_days": Xnow["recency_days"],
            "frequency": Xnow["frequency"],
            "monetary": Xnow["monetary_cents"] / 100.0,
        }
    )
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
    names = _product_names(frames)
    inactive = frames.products.loc[~frames.products["active"].astype(bool), "sku"].astype(str)
    rec = ItemItemRecommender(product_names=names, inactive_skus=list(inactive)).fit(
        purchases(frames, before=now), items=list(frames.products["sku"].astype(str))
    )
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
        "churn_train_rows": len(Xtr),
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


@dataclass
class ScoreTable:
    """Scores of many customers as arrays (cheap at scale); :meth:`rows` builds the JSON."""

    customer_id: np.ndarray
    segment: np.ndarray
    churn_risk: np.ndarray
    reasons: list[list[dict[str, Any]]]
    clv_cents: np.ndarray
    expected_purchases_90d: np.ndarray
    p_alive: np.ndarray
    health: pd.DataFrame  # components + health + lifecycle_stage
    rec_items: np.ndarray
    rec_because: np.ndarray
    items: np.ndarray
    names: dict[str, tuple[str, str]]

    def __len__(self) -> int:
        return len(self.customer_id)

    def recommendations(self, i: int) -> list[dict[str, Any]]:
        """Recommendation JSON of row ``i`` (sku, because, en, zh)."""
        out: list[dict[str, Any]] = []
        for j, b in zip(self.rec_items[i], self.rec_because[i], strict=True):
            if j < 0:
                continue
            sku = str(self.items[j])
            en_y, zh_y = self.names.get(sku, (sku, sku))
            if b >= 0:
                src = str(self.items[b])
                en_x, zh_x = self.names.get(src, (src, src))
                out.append(
                    {
                        "sku": sku,
                        "because": src,
                        "en": f"Customers who bought {en_x} also bought {en_y}",
                        "zh": f"买过{zh_x}的顾客也买了{zh_y}",
                    }
                )
            else:
                out.append(
                    {
                        "sku": sku,
                        "because": None,
                        "en": "Popular with our customers",
                        "zh": "热销推荐",
                    }
                )
        return out

    def rows(
        self, version: str, scored_at: datetime, start: int = 0, stop: int | None = None
    ) -> list[dict[str, Any]]:
        """Rows for ``customer_scores``."""
        comp_cols = [c for c in self.health.columns if c not in ("health", "lifecycle_stage")]
        comps = self.health[comp_cols].to_numpy()
        hl = self.health["health"].to_numpy()
        stage = self.health["lifecycle_stage"].to_numpy()
        out = []
        for i in range(start, len(self) if stop is None else min(stop, len(self))):
            out.append(
                {
                    "customer_id": int(self.customer_id[i]),
                    "segment": str(self.segment[i]),
                    "churn_risk": float(self.churn_risk[i]),
                    "churn_reasons": self.reasons[i],
                    "clv_cents": int(self.clv_cents[i]),
                    "expected_purchases_90d": float(self.expected_purchases_90d[i]),
                    "p_alive": float(self.p_alive[i]),
                    "health": float(hl[i]),
                    "health_components": {
                        c: round(float(v), 1) for c, v in zip(comp_cols, comps[i], strict=True)
                    },
                    "lifecycle_stage": str(stage[i]),
                    "recommendations": self.recommendations(i),
                    "model_version": version,
                    "scored_at": scored_at,
                }
            )
        return out


def score_customers(
    models: BrainModels,
    frames: StoreFrames,
    now: datetime | pd.Timestamp,
    X: pd.DataFrame | None = None,
    config: BrainConfig | None = None,
    progress: Callable[[str], None] | None = None,
) -> ScoreTable:
    """Score every customer created before ``now``.

    Args:
        models: Fitted models.
        frames: Store tables.
        now: Scoring time.
        X: Precomputed features at ``now`` (optional).
        config: Knobs.
        progress: Stage callback.

    Returns:
        The scores as arrays.
    """
    cfg = config or BrainConfig()
    with threadpool_limits(cfg.n_threads):
        return _score_customers(models, frames, _ts(now), X, cfg, progress or (lambda _s: None))


def _score_customers(
    models: BrainModels,
    frames: StoreFrames,
    now: pd.Timestamp,
    X: pd.DataFrame | None,
    cfg: BrainConfig,
    step: Callable[[str], None],
) -> ScoreTable:
    step("features")
    if X is None:
        X = build_features(frames, now)
    ids = X.index.to_numpy()
    step("churn")
    risk = models.churn.predict_proba(X[list(CHURN_FEATURES)])[:, 1]
    step("reasons")
    # reasons only where the model was trained (customers who bought before); a prospect's
    # risk is an extrapolation and "0 orders so far" is not a reason worth showing
    reasons: list[list[dict[str, Any]]] = [[] for _ in range(len(X))]
    has_orders = np.flatnonzero(X["frequency"].to_numpy() > 0)
    if len(has_orders):
        rs_all = models.churn.reasons(
            X.iloc[has_orders][list(CHURN_FEATURES)], top_n=3, min_risk=cfg.reasons_min_risk
        )
        for i, rs in zip(has_orders, rs_all, strict=True):
            reasons[i] = [{"feature": r.feature, "en": r.text_en, "zh": r.text_zh} for r in rs]
    step("segments")
    seg = models.segmenter.predict(
        pd.DataFrame(
            {
                "recency_days": X["recency_days"],
                "frequency": X["frequency"],
                "monetary": X["monetary_cents"] / 100.0,
            }
        )
    )
    step("CLV")
    summ = rfm_summary(
        frames.orders,
        "customer_id",
        "created_at",
        now,
        value_col="total_cents",
        freq_days=WEEK_DAYS,
        customers=X.index,
    )
    buyer = summ["frequency"].notna().to_numpy()
    x = summ["frequency"].fillna(0).to_numpy()
    tx = summ["recency"].fillna(0).to_numpy()
    T = summ["T"].fillna(0).to_numpy()
    mv = summ["monetary_value"].fillna(0).to_numpy()
    e90 = np.zeros(len(X))
    p_alive = np.ones(len(X))
    e90[buyer] = models.bgnbd.expected_purchases(
        cfg.horizon_days / WEEK_DAYS, x[buyer], tx[buyer], T[buyer]
    )
    p_alive[buyer] = models.bgnbd.p_alive(x[buyer], tx[buyer], T[buyer])
    value = np.zeros(len(X))
    value[buyer] = (
        models.bgnbd.rate_if_alive(x[buyer], T[buyer])
        * WEEKS_PER_MONTH
        * models.gamma_gamma.expected_value(x[buyer], mv[buyer])
    )
    retention = (1.0 - risk) ** (1.0 / 3.0)
    ac = (
        frames.customers.set_index("id")["acquisition_cost_cents"]
        .reindex(X.index)
        .fillna(0)
        .to_numpy(dtype=float)
    )
    clv = discounted_clv(value, retention, ac, cfg.monthly_discount, cfg.clv_months)
    step("health")
    H = models.health.score(X.assign(churn_risk=risk))
    step("recommendations")
    rec = models.recommender
    P = purchases(frames, before=now)
    rows = pd.Index(ids).get_indexer(P["customer_id"])
    cols = P["sku"].astype(str).map(rec.item_index_).to_numpy()
    ok = (rows >= 0) & ~pd.isna(cols)
    hist = sparse.csr_matrix(
        (np.ones(ok.sum(), dtype=np.float32), (rows[ok], cols[ok].astype(int))),
        shape=(len(ids), len(rec.items_)),
    )
    hist.data[:] = 1.0
    st = subscription_states(frames, now)
    st = st[st["state"] != "canceled"]
    er = pd.Index(ids).get_indexer(st["customer_id"])
    ec = st["plan"].astype(str).map(rec.item_index_).to_numpy()
    ok2 = (er >= 0) & ~pd.isna(ec)
    excl = sparse.csr_matrix(
        (np.ones(int(ok2.sum()), dtype=np.float32), (er[ok2], ec[ok2].astype(int))),
        shape=hist.shape,
    )
    items, _, because = rec.recommend_many(hist, n=cfg.n_recommendations, exclude=excl)
    return ScoreTable(
        customer_id=ids,
        segment=seg,
        churn_risk=risk,
        reasons=reasons,
        clv_cents=np.round(clv).astype(np.int64),
        expected_purchases_90d=e90,
        p_alive=p_alive,
        health=H,
        rec_items=items,
        rec_because=because,
        items=rec.items_,
        names=dict(rec.product_names or {}),
    )


def write_scores(
    engine: Engine,
    table: ScoreTable,
    version: str,
    scored_at: datetime,
    chunk: int = 5000,
    show_progress: bool = False,
) -> int:
    """Replace all rows of ``customer_scores`` in one transaction."""
    CustomerScore.metadata.create_all(
        engine,
        tables=[CustomerScore.__table__],  # type: ignore[list-item]
        checkfirst=True,
    )
    n = 0
    with (
        engine.begin() as conn,
        tqdm(
            total=len(table),
            desc="store scores",
            unit="cust",
            disable=not show_progress,
            leave=False,
        ) as bar,
    ):
        conn.execute(delete(CustomerScore))
        for lo in range(0, len(table), chunk):
            rows = table.rows(version, scored_at, lo, lo + chunk)
            conn.execute(insert(CustomerScore), rows)
            n += len(rows)
            bar.update(len(rows))
    return n


# --------------------------------------------------------------------- persistence
def save_models(models: BrainModels, model_dir: Path = DEFAULT_MODEL_DIR) -> Path:
    """Save the bundle, its metrics JSON, and mark it current."""
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
    (model_dir / f"{models.version}.json").write_text(
        json.dumps(meta, indent=2, default=str, ensure_ascii=False), encoding="utf-8"
    )
    (model_dir / "current.json").write_text(
        json.dumps(meta, indent=2, default=str, ensure_ascii=False), encoding="utf-8"
    )
    return path


def load_current(model_dir: Path = DEFAULT_MODEL_DIR) -> BrainModels | None:
    """The current saved bundle, or ``None``."""
    cur = model_dir / "current.json"
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


def holdout_auc(
    models: BrainModels, frames: StoreFrames, now: pd.Timestamp, config: BrainConfig
) -> float:
    """ROC-AUC of a bundle's churn model on the current time-based holdout."""
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
    ts = _ts(now or datetime.now(UTC))
    engine = make_engine(url)
    stages = [
        "read store",
        "churn dataset",
        "churn model",
        "features now",
        "segments",
        "BG/NBD + Gamma-Gamma",
        "recommendations",
        "health",
        "features",
        "churn",
        "reasons",
        "segments",
        "CLV",
        "health",
        "recommendations",
        "store",
    ]
    bar = tqdm(total=len(stages), desc="score", unit="step", disable=not show_progress)

    def step(name: str) -> None:
        bar.set_postfix_str(name)
        bar.update(1)

    try:
        step("read store")
        frames = load_frames(engine)
        info: dict[str, float] = {}
        replaced = False
        models = None if refit else load_current(model_dir)
        if models is None:
            models, replaced, info = refit_or_keep(frames, ts, cfg, model_dir, step)
        else:
            bar.update(7)
        table = score_customers(models, frames, ts, config=cfg, progress=step)
        step("store")
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
    """Arguments of the ``score`` command (see :func:`analytics.store.scores.add_score_arguments`)."""
    p = parser or argparse.ArgumentParser(prog="python -m analytics score", description=__doc__)
    add_score_arguments(p)
    return p


def run_from_args(args: argparse.Namespace, url: str) -> int:
    """Run the ``score`` command from parsed arguments."""
    now = _ts(args.now).to_pydatetime() if args.now else None
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
    """Entry point: ``python -m analytics.brain.pipeline [--database-url URL] ...``."""
    from analytics.core.settings import get_settings

    p = build_parser()
    p.add_argument("--database-url", help="override SHOP_DATABASE_URL")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return run_from_args(args, args.database_url or get_settings().database_url)


if __name__ == "__main__":
    # run through the package module so pickled classes are ``analytics.brain.pipeline.*``
    from analytics.brain.pipeline import main as _main

    sys.exit(_main())
