"""Churn model family with calibrated probabilities and per-customer reasons.

Two candidate models are compared on the *same* stratified holdout split:

* ``logreg``: one-hot encoded categoricals + standardised numerics, L2 logistic regression;
* ``hgb``: :class:`~sklearn.ensemble.HistGradientBoostingClassifier` with native categoricals.

The candidate with the better holdout ROC-AUC is kept (logistic regression wins ties within
``prefer_simple_margin`` because its reasons are exact and it is easier to explain). The kept
model is calibrated with :class:`~sklearn.calibration.CalibratedClassifierCV` on the training
part (Platt/sigmoid or isotonic, whichever has the lower holdout Brier score), its Brier score and reliability table are measured on the
holdout, and it is then refit on all rows.

Reasons are feature contributions in log-odds, turned into plain words in both languages:

* logistic regression: ``coef * (standardised value - training mean)``, summed over the one-hot
  columns of a categorical feature (exact for the linear model);
* gradient boosting: occlusion against a reference customer: the change in log-odds when the
  feature is replaced by its training median (numeric) or mode (categorical). Cheap (one extra
  prediction per feature) and honest (it is what the model does), not additive.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import cross_val_predict, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

__all__ = [
    "DEFAULT_REASON_TEMPLATES",
    "ChurnModel",
    "Reason",
    "ReasonTemplate",
    "make_candidate",
    "reliability_table",
]


@dataclass(frozen=True)
class ReasonTemplate:
    """Plain-language text for one feature, in English and Chinese.

    ``high`` is used when the customer's value is above the reference (median) value, ``low``
    when it is below. Each is an ``(en, zh)`` pair of :meth:`str.format` templates that may use
    ``{value}`` (the raw value). Categorical features use ``high`` for any value.
    """

    high: tuple[str, str]
    low: tuple[str, str] | None = None
    scale: float = 1.0  # value is divided by this before formatting (e.g. cents -> yuan)


@dataclass(frozen=True)
class Reason:
    """One reason behind a churn score."""

    feature: str
    contribution: float  # log-odds contribution, > 0 raises the risk
    value: Any
    text_en: str
    text_zh: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (the value is stringified)."""
        return {
            "feature": self.feature,
            "contribution": round(float(self.contribution), 4),
            "value": _json_value(self.value),
            "en": self.text_en,
            "zh": self.text_zh,
        }


def _json_value(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v


# Templates for the store features built by ``analytics.brain.features``. Only features that *raise*
# the risk are ever shown, so each text describes the customer's situation, not the model.
DEFAULT_REASON_TEMPLATES: dict[str, ReasonTemplate] = {
    "recency_days": ReasonTemplate(
        high=("No order in the last {value:.0f} days", "已 {value:.0f} 天未下单"),
        low=("Ordered only {value:.0f} days ago", "{value:.0f} 天前刚下过单"),
    ),
    "frequency": ReasonTemplate(
        high=("{value:.0f} orders so far", "累计下单 {value:.0f} 次"),
        low=("Only {value:.0f} order(s) so far", "仅下单 {value:.0f} 次"),
    ),
    "monetary_cents": ReasonTemplate(
        high=("Spent ¥{value:.0f} in total", "累计消费 ¥{value:.0f}"),
        low=("Spent only ¥{value:.0f} in total", "累计消费仅 ¥{value:.0f}"),
        scale=100.0,
    ),
    "avg_order_cents": ReasonTemplate(
        high=("Large average order (¥{value:.0f})", "平均客单价较高（¥{value:.0f}）"),
        low=("Small average order (¥{value:.0f})", "平均客单价较低（¥{value:.0f}）"),
        scale=100.0,
    ),
    "tenure_days": ReasonTemplate(
        high=("Customer for {value:.0f} days", "已是 {value:.0f} 天的老顾客"),
        low=("Customer for only {value:.0f} days", "成为顾客仅 {value:.0f} 天"),
    ),
    "orders_90d": ReasonTemplate(
        high=("{value:.0f} orders in the last 90 days", "近 90 天下单 {value:.0f} 次"),
        low=("Only {value:.0f} order(s) in the last 90 days", "近 90 天仅下单 {value:.0f} 次"),
    ),
    "orders_prev_90d": ReasonTemplate(
        high=(
            "Ordered more often before ({value:.0f} orders in the previous 90 days)",
            "之前下单更频繁（前一个 90 天下单 {value:.0f} 次）",
        ),
        low=("Few orders in the previous 90 days", "前一个 90 天下单较少"),
    ),
    "order_trend": ReasonTemplate(
        high=("Ordering more often lately", "最近下单更频繁"),
        low=("Ordering less often than before", "下单频率比以前低"),
    ),
    "sub_active": ReasonTemplate(
        high=("Has an active subscription", "有进行中的订阅"),
        low=("No active subscription", "没有进行中的订阅"),
    ),
    "sub_paused": ReasonTemplate(
        high=("Subscription is paused", "订阅已暂停"),
        low=("Subscription is not paused", "订阅未暂停"),
    ),
    "sub_canceled": ReasonTemplate(
        high=("Cancelled a subscription", "曾取消订阅"),
        low=("Never cancelled a subscription", "从未取消订阅"),
    ),
    "sub_pauses_180d": ReasonTemplate(
        high=(
            "Paused the subscription {value:.0f} time(s) recently",
            "近期暂停订阅 {value:.0f} 次",
        ),
        low=("No recent subscription pauses", "近期没有暂停订阅"),
    ),
    "sub_skips_180d": ReasonTemplate(
        high=("Skipped {value:.0f} box(es) recently", "近期跳过 {value:.0f} 期礼盒"),
        low=("No skipped boxes recently", "近期没有跳过礼盒"),
    ),
    "sub_tenure_days": ReasonTemplate(
        high=("Subscribed for {value:.0f} days", "已订阅 {value:.0f} 天"),
        low=("Subscribed for only {value:.0f} days", "订阅仅 {value:.0f} 天"),
    ),
    "refunds_180d": ReasonTemplate(
        high=("{value:.0f} refund request(s) recently", "近期申请退款 {value:.0f} 次"),
        low=("No recent refund requests", "近期没有退款申请"),
    ),
    "cancelled_orders_180d": ReasonTemplate(
        high=(
            "{value:.0f} cancelled or refunded order(s) recently",
            "近期有 {value:.0f} 笔订单取消或退款",
        ),
        low=("No cancelled orders recently", "近期没有取消的订单"),
    ),
    "late_deliveries_180d": ReasonTemplate(
        high=(
            "{value:.0f} late or returned deliveries recently",
            "近期 {value:.0f} 次配送延误或退回",
        ),
        low=("No late deliveries recently", "近期没有配送延误"),
    ),
    "contacts_90d": ReasonTemplate(
        high=("Contacted support {value:.0f} time(s) in 90 days", "90 天内联系客服 {value:.0f} 次"),
        low=("Rarely contacts support", "很少联系客服"),
    ),
    "complaints_90d": ReasonTemplate(
        high=("{value:.0f} complaint(s) in the last 90 days", "近 90 天投诉 {value:.0f} 次"),
        low=("No recent complaints", "近期没有投诉"),
    ),
    "cancel_intents_90d": ReasonTemplate(
        high=("Asked about cancelling {value:.0f} time(s)", "{value:.0f} 次询问取消订阅"),
        low=("Has not asked about cancelling", "没有询问过取消"),
    ),
    "refund_intents_90d": ReasonTemplate(
        high=("Asked about refunds {value:.0f} time(s)", "{value:.0f} 次询问退款"),
        low=("Has not asked about refunds", "没有询问过退款"),
    ),
    "handoffs_90d": ReasonTemplate(
        high=("Needed a human {value:.0f} time(s) recently", "近期 {value:.0f} 次需要人工处理"),
        low=("No recent handoffs to a human", "近期没有转人工"),
    ),
    "fallbacks_90d": ReasonTemplate(
        high=("The bot misunderstood them {value:.0f} time(s)", "机器人 {value:.0f} 次没听懂"),
        low=("The bot understood them well", "机器人沟通顺畅"),
    ),
    "negative_sentiment_90d": ReasonTemplate(
        high=("Unhappy tone in recent messages", "最近的消息语气不满"),
        low=("Positive tone in recent messages", "最近的消息语气积极"),
    ),
    "bad_ratings_90d": ReasonTemplate(
        high=("Rated support poorly {value:.0f} time(s)", "{value:.0f} 次给客服差评"),
        low=("No poor support ratings", "没有差评"),
    ),
}


def _format_reason(
    feature: str, value: Any, above: bool, templates: Mapping[str, ReasonTemplate]
) -> tuple[str, str]:
    tpl = templates.get(feature)
    if tpl is None:
        return (f"{feature} = {value}", f"{feature} = {value}")
    pair = tpl.high if (above or tpl.low is None) else tpl.low
    v: Any = value
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        v = float(value) / tpl.scale
    try:
        return (pair[0].format(value=v), pair[1].format(value=v))
    except (ValueError, TypeError):  # e.g. a string value with a numeric format spec
        return (
            pair[0].replace("{value:.0f}", str(v)).format(value=v),
            pair[1].replace("{value:.0f}", str(v)).format(value=v),
        )


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


def make_candidate(
    kind: str,
    numeric: list[str],
    categorical: list[str],
    *,
    C: float = 0.1,
    hgb_params: Mapping[str, Any] | None = None,
    random_state: int = 0,
) -> Pipeline:
    """Build an unfitted candidate pipeline.

    Args:
        kind: ``"logreg"`` or ``"hgb"``.
        numeric: Numeric feature columns.
        categorical: Categorical feature columns.
        C: Inverse L2 strength of the logistic regression.
        hgb_params: Overrides for :class:`HistGradientBoostingClassifier`.
        random_state: Seed.

    Returns:
        A pipeline ``pre -> clf`` taking a DataFrame with those columns.
    """
    if kind == "logreg":
        pre = ColumnTransformer(
            [
                ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical),
                ("num", StandardScaler(), numeric),
            ],
            verbose_feature_names_out=False,
        )
        clf: Any = LogisticRegression(C=C, max_iter=5000)
    elif kind == "hgb":
        pre = ColumnTransformer(
            [
                (
                    "cat",
                    OrdinalEncoder(
                        handle_unknown="use_encoded_value",
                        unknown_value=np.nan,
                        encoded_missing_value=np.nan,
                    ),
                    categorical,
                ),
                ("num", "passthrough", numeric),
            ],
            verbose_feature_names_out=False,
        )
        # 100 trees of <= 15 leaves: as accurate as 300 smaller trees on our data, and 3x
        # cheaper to explain (occlusion re-runs the trees once per feature)
        params: dict[str, Any] = {
            "learning_rate": 0.08,
            "max_iter": 100,
            "max_leaf_nodes": 15,
            "min_samples_leaf": 40,
            "l2_regularization": 1.0,
        }
        params.update(hgb_params or {})
        mask = [True] * len(categorical) + [False] * len(numeric)
        clf = HistGradientBoostingClassifier(
            categorical_features=mask if categorical else None, random_state=random_state, **params
        )
    else:
        raise ValueError(f"unknown candidate {kind!r}; use 'logreg' or 'hgb'")
    return Pipeline([("pre", pre), ("clf", clf)])


class ChurnModel(ClassifierMixin, BaseEstimator):
    """Calibrated churn classifier that keeps the better of logistic regression and GBM.

    Args:
        candidates: Candidate kinds to compare (``"logreg"``, ``"hgb"``).
        categorical_features: Columns treated as categorical; ``None`` means every column of
            dtype object/category/bool-as-string.
        calibration: ``"isotonic"``, ``"sigmoid"`` or ``"auto"`` (both are fit on the
            training part and the one with the lower holdout Brier score is kept).
        holdout_size: Fraction of rows kept out for the model comparison and calibration check.
        cv: Folds used by :class:`CalibratedClassifierCV`.
        C: Inverse L2 strength of the logistic regression.
        hgb_params: Overrides for the gradient-boosting candidate.
        prefer_simple_margin: Logistic regression is kept unless GBM's holdout AUC is higher by
            more than this margin.
        refit_full: Refit the calibrated model on all rows after the holdout evaluation.
        reason_templates: Feature -> :class:`ReasonTemplate`; defaults to the store features.
        min_contribution: Contributions (log-odds) below this are not reported as reasons.
        random_state: Seed for the split and the models.

    Attributes:
        feature_names_in_: Input columns.
        numeric_features_, categorical_features_: Column roles.
        comparison_: ``{kind: {"roc_auc", "brier"}}`` for each uncalibrated candidate on the
            holdout.
        selected_: The kept candidate kind.
        calibration_method_: The calibration method used.
        metrics_: Holdout metrics of the calibrated kept model: ``roc_auc``, ``brier``,
            ``brier_uncalibrated``, ``base_rate``, ``n_train``, ``n_holdout``, and
            ``reliability`` (list of rows of :func:`reliability_table`).
        model_: Fitted :class:`CalibratedClassifierCV` (used for probabilities).
        base_model_: The single fitted candidate pipeline inside ``model_`` (used for reasons).
        reference_: Reference value per feature (median / mode of the training rows).
        classes_: ``[0, 1]``.
    """

    def __init__(
        self,
        candidates: tuple[str, ...] = ("logreg", "hgb"),
        categorical_features: list[str] | None = None,
        calibration: str = "auto",
        holdout_size: float = 0.25,
        cv: int = 5,
        C: float = 0.1,
        hgb_params: dict[str, Any] | None = None,
        prefer_simple_margin: float = 0.002,
        refit_full: bool = True,
        reason_templates: Mapping[str, ReasonTemplate] | None = None,
        min_contribution: float = 0.05,
        random_state: int = 0,
    ) -> None:
        self.candidates = candidates
        self.categorical_features = categorical_features
        self.calibration = calibration
        self.holdout_size = holdout_size
        self.cv = cv
        self.C = C
        self.hgb_params = hgb_params
        self.prefer_simple_margin = prefer_simple_margin
        self.refit_full = refit_full
        self.reason_templates = reason_templates
        self.min_contribution = min_contribution
        self.random_state = random_state

    # ------------------------------------------------------------------ fitting
    def _roles(self, X: pd.DataFrame) -> tuple[list[str], list[str]]:
        if self.categorical_features is None:
            cat = [
                c
                for c in X.columns
                if X[c].dtype == object
                or isinstance(X[c].dtype, pd.CategoricalDtype)
                or pd.api.types.is_string_dtype(X[c].dtype)
            ]
        else:
            cat = list(self.categorical_features)
        num = [c for c in X.columns if c not in cat]
        return num, cat

    def _candidate(self, kind: str) -> Pipeline:
        return make_candidate(
            kind,
            self.numeric_features_,
            self.categorical_features_,
            C=self.C,
            hgb_params=self.hgb_params,
            random_state=self.random_state,
        )

    def _calibrated(self, kind: str, method: str) -> CalibratedClassifierCV:
        return CalibratedClassifierCV(
            self._candidate(kind), method=method, cv=self.cv, ensemble=False
        )

    def fit(self, X: pd.DataFrame, y: Sequence[int] | np.ndarray | pd.Series) -> ChurnModel:
        """Compare the candidates on a holdout, keep the better, calibrate, refit.

        Args:
            X: One row per customer, one column per feature.
            y: 1 if the customer churned in the label window, else 0.

        Returns:
            self
        """
        if not isinstance(X, pd.DataFrame):
            raise TypeError("ChurnModel expects a pandas DataFrame")
        yv = np.asarray(y).astype(int)
        if set(np.unique(yv)) - {0, 1} or len(np.unique(yv)) < 2:
            raise ValueError("y must contain both classes 0 and 1")
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.numeric_features_, self.categorical_features_ = self._roles(X)
        X = X.reset_index(drop=True)
        X_tr, X_ho, y_tr, y_ho = train_test_split(
            X, yv, test_size=self.holdout_size, stratify=yv, random_state=self.random_state
        )

        self.comparison_ = {}
        for kind in self.candidates:
            model = self._candidate(kind).fit(X_tr, y_tr)
            p = model.predict_proba(X_ho)[:, 1]
            self.comparison_[kind] = {
                "roc_auc": float(roc_auc_score(y_ho, p)),
                "brier": float(brier_score_loss(y_ho, p)),
            }
        best = max(self.comparison_, key=lambda k: self.comparison_[k]["roc_auc"])
        if (
            "logreg" in self.comparison_
            and best != "logreg"
            and self.comparison_[best]["roc_auc"] - self.comparison_["logreg"]["roc_auc"]
            <= self.prefer_simple_margin
        ):
            best = "logreg"
        self.selected_ = best

        methods = ["sigmoid", "isotonic"] if self.calibration == "auto" else [self.calibration]
        # out-of-fold scores on the training part, computed once for every calibration method
        base = self._candidate(best)
        oof = cross_val_predict(base, X_tr, y_tr, cv=self.cv, method="decision_function")
        s_ho = clone(base).fit(X_tr, y_tr).decision_function(X_ho)
        p_ho, method = np.zeros(0), methods[0]
        for meth in methods:
            if meth == "sigmoid":
                platt = LogisticRegression(C=1e6).fit(oof.reshape(-1, 1), y_tr)
                p = platt.predict_proba(s_ho.reshape(-1, 1))[:, 1]
            else:
                iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
                p = iso.fit(oof, y_tr).predict(s_ho)
            if not len(p_ho) or brier_score_loss(y_ho, p) < brier_score_loss(y_ho, p_ho):
                p_ho, method = p, meth
        self.calibration_method_ = method
        self.metrics_ = {
            "selected": best,
            "calibration": method,
            "roc_auc": float(roc_auc_score(y_ho, p_ho)),
            "brier": float(brier_score_loss(y_ho, p_ho)),
            "brier_uncalibrated": self.comparison_[best]["brier"],
            "base_rate": float(y_ho.mean()),
            "n_train": len(y_tr),
            "n_holdout": len(y_ho),
            "reliability": reliability_table(y_ho, p_ho).to_dict("records"),
        }
        fit_X, fit_y = (X, yv) if self.refit_full else (X_tr, y_tr)
        self.model_ = self._calibrated(best, method).fit(fit_X, fit_y)
        self.base_model_ = self.model_.calibrated_classifiers_[0].estimator
        self.classes_ = np.array([0, 1])
        ref: dict[str, Any] = {}
        for c in self.numeric_features_:
            ref[c] = float(pd.to_numeric(X[c]).median())
        for c in self.categorical_features_:
            ref[c] = X[c].mode(dropna=True).iloc[0]
        self.reference_ = ref
        if self.selected_ == "logreg":
            Z = self.base_model_.named_steps["pre"].transform(X)
            self.lr_center_ = np.asarray(Z, dtype=float).mean(axis=0)
        return self

    # --------------------------------------------------------------- prediction
    def _check(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "model_")
        missing = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing:
            raise ValueError(f"missing feature columns: {missing}")
        return X[list(self.feature_names_in_)]

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities, shape ``(n, 2)``; column 1 is the churn risk."""
        Xc = self._check(X)
        return np.asarray(self.model_.predict_proba(Xc))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """0/1 churn labels at a 0.5 threshold."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per-feature log-odds contributions (positive raises the risk).

        Args:
            X: Feature rows.

        Returns:
            DataFrame with the same index as ``X`` and one column per input feature.
        """
        X = self._check(X)
        pre = self.base_model_.named_steps["pre"]
        clf = self.base_model_.named_steps["clf"]
        feats = list(self.feature_names_in_)
        if self.selected_ == "logreg":
            Z = np.asarray(pre.transform(X), dtype=float)
            contrib_cols = (Z - self.lr_center_) * clf.coef_[0]
            out = np.zeros((len(X), len(feats)))
            names = list(pre.get_feature_names_out())
            col_of = self._lr_column_owner(names)
            for j, owner in enumerate(col_of):
                out[:, feats.index(owner)] += contrib_cols[:, j]
        else:
            # occlusion on the encoded matrix; rows already at the reference value contribute
            # exactly 0 and are skipped (most count features are 0 for most customers)
            Z = np.asarray(pre.transform(X), dtype=float)
            ref_row = X.iloc[:1].copy()
            for f in feats:
                ref_row[f] = self.reference_[f]
            zref = np.asarray(pre.transform(ref_row), dtype=float)[0]
            names = list(pre.get_feature_names_out())
            base = clf.decision_function(Z)
            out = np.zeros((len(X), len(feats)))
            for j, f in enumerate(feats):
                col = names.index(f)
                zc = Z[:, col]
                differs = ~((zc == zref[col]) | (np.isnan(zc) & np.isnan(zref[col])))
                if not differs.any():
                    continue
                Zr = Z[differs].copy()
                Zr[:, col] = zref[col]
                out[differs, j] = base[differs] - clf.decision_function(Zr)
        return pd.DataFrame(out, index=X.index, columns=feats)

    def _lr_column_owner(self, names: list[str]) -> list[str]:
        owners = []
        cats = sorted(self.categorical_features_, key=len, reverse=True)
        for n in names:
            if n in self.numeric_features_:
                owners.append(n)
                continue
            owner = next((c for c in cats if n.startswith(c + "_")), None)
            if owner is None:
                raise RuntimeError(f"cannot map encoded column {n!r} to a feature")
            owners.append(owner)
        return owners

    def reasons(
        self, X: pd.DataFrame, top_n: int = 3, min_risk: float | None = None
    ) -> list[list[Reason]]:
        """Top reasons per customer, in plain words (en and zh).

        Only features that raise the risk by at least ``min_contribution`` log-odds are
        reported, largest first.

        Args:
            X: Feature rows.
            top_n: Maximum number of reasons per customer.
            min_risk: If given, customers whose churn risk is below it get no reasons (and
                cost nothing: explaining a low risk is not useful and occlusion is not free).

        Returns:
            A list (one per row) of lists of :class:`Reason`.
        """
        result: list[list[Reason]] = [[] for _ in range(len(X))]
        if min_risk is not None:
            keep = np.flatnonzero(self.predict_proba(X)[:, 1] >= min_risk)
            if len(keep) == 0:
                return result
            for k, gated in zip(keep, self.reasons(X.iloc[keep], top_n), strict=True):
                result[int(k)] = gated
            return result
        C = self.contributions(X)
        templates = (
            self.reason_templates if self.reason_templates is not None else DEFAULT_REASON_TEMPLATES
        )
        Xc = self._check(X)
        vals = C.to_numpy()
        feats = list(C.columns)
        order = np.argsort(-vals, axis=1)[:, :top_n]
        columns = [Xc[f].to_numpy() for f in feats]
        for i in range(len(C)):
            rs: list[Reason] = []
            for j in order[i]:
                c = float(vals[i, j])
                if c < self.min_contribution:
                    break
                f = feats[j]
                v = columns[j][i]
                if f in self.categorical_features_:
                    above = True
                else:
                    above = float(v) > float(self.reference_[f])
                en, zh = _format_reason(f, v, above, templates)
                rs.append(Reason(f, c, v, en, zh))
            result[i] = rs
        return result

    def clone_unfitted(self) -> ChurnModel:
        """An unfitted copy with the same parameters."""
        return clone(self)  # type: ignore[no-any-return]
