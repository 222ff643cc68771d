"""Tests of the churn model family: telco AUC band, calibration report, reasons."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from threadpoolctl import threadpool_limits

from analytics.brain.churn import ChurnModel, reliability_table
from bench.brain._common import shared_data_dir

FAST_HGB = {"max_iter": 80, "learning_rate": 0.1}
TELCO = shared_data_dir() / "telco_churn" / "WA_Fn-UseC_-Telco-Customer-Churn.csv"


@pytest.fixture(autouse=True)
def _one_openmp_thread() -> Iterator[None]:
    """OpenMP in KMeans/HGB degrades badly when the 2 cores are shared; one thread is enough."""
    with threadpool_limits(1):
        yield


def synthetic(n: int = 2000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Churn driven by recency and complaints; frequency protective; noise feature."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "recency_days": rng.exponential(60, n),
            "frequency": rng.poisson(4, n).astype(float),
            "complaints_90d": rng.poisson(0.3, n).astype(float),
            "noise": rng.normal(size=n),
            "plan": rng.choice(["tea", "coffee", "none"], n),
        }
    )
    logit = (
        -2.0
        + 0.025 * X["recency_days"]
        + 1.2 * X["complaints_90d"]
        - 0.25 * X["frequency"]
        + 0.8 * (X["plan"] == "none")
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y.to_numpy()


def test_not_fitted_raises() -> None:
    X, _ = synthetic(100)
    with pytest.raises(NotFittedError):
        ChurnModel().predict_proba(X)


@pytest.mark.skipif(not TELCO.exists(), reason="shared telco data not available")
def test_telco_auc_in_published_band() -> None:
    from bench.brain.telco import load_telco

    X, y = load_telco()
    m = ChurnModel(cv=3, hgb_params=FAST_HGB, random_state=0).fit(X, y)
    assert set(m.comparison_) == {"logreg", "hgb"}
    assert 0.82 <= m.metrics_["roc_auc"] <= 0.88
    assert m.metrics_["brier"] < 0.15
    rel = pd.DataFrame(m.metrics_["reliability"])
    assert rel["count"].sum() == m.metrics_["n_holdout"]
    # calibrated: the count-weighted gap between predicted and observed is small
    assert np.average(rel["gap"].abs(), weights=rel["count"]) < 0.05


def test_keeps_better_candidate_and_is_deterministic() -> None:
    X, y = synthetic()
    a = ChurnModel(cv=3, hgb_params=FAST_HGB, random_state=1).fit(X, y)
    b = ChurnModel(cv=3, hgb_params=FAST_HGB, random_state=1).fit(X, y)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X))
    aucs = {k: v["roc_auc"] for k, v in a.comparison_.items()}
    if a.selected_ == "hgb":
        assert aucs["hgb"] > aucs["logreg"] + a.prefer_simple_margin
    else:
        assert aucs["logreg"] >= aucs["hgb"] - a.prefer_simple_margin
    assert a.metrics_["calibration"] in {"sigmoid", "isotonic"}
    p = a.predict_proba(X)
    assert p.shape == (len(X), 2) and np.allclose(p.sum(axis=1), 1)


@pytest.mark.parametrize("kind", ["logreg", "hgb"])
def test_reasons_name_the_real_drivers_in_both_languages(kind: str) -> None:
    X, y = synthetic()
    m = ChurnModel(candidates=(kind,), cv=3, hgb_params=FAST_HGB).fit(X, y)
    risky = pd.DataFrame(
        {
            "recency_days": [250.0],
            "frequency": [4.0],
            "complaints_90d": [3.0],
            "noise": [0.0],
            "plan": ["tea"],
        }
    )
    reasons = m.reasons(risky, top_n=3)[0]
    feats = [r.feature for r in reasons]
    assert set(feats[:2]) == {"recency_days", "complaints_90d"}
    texts = {r.feature: (r.text_en, r.text_zh) for r in reasons}
    assert texts["recency_days"] == ("No order in the last 250 days", "已 250 天未下单")
    assert texts["complaints_90d"] == ("3 complaint(s) in the last 90 days", "近 90 天投诉 3 次")
    assert all(r.contribution > 0 for r in reasons)
    assert "noise" not in feats[:2]
    # a safe customer has no (or only small) reasons
    safe = pd.DataFrame(
        {
            "recency_days": [3.0],
            "frequency": [9.0],
            "complaints_90d": [0.0],
            "noise": [0.0],
            "plan": ["tea"],
        }
    )
    assert all(r.feature not in {"recency_days", "complaints_90d"} for r in m.reasons(safe)[0])
    # min_risk: the safe customer is not explained at all, the risky one still is
    both = pd.concat([risky, safe], ignore_index=True)
    gated = m.reasons(both, min_risk=0.5)
    assert gated[1] == [] and [r.feature for r in gated[0]] == feats
    d = reasons[0].as_dict()
    assert set(d) == {"feature", "contribution", "value", "en", "zh"}


def test_logreg_contributions_are_exact_log_odds() -> None:
    X, y = synthetic()
    m = ChurnModel(candidates=("logreg",), cv=3).fit(X, y)
    C = m.contributions(X.head(50))
    clf = m.base_model_
    logit = clf.decision_function(X.head(50))
    # contributions sum to the log-odds minus the log-odds of the mean customer
    base = logit - C.sum(axis=1).to_numpy()
    assert np.allclose(base, base[0])


def test_reliability_table() -> None:
    y = np.array([0, 0, 1, 1])
    p = np.array([0.05, 0.15, 0.85, 0.95])
    t = reliability_table(y, p, n_bins=2)
    assert list(t["count"]) == [2, 2]
    assert list(t["observed_rate"]) == [0.0, 1.0]
