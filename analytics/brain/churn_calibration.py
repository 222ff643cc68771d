"""Calibration of churn scores, and how well calibrated probabilities are.

:func:`choose_calibration` maps out-of-fold decision scores to probabilities with Platt
scaling (sigmoid) or isotonic regression and keeps the method with the lower Brier score on a
holdout; :func:`reliability_table` is the reliability (calibration) table of probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss

__all__ = [
    "AUTO",
    "ISOTONIC",
    "SIGMOID",
    "calibration_methods",
    "choose_calibration",
    "reliability_table",
]

SIGMOID = "sigmoid"
ISOTONIC = "isotonic"
AUTO = "auto"
"""Try both methods and keep the one with the lower holdout Brier score."""


def calibration_methods(calibration: str) -> list[str]:
    """The methods to try for a ``calibration`` setting (``"auto"`` means both)."""
    return [SIGMOID, ISOTONIC] if calibration == AUTO else [calibration]


def choose_calibration(
    methods: Sequence[str],
    train_scores: np.ndarray,
    y_train: np.ndarray,
    holdout_scores: np.ndarray,
    y_holdout: np.ndarray,
) -> tuple[np.ndarray, str]:
    """Fit each calibration method on training scores; keep the best on the holdout.

    Args:
        methods: ``"sigmoid"`` and/or ``"isotonic"``, tried in this order (ties keep the
            first).
        train_scores: Out-of-fold decision scores of the training rows.
        y_train: Their 0/1 outcomes.
        holdout_scores: Decision scores of the holdout rows (model fit on the training rows).
        y_holdout: Their 0/1 outcomes.

    Returns:
        ``(calibrated holdout probabilities, method)`` of the method with the lowest Brier
        score.
    """
    p_ho, method = np.zeros(0), methods[0]
    for meth in methods:
        if meth == SIGMOID:
            platt = LogisticRegression(C=1e6).fit(train_scores.reshape(-1, 1), y_train)
            p = platt.predict_proba(holdout_scores.reshape(-1, 1))[:, 1]
        else:
            iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
            p = iso.fit(train_scores, y_train).predict(holdout_scores)
        if not len(p_ho) or brier_score_loss(y_holdout, p) < brier_score_loss(y_holdout, p_ho):
            p_ho, method = p, meth
    return p_ho, method


def reliability_table(
    y_true: Sequence[int] | np.ndarray, proba: Sequence[float] | np.ndarray, n_bins: int = 10
) -> pd.DataFrame:
    """Reliability (calibration) table with equal-width probability bins.

    Args:
        y_true: 0/1 outcomes.
        proba: Predicted probabilities of the positive class.
        n_bins: Number of equal-width bins on [0, 1].

    Returns:
        One row per non-empty bin: ``bin`` (e.g. ``"0.1-0.2"``), ``count``, ``mean_predicted``,
        ``observed_rate`` and ``gap`` (observed minus predicted).
    """
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(proba, dtype=float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1], right=False), 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        m = idx == b
        if not m.any():
            continue
        rows.append(
            {
                "bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}",
                "count": int(m.sum()),
                "mean_predicted": float(p[m].mean()),
                "observed_rate": float(y[m].mean()),
                "gap": float(y[m].mean() - p[m].mean()),
            }
        )
    return pd.DataFrame(rows)
