"""Tests of BG/NBD, Gamma-Gamma and the discounted CLV against published numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from analytics.brain.clv import BetaGeoModel, GammaGammaModel, discounted_clv, rfm_summary
from bench.brain._common import shared_data_dir

CDNOW = shared_data_dir() / "cdnow"
needs_cdnow = pytest.mark.skipif(not CDNOW.exists(), reason="shared CDNOW data not available")


@pytest.fixture(scope="module")
def summary() -> pd.DataFrame:
    return pd.read_csv(CDNOW / "cdnow_customers_summary.csv")


@needs_cdnow
def test_bgnbd_reproduces_published_cdnow_parameters(summary: pd.DataFrame) -> None:
    m = BetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"])
    published = {"r": 0.2426, "alpha": 4.4135, "a": 0.7929, "b": 2.4258}
    for k, v in published.items():
        assert m.params_[k] == pytest.approx(v, rel=0.02), k


@needs_cdnow
def test_bgnbd_from_raw_transactions_matches_summary() -> None:
    tx = pd.read_csv(
        CDNOW / "CDNOW_sample.txt",
        sep=r"\s+",
        header=None,
        names=["id", "new_id", "date", "n", "amount"],
        dtype={"date": str},
    )
    tx["date"] = pd.to_datetime(tx["date"], format="%Y%m%d")
    s = rfm_summary(tx, "id", "date", "1997-09-30", value_col="amount")
    assert len(s) == 2357
    m = BetaGeoModel().fit(s["frequency"], s["recency"], s["T"])
    assert m.r_ == pytest.approx(0.2426, rel=0.02)
    assert m.b_ == pytest.approx(2.4258, rel=0.02)


@needs_cdnow
def test_gamma_gamma_reproduces_published_parameters() -> None:
    w = pd.read_csv(CDNOW / "cdnow_customers_summary_with_transactions.csv")
    g = GammaGammaModel().fit(w["x"], w["zbar"])
    for k, v in {"p": 6.25, "q": 3.74, "v": 15.44}.items():
        assert g.params_[k] == pytest.approx(v, rel=0.02), k


@needs_cdnow
def test_conditional_expectations_behave(summary: pd.DataFrame) -> None:
    m = BetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"])
    # a frequent, recent buyer is more alive and buys more than one who stopped long ago
    recent = m.expected_purchases(10, [5], [35], [38])[0]
    lapsed = m.expected_purchases(10, [5], [5], [38])[0]
    assert recent > lapsed > 0
    assert m.p_alive([5], [35], [38])[0] > m.p_alive([5], [5], [38])[0]
    assert m.p_alive([0], [0], [38])[0] == pytest.approx(1.0)
    # expectations grow with the horizon
    e = m.expected_purchases(np.array([1.0, 10.0, 52.0]), [2, 2, 2], [20, 20, 20], [38, 38, 38])
    assert np.all(np.diff(e) > 0)
    # aggregate fit (Fader, Hardie and Lee 2005, Figure 2): the unconditional expectation over
    # each customer's own calibration time reproduces the observed repeat purchases
    expected_total = float(np.sum(m.expected_purchases_new(summary["T"].to_numpy())))
    assert expected_total == pytest.approx(summary["frequency"].sum(), rel=0.03)


def test_not_fitted() -> None:
    with pytest.raises(NotFittedError):
        BetaGeoModel().p_alive([1], [1], [2])
    with pytest.raises(NotFittedError):
        GammaGammaModel().expected_value([1], [10.0])


def test_input_validation() -> None:
    with pytest.raises(ValueError):
        BetaGeoModel().fit([1, 2], [5, 3], [4, 4])  # recency > T


def test_discounted_clv_matches_explicit_sum() -> None:
    v, s, r, h, ac = 100.0, 0.9, 0.01, 24, 50.0
    explicit = sum(v * s**t / (1 + r) ** t for t in range(1, h + 1)) - ac
    got = discounted_clv([v], [s], acquisition_cost=ac, discount_rate=r, horizon=h)[0]
    assert got == pytest.approx(explicit)
    # no discount and full retention: horizon x value
    assert discounted_clv([10.0], [1.0], discount_rate=0.0, horizon=12)[0] == pytest.approx(120)
    # lower retention, lower value
    a, b = discounted_clv([10.0, 10.0], [0.95, 0.5])
    assert a > b > 0


def test_rfm_summary_small_example() -> None:
    tx = pd.DataFrame(
        {
            "c": [1, 1, 1, 2, 3],
            "d": pd.to_datetime(
                ["2024-01-01", "2024-01-01", "2024-01-15", "2024-01-08", "2024-02-01"]
            ),
            "v": [10.0, 5.0, 20.0, 7.0, 9.0],
        }
    )
    s = rfm_summary(tx, "c", "d", "2024-01-29", value_col="v", freq_days=7)
    # customer 3 bought after the end: excluded
    assert list(s.index) == [1, 2]
    assert s.loc[1, "frequency"] == 1  # two purchase days -> one repeat
    assert s.loc[1, "recency"] == pytest.approx(2.0)
    assert s.loc[1, "T"] == pytest.approx(4.0)
    assert s.loc[1, "monetary_value"] == pytest.approx(20.0)
    assert s.loc[2, "frequency"] == 0 and s.loc[2, "monetary_value"] == 0
