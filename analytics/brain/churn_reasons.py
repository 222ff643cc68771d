"""Why a churn score is high: feature contributions turned into plain words (en and zh).

Contributions are in log-odds (positive raises the risk):

* logistic regression (:func:`linear_contributions`): ``coef * (standardised value - training
  mean)``, summed over the one-hot columns of a categorical feature (exact for the linear model);
* gradient boosting (:func:`occlusion_contributions`): occlusion against a reference customer:
  the change in log-odds when the feature is replaced by its training median (numeric) or mode
  (categorical). Cheap (one extra prediction per feature) and honest (it is what the model
  does), not additive.

:func:`top_reasons` keeps the largest contributions that raise the risk and words them with a
:class:`ReasonTemplate` per feature (:data:`DEFAULT_REASON_TEMPLATES` for the store features).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from analytics.core.vocabulary import LANG_EN, LANG_ZH

__all__ = [
    "DEFAULT_REASON_TEMPLATES",
    "Reason",
    "ReasonTemplate",
    "format_reason",
    "linear_contributions",
    "occlusion_contributions",
    "top_reasons",
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
            LANG_EN: self.text_en,
            LANG_ZH: self.text_zh,
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


def format_reason(
    feature: str, value: Any, above: bool, templates: Mapping[str, ReasonTemplate]
) -> tuple[str, str]:
    """The (English, Chinese) text of one reason.

    Args:
        feature: The feature.
        value: The customer's value.
        above: Whether the value is above the reference (picks the ``high`` text).
        templates: Feature -> template; a feature without one is shown as ``feature = value``.

    Returns:
        The two texts.
    """
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


def linear_contributions(
    model: Pipeline,
    X: pd.DataFrame,
    features: Sequence[str],
    numeric: Sequence[str],
    categorical: Sequence[str],
    center: np.ndarray,
) -> np.ndarray:
    """Exact log-odds contributions of a ``pre -> LogisticRegression`` pipeline.

    Args:
        model: The fitted pipeline (one-hot + standardised columns).
        X: Feature rows.
        features: The input features, in output column order.
        numeric: Numeric features.
        categorical: Categorical features (their one-hot columns are summed).
        center: Mean of the encoded training matrix.

    Returns:
        ``(len(X), len(features))`` contributions.
    """
    pre, clf = model.named_steps["pre"], model.named_steps["clf"]
    Z = np.asarray(pre.transform(X), dtype=float)
    per_column = (Z - center) * clf.coef_[0]
    out = np.zeros((len(X), len(features)))
    owners = _column_owners(list(pre.get_feature_names_out()), numeric, categorical)
    for j, owner in enumerate(owners):
        out[:, list(features).index(owner)] += per_column[:, j]
    return out


def _column_owners(
    names: list[str], numeric: Sequence[str], categorical: Sequence[str]
) -> list[str]:
    """The input feature behind each encoded column."""
    owners = []
    cats = sorted(categorical, key=len, reverse=True)
    for n in names:
        if n in numeric:
            owners.append(n)
            continue
        owner = next((c for c in cats if n.startswith(c + "_")), None)
        if owner is None:
            raise RuntimeError(f"cannot map encoded column {n!r} to a feature")
        owners.append(owner)
    return owners


def occlusion_contributions(
    model: Pipeline, X: pd.DataFrame, features: Sequence[str], reference: Mapping[str, Any]
) -> np.ndarray:
    """Log-odds change when each feature is set to its reference value (any ``pre -> clf``).

    Rows already at the reference value contribute exactly 0 and are skipped (most count
    features are 0 for most customers).

    Args:
        model: The fitted pipeline; ``clf`` has ``decision_function``.
        X: Feature rows.
        features: The input features, in output column order.
        reference: Feature -> reference value (training median or mode).

    Returns:
        ``(len(X), len(features))`` contributions.
    """
    pre, clf = model.named_steps["pre"], model.named_steps["clf"]
    Z = np.asarray(pre.transform(X), dtype=float)
    ref_row = X.iloc[:1].copy()
    for f in features:
        ref_row[f] = reference[f]
    zref = np.asarray(pre.transform(ref_row), dtype=float)[0]
    names = list(pre.get_feature_names_out())
    base = clf.decision_function(Z)
    out = np.zeros((len(X), len(features)))
    for j, f in enumerate(features):
        col = names.index(f)
        zc = Z[:, col]
        differs = ~((zc == zref[col]) | (np.isnan(zc) & np.isnan(zref[col])))
        if not differs.any():
            continue
        Zr = Z[differs].copy()
        Zr[:, col] = zref[col]
        out[differs, j] = base[differs] - clf.decision_function(Zr)
    return out


def top_reasons(
    contributions: pd.DataFrame,
    X: pd.DataFrame,
    *,
    categorical: Sequence[str],
    reference: Mapping[str, Any],
    templates: Mapping[str, ReasonTemplate],
    top_n: int = 3,
    min_contribution: float = 0.05,
) -> list[list[Reason]]:
    """The largest contributions that raise the risk, in words, per customer.

    Args:
        contributions: Per-feature log-odds contributions (rows as ``X``).
        X: The customers' feature values.
        categorical: Categorical features (always worded with the ``high`` text).
        reference: Feature -> reference value (picks ``high`` or ``low`` for numbers).
        templates: Feature -> template.
        top_n: Maximum number of reasons per customer.
        min_contribution: Contributions below this are not reasons.

    Returns:
        A list (one per row) of lists of :class:`Reason`, largest first.
    """
    vals = contributions.to_numpy()
    feats = list(contributions.columns)
    order = np.argsort(-vals, axis=1)[:, :top_n]
    columns = [X[f].to_numpy() for f in feats]
    result: list[list[Reason]] = []
    for i in range(len(vals)):
        rs: list[Reason] = []
        for j in order[i]:
            c = float(vals[i, j])
            if c < min_contribution:
                break
            f = feats[j]
            v = columns[j][i]
            above = True if f in categorical else float(v) > float(reference[f])
            en, zh = format_reason(f, v, above, templates)
            rs.append(Reason(f, c, v, en, zh))
        result.append(rs)
    return result
