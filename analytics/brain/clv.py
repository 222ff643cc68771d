"""Customer lifetime value: BG/NBD purchase process, Gamma-Gamma spend, discounted CLV.

* :class:`BetaGeoModel` is the BG/NBD model of Fader, Hardie and Lee (2005), "Counting your
  customers the easy way". It is fit by maximising the published log-likelihood with
  :func:`scipy.optimize.minimize` (L-BFGS-B on log-parameters). Identical ``(x, t_x, T)`` rows
  are collapsed and weighted, so fitting a million customers costs about as much as a few
  thousand distinct histories.
* :class:`GammaGammaModel` is the Gamma-Gamma model of spend per transaction (Fader, Hardie
  and Lee 2005, "RFM and CLV: using iso-value curves"; Fader and Hardie 2013 note).
* :func:`discounted_clv` is CLV = sum_{t=1..H} R_t / (1 + r)^t - acquisition cost, where
  R_t = (expected spend per period if still a customer) x (retention ** t) and the per-period
  retention comes from the churn model.

Why not pymc-marketing: see ``docs/benchmarks.md`` (Customer-success brain): it would add
PyMC, PyTensor and ArviZ (hundreds of MB, a C compiler at runtime) to reproduce a
four-parameter maximum-likelihood fit that this module does in well under a second and that
is checked against the published CDNOW parameters in the tests.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

__all__ = [
    "BetaGeoModel",
    "GammaGammaModel",
    "discounted_clv",
    "rfm_summary",
]

ArrayLike: TypeAlias = np.ndarray | pd.Series | list[float]  # noqa: UP040


def rfm_summary(
    transactions: pd.DataFrame,
    customer_col: str,
    date_col: str,
    observation_end: pd.Timestamp | str,
    value_col: str | None = None,
    freq_days: float = 7.0,
    customers: pd.Index | None = None,
) -> pd.DataFrame:
    """Per-customer ``frequency, recency, T, monetary_value`` in the BG/NBD convention.

    Transactions on the same day are merged. ``frequency`` is the number of *repeat* purchase
    days, ``recency`` the time from the first to the last purchase, ``T`` the time from the
    first purchase to ``observation_end`` and ``monetary_value`` the mean value of the repeat
    purchases (0 if none), all times in units of ``freq_days`` days.

    Args:
        transactions: One row per transaction.
        customer_col: Customer id column.
        date_col: Datetime column.
        observation_end: End of the calibration period (transactions after it are ignored).
        value_col: Optional transaction value column.
        freq_days: Length of one time unit in days (7 = weeks).
        customers: Optional index of customers to keep (others dropped).

    Returns:
        DataFrame indexed by customer.
    """
    end = pd.Timestamp(observation_end)
    t = transactions[[customer_col, date_col] + ([value_col] if value_col else [])].copy()
    t[date_col] = pd.to_datetime(t[date_col])
    if t[date_col].dt.tz is not None and end.tzinfo is None:
        end = end.tz_localize(t[date_col].dt.tz)
    t = t[t[date_col] <= end]
    t["_day"] = t[date_col].dt.floor("D")
    agg: dict[str, Any] = {}
    if value_col:
        agg[value_col] = "sum"
    daily = (
        t.groupby([customer_col, "_day"], sort=True).agg(agg)
        if agg
        else t.groupby([customer_col, "_day"], sort=True).size().to_frame("n")
    )
    daily = daily.reset_index()
    g = daily.groupby(customer_col)
    first = g["_day"].min()
    last = g["_day"].max()
    n = g.size()
    unit = pd.Timedelta(days=freq_days)
    out = pd.DataFrame(
        {
            "frequency": (n - 1).astype(float),
            "recency": (last - first) / unit,
            "T": (end.floor("D") - first) / unit,
        }
    )
    if value_col:
        first_val = daily.loc[g["_day"].idxmin(), [customer_col, value_col]].set_index(customer_col)
        total = g[value_col].sum()
        repeat_total = total - first_val[value_col]
        out["monetary_value"] = np.where(
            out["frequency"] > 0, repeat_total / out["frequency"].replace(0, 1), 0.0
        )
    if customers is not None:
        out = out.reindex(customers)
    return out


def _as_arrays(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.asarray(frequency, dtype=float)
    tx = np.asarray(recency, dtype=float)
    TT = np.asarray(T, dtype=float)
    if not (x.shape == tx.shape == TT.shape):
        raise ValueError("frequency, recency and T must have the same shape")
    if (x < 0).any() or (tx < 0).any() or (tx > TT + 1e-9).any():
        raise ValueError("need frequency >= 0 and 0 <= recency <= T")
    return x, tx, TT


class BetaGeoModel(BaseEstimator):
    """BG/NBD model fit by maximum likelihood.

    Args:
        penalizer: L2 penalty on the parameters (0 = plain maximum likelihood, as published).
        initial: Starting ``(r, alpha, a, b)``.
        tol: Optimiser tolerance.

    Attributes:
        r_, alpha_, a_, b_: Fitted parameters.
        params_: The same as a dict.
        log_likelihood_: Maximised total log-likelihood.
        n_customers_: Number of customers fit.
    """

    def __init__(
        self,
        penalizer: float = 0.0,
        initial: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0),
        tol: float = 1e-10,
    ) -> None:
        self.penalizer = penalizer
        self.initial = initial
        self.tol = tol

    @staticmethod
    def _loglik(params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, a, b = params
        A1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        A2 = betaln(a, b + x) - betaln(a, b)
        A3 = -(r + x) * np.log(alpha + T)
        pos = x > 0
        A4 = np.full_like(x, -np.inf)
        A4[pos] = np.log(a) - np.log(b + x[pos] - 1) - (r + x[pos]) * np.log(alpha + tx[pos])
        return np.asarray(A1 + A2 + np.logaddexp(A3, A4), dtype=float)

    def fit(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> BetaGeoModel:
        """Fit on repeat frequency, recency and age (same time unit).

        Args:
            frequency: Number of repeat purchases ``x``.
            recency: Time of the last purchase since the first ``t_x``.
            T: Time since the first purchase to the end of the calibration period.

        Returns:
            self
        """
        x, tx, TT = _as_arrays(frequency, recency, T)
        # collapse identical histories (exact; only the weights change)
        keys = np.round(np.column_stack([x, tx, TT]), 6)
        uniq, inv = np.unique(keys, axis=0, return_inverse=True)
        w = np.bincount(inv.ravel()).astype(float)
        ux, utx, uT = uniq[:, 0], uniq[:, 1], uniq[:, 2]
        n = w.sum()
        scale = max(float(np.mean(TT)), 1e-9)

        def nll(logp: np.ndarray) -> float:
            p = np.exp(logp)
            ll = float(np.dot(w, self._loglik(p, ux, utx, uT)))
            pen = self.penalizer * float(np.sum(p**2))
            return float(-ll / n + pen)

        # alpha lives on the time scale; start it there
        init = np.array(self.initial, dtype=float)
        init[1] = init[1] * scale / 10.0 if self.initial == (1.0, 1.0, 1.0, 1.0) else init[1]
        best = None
        for method in ("L-BFGS-B", "Nelder-Mead"):
            res = minimize(
                nll,
                np.log(init) if best is None else best.x,
                method=method,
                options={"maxiter": 20000, "xatol": self.tol, "fatol": self.tol}
                if method == "Nelder-Mead"
                else {"maxiter": 5000, "ftol": self.tol, "gtol": 1e-9},
            )
            if best is None or res.fun <= best.fun:
                best = res
        assert best is not None
        self.r_, self.alpha_, self.a_, self.b_ = (float(v) for v in np.exp(best.x))
        self.params_ = {"r": self.r_, "alpha": self.alpha_, "a": self.a_, "b": self.b_}
        self.log_likelihood_ = -best.fun * n
        self.n_customers_ = int(n)
        return self

    def _p(self) -> tuple[float, float, float, float]:
        check_is_fitted(self, "r_")
        return self.r_, self.alpha_, self.a_, self.b_

    def expected_purchases(
        self, t: float | ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> np.ndarray:
        """Expected purchases in the next ``t`` periods given each customer's history.

        Args:
            t: Horizon (same time unit as the fit), scalar or per customer.
            frequency: Repeat purchases ``x``.
            recency: ``t_x``.
            T: Customer age.

        Returns:
            Conditional expectation E[Y(t) | x, t_x, T] per customer.
        """
        r, alpha, a, b = self._p()
        x, tx, TT = _as_arrays(frequency, recency, T)
        tt = np.broadcast_to(np.asarray(t, dtype=float), x.shape)
        _a, _b, _c = r + x, b + x, a + b + x - 1
        z = tt / (alpha + TT + tt)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            hyp = hyp2f1(_a, _b, _c, z)
            ln_hyp = np.log(hyp)
            bad = ~np.isfinite(ln_hyp)
            if bad.any():  # Euler transformation for numerically hard terms
                ln_hyp[bad] = np.log(
                    hyp2f1(_c[bad] - _a[bad], _c[bad] - _b[bad], _c[bad], z[bad])
                ) + (_c[bad] - _a[bad] - _b[bad]) * np.log1p(-z[bad])
        first = (a + b + x - 1) / (a - 1)
        second = 1 - np.exp(ln_hyp + (r + x) * np.log((alpha + TT) / (alpha + tt + TT)))
        return np.asarray(first * second * self.p_alive(x, tx, TT))

    def p_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> np.ndarray:
        """Probability that each customer is still active at the end of the period."""
        r, alpha, a, b = self._p()
        x, tx, TT = _as_arrays(frequency, recency, T)
        pos = x > 0
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            log_odds = np.where(
                pos,
                np.log(a)
                - np.log(np.where(pos, b + x - 1, 1.0))
                + (r + x) * (np.log(alpha + TT) - np.log(alpha + tx)),
                -np.inf,
            )
        return np.asarray(1.0 / (1.0 + np.exp(log_odds)))

    def rate_if_alive(self, frequency: ArrayLike, T: ArrayLike) -> np.ndarray:
        """Posterior mean purchase rate per period of a customer who is still active.

        ``E[lambda | x, T, alive] = (r + x) / (alpha + T)``.
        """
        r, alpha, _, _ = self._p()
        x = np.asarray(frequency, dtype=float)
        return np.asarray((r + x) / (alpha + np.asarray(T, dtype=float)))

    def expected_purchases_new(self, t: float | ArrayLike) -> np.ndarray:
        """Expected purchases in ``(0, t]`` of a customer just acquired (unconditional)."""
        r, alpha, a, b = self._p()
        tt = np.asarray(t, dtype=float)
        return np.asarray(
            (a + b - 1)
            / (a - 1)
            * (1 - (alpha / (alpha + tt)) ** r * hyp2f1(r, b, a + b - 1, tt / (alpha + tt)))
        )


class GammaGammaModel(BaseEstimator):
    """Gamma-Gamma model of the average transaction value.

    Args:
        penalizer: L2 penalty on the parameters.

    Attributes:
        p_, q_, v_: Fitted parameters.
        params_: The same as a dict.
        population_mean_: Expected transaction value of a new customer ``p v / (q - 1)``.
    """

    def __init__(self, penalizer: float = 0.0) -> None:
        self.penalizer = penalizer

    def fit(self, frequency: ArrayLike, monetary_value: ArrayLike) -> GammaGammaModel:
        """Fit on customers with at least one repeat purchase.

        Args:
            frequency: Number of (repeat) transactions the average is over.
            monetary_value: Average value of those transactions (> 0).

        Returns:
            self
        """
        x = np.asarray(frequency, dtype=float)
        m = np.asarray(monetary_value, dtype=float)
        keep = (x > 0) & (m > 0)
        x, m = x[keep], m[keep]
        if len(x) < 3:
            raise ValueError("need at least 3 customers with repeat purchases")
        scale = float(np.mean(m))
        ms = m / scale  # fit on a unit scale, rescale v afterwards

        def nll(logp: np.ndarray) -> float:
            p, q, v = np.exp(logp)
            ll = (
                gammaln(p * x + q)
                - gammaln(p * x)
                - gammaln(q)
                + q * np.log(v)
                + (p * x - 1) * np.log(ms)
                + (p * x) * np.log(x)
                - (p * x + q) * np.log(x * ms + v)
            )
            return -float(np.mean(ll)) + self.penalizer * float(np.sum(np.exp(logp) ** 2))

        res = minimize(
            nll,
            np.log([1.0, 2.0, 1.0]),
            method="Nelder-Mead",
            options={"maxiter": 20000, "xatol": 1e-10, "fatol": 1e-12},
        )
        self.p_, self.q_, v = (float(t) for t in np.exp(res.x))
        self.v_ = v * scale
        self.params_ = {"p": self.p_, "q": self.q_, "v": self.v_}
        self.population_mean_ = (
            (self.p_ * self.v_ / (self.q_ - 1)) if self.q_ > 1 else float(np.mean(m))
        )
        return self

    def expected_value(self, frequency: ArrayLike, monetary_value: ArrayLike) -> np.ndarray:
        """Expected value of a customer's future transactions.

        ``E[M | x, m] = p (v + x m) / (p x + q - 1)``; customers with ``x = 0`` get the
        population mean.
        """
        check_is_fitted(self, "p_")
        x = np.asarray(frequency, dtype=float)
        m = np.asarray(monetary_value, dtype=float)
        p, q, v = self.p_, self.q_, self.v_
        with np.errstate(divide="ignore", invalid="ignore"):
            val = p * (v + x * m) / (p * x + q - 1)
        return np.where(x > 0, val, self.population_mean_)


def discounted_clv(
    value_per_period: ArrayLike,
    retention_per_period: ArrayLike,
    acquisition_cost: ArrayLike | float = 0.0,
    discount_rate: float = 0.01,
    horizon: int = 24,
) -> np.ndarray:
    """Discounted CLV = sum_{t=1..H} R_t / (1 + r)^t - acquisition cost.

    ``R_t = value_per_period * retention ** t``: the expected margin or revenue per period of
    a customer who is still a customer, times the probability of still being one.

    Args:
        value_per_period: Expected revenue per period while retained (e.g. BG/NBD rate if alive
            times Gamma-Gamma expected order value, plus subscription fees).
        retention_per_period: Probability to stay a customer from one period to the next
            (e.g. ``(1 - churn_risk_90d) ** (1/3)`` for monthly periods).
        acquisition_cost: Subtracted once (0 for customers already acquired if you want the
            forward-looking value).
        discount_rate: Discount rate per period.
        horizon: Number of periods.

    Returns:
        CLV per customer (same unit as ``value_per_period``).
    """
    v = np.asarray(value_per_period, dtype=float)
    s = np.clip(np.asarray(retention_per_period, dtype=float), 0.0, 1.0)
    q = s / (1.0 + discount_rate)
    with np.errstate(divide="ignore", invalid="ignore"):
        geo = np.where(np.isclose(q, 1.0), float(horizon), q * (1 - q**horizon) / (1 - q))
    return np.asarray(v * geo - np.asarray(acquisition_cost, dtype=float))
