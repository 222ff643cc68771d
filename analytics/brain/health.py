"""Customer health score (0-100) with visible weighted components, and lifecycle stage.

Each component is a 0-100 sub-score; the health score is their weighted mean (weights are
renormalised over the components whose inputs are present). Components:

* ``recency``: 100 x share of buyers who ordered *less* recently (empirical CDF learned in
  ``fit``); customers without orders get 50 (unknown, not bad).
* ``frequency_trend``: orders in the last 90 days vs the 90 days before:
  ``50 + 50 * (recent - prior) / (recent + prior + 1)``, plus up to 25 for being a frequent
  buyer at all (capped at 100).
* ``subscription``: active 100, paused 50 (minus 10 per recent skip), no subscription 60,
  cancelled 10.
* ``support``: 100 minus 20 per complaint, 15 per refund request, 10 per late delivery,
  10 per handoff to a human and 5 per bot misunderstanding in the recent window (floor 0).
* ``churn_risk``: ``100 x (1 - churn probability)``.

Lifecycle stage, first matching rule wins:

1. ``acquisition``: no order yet and no active subscription;
2. ``churn``: churn risk >= ``churn_threshold``, or no order for ``lapsed_days`` days without an
   active subscription, or a cancelled subscription and no order in the last 90 days;
3. ``activation``: one order (or a subscription) and customer for < ``activation_days`` days;
4. ``expansion``: health >= 70 and (orders trending up, or >= 2 categories bought, or a
   subscriber who also buys one-off products);
5. ``retention``: everyone else.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

__all__ = [
    "COMPONENT_NAMES",
    "DEFAULT_WEIGHTS",
    "HEALTH",
    "LIFECYCLE_STAGE",
    "LIFECYCLE_STAGES",
    "STAGE_ACQUISITION",
    "STAGE_ACTIVATION",
    "STAGE_CHURN",
    "STAGE_EXPANSION",
    "STAGE_RETENTION",
    "HealthScorer",
]

HEALTH = "health"
"""Column of the weighted health score in :meth:`HealthScorer.score`."""
LIFECYCLE_STAGE = "lifecycle_stage"
"""Column of the lifecycle stage in :meth:`HealthScorer.score`."""
STAGE_ACQUISITION = "acquisition"
STAGE_ACTIVATION = "activation"
STAGE_RETENTION = "retention"
STAGE_EXPANSION = "expansion"
STAGE_CHURN = "churn"
CHURN_STAGE_RISK = 0.6
"""Default churn risk from which the lifecycle stage is ``churn`` (the brain's own cut-off,
above :data:`analytics.core.vocabulary.RISK_HIGH`: a stage is a stronger statement than a
risk band)."""
UNKNOWN_RISK = 0.5
"""Churn risk assumed for a customer whose risk is missing (neither good nor bad)."""

DEFAULT_WEIGHTS: dict[str, float] = {
    "recency": 0.25,
    "frequency_trend": 0.15,
    "subscription": 0.20,
    "support": 0.15,
    "churn_risk": 0.25,
}

#: component key -> (English label, Chinese label)
COMPONENT_NAMES: dict[str, tuple[str, str]] = {
    "recency": ("Recent purchase", "最近购买"),
    "frequency_trend": ("Purchase trend", "购买趋势"),
    "subscription": ("Subscription", "订阅状态"),
    "support": ("Support experience", "服务体验"),
    "churn_risk": ("Retention outlook", "留存前景"),
}

#: stage key -> (English, Chinese)
LIFECYCLE_STAGES: dict[str, tuple[str, str]] = {
    STAGE_ACQUISITION: ("Acquisition", "获客"),
    STAGE_ACTIVATION: ("Activation", "激活"),
    STAGE_RETENTION: ("Retention", "留存"),
    STAGE_EXPANSION: ("Expansion", "拓展"),
    STAGE_CHURN: ("Churn", "流失"),
}


def _col(X: pd.DataFrame, name: str, default: float = 0.0) -> np.ndarray:
    if name in X.columns:
        return np.asarray(np.nan_to_num(X[name].to_numpy(dtype=float), nan=default), dtype=float)
    return np.full(len(X), default)


class HealthScorer(BaseEstimator):
    """Weighted 0-100 health score with components and a lifecycle stage.

    Input columns (any missing component input drops that component):
    ``recency_days``, ``frequency`` (orders), ``orders_90d``, ``orders_prev_90d``,
    ``sub_active``, ``sub_paused``, ``sub_canceled``, ``sub_skips_180d``, ``complaints_90d``,
    ``refunds_180d``, ``late_deliveries_180d``, ``handoffs_90d``, ``fallbacks_90d``,
    ``churn_risk``, and for the stage ``tenure_days``, ``n_categories``, ``sub_addon_orders``.

    Args:
        weights: Component -> weight.
        churn_threshold: Churn risk at or above which the stage is ``churn``.
        lapsed_days: Days without an order (and no active subscription) meaning ``churn``.
        activation_days: Tenure under which a first-time buyer is in ``activation``.

    Attributes:
        recency_quantiles_: Sorted recency values of the buyers seen in ``fit`` (ECDF).
        components_: Components that ``fit`` found inputs for.
    """

    def __init__(
        self,
        weights: Mapping[str, float] | None = None,
        churn_threshold: float = CHURN_STAGE_RISK,
        lapsed_days: float = 180.0,
        activation_days: float = 90.0,
    ) -> None:
        self.weights = weights
        self.churn_threshold = churn_threshold
        self.lapsed_days = lapsed_days
        self.activation_days = activation_days

    @staticmethod
    def _available(X: pd.DataFrame) -> list[str]:
        need = {
            "recency": ["recency_days", "frequency"],
            "frequency_trend": ["orders_90d", "orders_prev_90d"],
            "subscription": ["sub_active"],
            "support": ["complaints_90d"],
            "churn_risk": ["churn_risk"],
        }
        return [c for c, cols in need.items() if all(k in X.columns for k in cols)]

    def fit(self, X: pd.DataFrame, y: object = None) -> HealthScorer:
        """Learn the recency distribution of the buyers.

        Args:
            X: Feature rows (see class docstring).
            y: Ignored.

        Returns:
            self
        """
        comps = self._available(X)
        if not comps:
            raise ValueError("no health component inputs found in X")
        self.components_ = comps
        if "recency" in comps:
            buyers = _col(X, "frequency") > 0
            rec = np.sort(_col(X, "recency_days")[buyers])
            if len(rec) > 100_000:
                rec = np.quantile(rec, np.linspace(0, 1, 10_001))
            self.recency_quantiles_ = rec if len(rec) else np.array([0.0])
        else:
            self.recency_quantiles_ = np.array([0.0])
        return self

    def components(self, X: pd.DataFrame) -> pd.DataFrame:
        """0-100 component scores (one column per available component)."""
        check_is_fitted(self, "components_")
        out: dict[str, np.ndarray] = {}
        if "recency" in self.components_:
            rec = _col(X, "recency_days")
            q = self.recency_quantiles_
            worse_share = 1.0 - np.searchsorted(q, rec, side="left") / max(len(q), 1)
            out["recency"] = np.where(_col(X, "frequency") > 0, 100.0 * worse_share, 50.0)
        if "frequency_trend" in self.components_:
            r90, p90 = _col(X, "orders_90d"), _col(X, "orders_prev_90d")
            base = 50.0 + 50.0 * (r90 - p90) / (r90 + p90 + 1.0)
            out["frequency_trend"] = np.clip(base + np.minimum(r90, 5) * 5.0, 0, 100)
        if "subscription" in self.components_:
            active, paused = _col(X, "sub_active"), _col(X, "sub_paused")
            canceled, skips = _col(X, "sub_canceled"), _col(X, "sub_skips_180d")
            s = np.where(
                active > 0,
                100.0 - 10.0 * skips,
                np.where(paused > 0, 50.0 - 10.0 * skips, np.where(canceled > 0, 10.0, 60.0)),
            )
            out["subscription"] = np.clip(s, 0, 100)
        if "support" in self.components_:
            s = (
                100.0
                - 20.0 * _col(X, "complaints_90d")
                - 15.0 * _col(X, "refunds_180d")
                - 10.0 * _col(X, "late_deliveries_180d")
                - 10.0 * _col(X, "handoffs_90d")
                - 5.0 * _col(X, "fallbacks_90d")
            )
            out["support"] = np.clip(s, 0, 100)
        if "churn_risk" in self.components_:
            out["churn_risk"] = 100.0 * (1.0 - np.clip(_col(X, "churn_risk", UNKNOWN_RISK), 0, 1))
        return pd.DataFrame(out, index=X.index)

    def score(self, X: pd.DataFrame) -> pd.DataFrame:
        """Components, the weighted ``health`` (0-100, rounded) and the ``lifecycle_stage``.

        Args:
            X: Feature rows.

        Returns:
            DataFrame with one column per component, ``health`` and ``lifecycle_stage``.
        """
        C = self.components(X)
        w = dict(DEFAULT_WEIGHTS if self.weights is None else self.weights)
        cols = [c for c in C.columns if w.get(c, 0) > 0]
        ws = np.array([w[c] for c in cols], dtype=float)
        health = C[cols].to_numpy() @ (ws / ws.sum())
        C[HEALTH] = np.round(health, 1)
        C[LIFECYCLE_STAGE] = self.lifecycle_stage(X, C[HEALTH].to_numpy())
        return C

    def lifecycle_stage(self, X: pd.DataFrame, health: np.ndarray) -> np.ndarray:
        """Lifecycle stage per customer by the rules in the module docstring."""
        freq = _col(X, "frequency")
        active = _col(X, "sub_active") > 0
        rec = _col(X, "recency_days", 1e9)
        risk = _col(X, "churn_risk", 0.0)
        tenure = _col(X, "tenure_days", 1e9)
        canceled = _col(X, "sub_canceled") > 0
        trend_up = _col(X, "orders_90d") > _col(X, "orders_prev_90d")
        cats = _col(X, "n_categories")
        addon = _col(X, "sub_addon_orders")
        conds = [
            (freq <= 0) & ~active,
            (risk >= self.churn_threshold)
            | ((rec >= self.lapsed_days) & ~active)
            | (canceled & ~active & (rec >= 90)),
            ((freq <= 1) | (active & (freq <= 2))) & (tenure < self.activation_days),
            (health >= 70) & (trend_up | (cats >= 2) | (active & (addon > 0))),
        ]
        choices = [STAGE_ACQUISITION, STAGE_CHURN, STAGE_ACTIVATION, STAGE_EXPANSION]
        return np.select(conds, choices, default=STAGE_RETENTION).astype(object)
