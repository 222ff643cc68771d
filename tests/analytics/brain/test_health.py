"""Tests of the health score and lifecycle stages."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from analytics.brain.health import DEFAULT_WEIGHTS, HealthScorer


def customers() -> pd.DataFrame:
    base = {
        "recency_days": 30.0,
        "frequency": 5,
        "orders_90d": 2,
        "orders_prev_90d": 2,
        "sub_active": 0,
        "sub_paused": 0,
        "sub_canceled": 0,
        "sub_skips_180d": 0,
        "complaints_90d": 0,
        "refunds_180d": 0,
        "late_deliveries_180d": 0,
        "handoffs_90d": 0,
        "fallbacks_90d": 0,
        "churn_risk": 0.2,
        "tenure_days": 400,
        "n_categories": 1,
        "sub_addon_orders": 0,
    }
    rows = {
        "prospect": {
            **base,
            "frequency": 0,
            "recency_days": 0,
            "orders_90d": 0,
            "orders_prev_90d": 0,
            "tenure_days": 5,
        },
        "first_order": {
            **base,
            "frequency": 1,
            "recency_days": 10,
            "orders_90d": 1,
            "orders_prev_90d": 0,
            "tenure_days": 20,
        },
        "happy_subscriber": {
            **base,
            "sub_active": 1,
            "recency_days": 5,
            "orders_90d": 4,
            "orders_prev_90d": 2,
            "n_categories": 2,
            "churn_risk": 0.05,
            "frequency": 12,
        },
        "steady": {**base},
        "unhappy": {
            **base,
            "complaints_90d": 3,
            "late_deliveries_180d": 2,
            "churn_risk": 0.8,
            "recency_days": 120,
            "orders_90d": 0,
        },
        "lapsed": {
            **base,
            "recency_days": 365,
            "orders_90d": 0,
            "orders_prev_90d": 0,
            "churn_risk": 0.3,
            "sub_canceled": 1,
        },
    }
    return pd.DataFrame.from_dict(rows, orient="index")


def test_not_fitted() -> None:
    with pytest.raises(NotFittedError):
        HealthScorer().score(customers())


def test_components_bounded_and_weighted() -> None:
    X = customers()
    hs = HealthScorer().fit(X)
    s = hs.score(X)
    comps = list(DEFAULT_WEIGHTS)
    assert set(comps) <= set(s.columns)
    assert ((s[comps] >= 0) & (s[comps] <= 100)).all().all()
    w = np.array([DEFAULT_WEIGHTS[c] for c in comps])
    np.testing.assert_allclose(s["health"], np.round(s[comps].to_numpy() @ (w / w.sum()), 1))
    assert s.loc["happy_subscriber", "health"] > s.loc["steady", "health"]
    assert s.loc["steady", "health"] > s.loc["unhappy", "health"]
    assert s.loc["unhappy", "support"] == 20  # 100 - 3*20 - 2*10
    assert s.loc["happy_subscriber", "subscription"] == 100
    assert s.loc["lapsed", "subscription"] == 10


def test_lifecycle_rules() -> None:
    X = customers()
    s = HealthScorer().fit(X).score(X)
    assert s["lifecycle_stage"].to_dict() == {
        "prospect": "acquisition",
        "first_order": "activation",
        "happy_subscriber": "expansion",
        "steady": "retention",
        "unhappy": "churn",
        "lapsed": "churn",
    }


def test_missing_component_is_dropped_and_weights_renormalised() -> None:
    X = customers().drop(columns=["churn_risk"])
    hs = HealthScorer().fit(X)
    assert "churn_risk" not in hs.components_
    s = hs.score(X)
    assert "churn_risk" not in s.columns
    assert s["health"].between(0, 100).all()
