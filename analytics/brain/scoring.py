"""Scoring every customer with a fitted bundle, and writing ``customer_scores``.

:func:`score_customers` computes churn risk and its reasons, the RFM segment, BG/NBD +
Gamma-Gamma CLV, the health score and lifecycle stage, and recommendations, as arrays
(:class:`ScoreTable`, cheap at scale); :func:`write_scores` replaces the rows of
``customer_scores`` in one transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sqlalchemy import Engine, delete, insert
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from analytics.brain.bundle import WEEK_DAYS, WEEKS_PER_MONTH, BrainConfig, BrainModels, as_utc
from analytics.brain.clv import discounted_clv, rfm_summary
from analytics.brain.features import (
    CHURN_FEATURES,
    StoreFrames,
    build_features,
    purchases,
    subscription_states,
)
from analytics.brain.health import HEALTH, LIFECYCLE_STAGE
from analytics.brain.segments import rfm_frame
from analytics.core.vocabulary import LANG_EN, LANG_ZH
from analytics.store.models import SUB_CANCELED, CustomerScore

__all__ = ["ScoreTable", "score_customers", "write_scores"]

logger = logging.getLogger(__name__)

BOUGHT_TOGETHER = ("Customers who bought {x} also bought {y}", "买过{x}的顾客也买了{y}")
"""(English, Chinese) text of an item-item recommendation."""
POPULAR = ("Popular with our customers", "热销推荐")
"""(English, Chinese) text of a popularity recommendation."""


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
                en = BOUGHT_TOGETHER[0].format(x=en_x, y=en_y)
                zh = BOUGHT_TOGETHER[1].format(x=zh_x, y=zh_y)
                out.append({"sku": sku, "because": src, LANG_EN: en, LANG_ZH: zh})
            else:
                out.append({"sku": sku, "because": None, LANG_EN: POPULAR[0], LANG_ZH: POPULAR[1]})
        return out

    def rows(
        self, version: str, scored_at: datetime, start: int = 0, stop: int | None = None
    ) -> list[dict[str, Any]]:
        """Rows for ``customer_scores``.

        Args:
            version: The bundle's version.
            scored_at: The scoring time.
            start: First row.
            stop: End row (exclusive; default: all).

        Returns:
            One dict per customer, keyed by column.
        """
        comp_cols = [c for c in self.health.columns if c not in (HEALTH, LIFECYCLE_STAGE)]
        comps = self.health[comp_cols].to_numpy()
        hl = self.health[HEALTH].to_numpy()
        stage = self.health[LIFECYCLE_STAGE].to_numpy()
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
        return _score_customers(models, frames, as_utc(now), X, cfg, progress or (lambda _s: None))


def _reasons(models: BrainModels, X: pd.DataFrame, min_risk: float) -> list[list[dict[str, Any]]]:
    """Churn reasons per customer, only where the model was trained.

    That is, customers who bought before: a prospect's risk is an extrapolation and "0 orders
    so far" is not a reason worth showing.
    """
    reasons: list[list[dict[str, Any]]] = [[] for _ in range(len(X))]
    has_orders = np.flatnonzero(X["frequency"].to_numpy() > 0)
    if len(has_orders):
        rs_all = models.churn.reasons(
            X.iloc[has_orders][list(CHURN_FEATURES)], top_n=3, min_risk=min_risk
        )
        for i, rs in zip(has_orders, rs_all, strict=True):
            reasons[i] = [
                {"feature": r.feature, LANG_EN: r.text_en, LANG_ZH: r.text_zh} for r in rs
            ]
    return reasons


def _clv(
    models: BrainModels,
    frames: StoreFrames,
    now: pd.Timestamp,
    X: pd.DataFrame,
    risk: np.ndarray,
    cfg: BrainConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(CLV in cents, expected purchases in the horizon, P(alive))`` per customer."""
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
    return clv, e90, p_alive


def _recommend(
    models: BrainModels, frames: StoreFrames, now: pd.Timestamp, ids: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(item positions, "because" item positions)`` per customer.

    What a customer bought and the plans they subscribe to are excluded.
    """
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
    st = st[st["state"] != SUB_CANCELED]
    er = pd.Index(ids).get_indexer(st["customer_id"])
    ec = st["plan"].astype(str).map(rec.item_index_).to_numpy()
    ok2 = (er >= 0) & ~pd.isna(ec)
    excl = sparse.csr_matrix(
        (np.ones(int(ok2.sum()), dtype=np.float32), (er[ok2], ec[ok2].astype(int))),
        shape=hist.shape,
    )
    items, _, because = rec.recommend_many(hist, n=n, exclude=excl)
    return items, because


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
    reasons = _reasons(models, X, cfg.reasons_min_risk)
    step("segments")
    seg = models.segmenter.predict(rfm_frame(X))
    step("CLV")
    clv, e90, p_alive = _clv(models, frames, now, X, risk, cfg)
    step("health")
    H = models.health.score(X.assign(churn_risk=risk))
    step("recommendations")
    items, because = _recommend(models, frames, now, ids, cfg.n_recommendations)
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
        items=models.recommender.items_,
        names=dict(models.recommender.product_names or {}),
    )


def write_scores(
    engine: Engine,
    table: ScoreTable,
    version: str,
    scored_at: datetime,
    chunk: int = 5000,
    show_progress: bool = False,
) -> int:
    """Replace all rows of ``customer_scores`` in one transaction.

    Args:
        engine: The store.
        table: The scores.
        version: The bundle's version.
        scored_at: The scoring time.
        chunk: Rows per insert.
        show_progress: Show a progress bar.

    Returns:
        The number of rows written.
    """
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
