"""Point-in-time-correct customer features from the store, for training and scoring.

One function, :func:`build_features`, turns the store tables (as DataFrames, see
:func:`load_frames`) into one row per customer *as of a cutoff time*. Only rows whose own
timestamp is before the cutoff are used, and mutable "current state" columns are never read:

* subscription state is rebuilt from ``subscription_events`` before the cutoff (not from
  ``subscriptions.status``/``paused_until``/``canceled_at``);
* refunds come from ``refund_requests.created_at`` (not from the current order status);
* a delivery counts as late when its estimated date is before the cutoff and it had not been
  delivered by then (``delivered_at`` missing or after the estimate), which was known at the
  estimated date;
* conversation features use conversations started and messages sent before the cutoff
  (``needs_handoff`` is set during the conversation itself).

The label (:func:`build_labels`) is churn in the following ``horizon`` days: no order in
``[cutoff, cutoff + horizon)`` and no active subscription at ``cutoff + horizon``.
The same :func:`build_features` is used for training (at past cutoffs) and for scoring (at
"now"), so the model sees exactly the features it was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import Engine, text

from analytics.brain.conversation_features import conversation_feature_frame
from analytics.store.models import (
    EVENT_CANCEL,
    EVENT_PAUSE,
    EVENT_RENEW,
    EVENT_RESUME,
    EVENT_SKIP,
    EVENT_START,
    SUB_ACTIVE,
    SUB_CANCELED,
    SUB_PAUSED,
)

__all__ = [
    "CHURN_FEATURES",
    "FEATURE_COLUMNS",
    "StoreFrames",
    "active_plans",
    "build_features",
    "build_labels",
    "load_frames",
    "purchases",
    "training_population",
]

DAY_S = 86_400.0

FEATURE_COLUMNS: tuple[str, ...] = (
    "recency_days",
    "frequency",
    "monetary_cents",
    "avg_order_cents",
    "tenure_days",
    "orders_90d",
    "orders_prev_90d",
    "n_categories",
    "sub_active",
    "sub_paused",
    "sub_canceled",
    "sub_pauses_180d",
    "sub_skips_180d",
    "sub_tenure_days",
    "sub_addon_orders",
    "refunds_180d",
    "late_deliveries_180d",
    "contacts_90d",
    "complaints_90d",
    "cancel_intents_90d",
    "refund_intents_90d",
    "handoffs_90d",
    "fallbacks_90d",
    "negative_sentiment_90d",
)

#: Brain feature name -> column of :func:`analytics.brain.conversation_features.conversation_feature_frame`.
CONVERSATION_COLUMNS: dict[str, str] = {
    "contacts_90d": "contacts_90d",
    "complaints_90d": "complaints_90d",
    "cancel_intents_90d": "cancel_intents_90d",
    "refund_intents_90d": "refund_intents_90d",
    "handoffs_90d": "handoffs_90d",
    "fallbacks_90d": "fallbacks_90d",
    "negative_sentiment_90d": "negative_messages_90d",
}

#: Features the churn model uses (all numeric).
CHURN_FEATURES: tuple[str, ...] = FEATURE_COLUMNS

_ACTIVE_KINDS = {EVENT_START: SUB_ACTIVE, EVENT_RESUME: SUB_ACTIVE, EVENT_RENEW: SUB_ACTIVE,
                 EVENT_SKIP: SUB_ACTIVE, EVENT_PAUSE: SUB_PAUSED,
                 EVENT_CANCEL: SUB_CANCELED}  # fmt: skip


@dataclass
class StoreFrames:
    """The store tables needed by the brain, as DataFrames with UTC datetimes."""

    customers: pd.DataFrame  # id, external_id, created_at, acquisition_cost_cents, language
    products: pd.DataFrame  # id, sku, category, active, name_en, name_zh, price_cents
    orders: (
        pd.DataFrame
    )  # id, customer_id, created_at, total_cents, estimated_delivery, delivered_at
    order_items: pd.DataFrame  # order_id, product_id, quantity
    subscriptions: pd.DataFrame  # id, customer_id, plan, started_at, price_cents
    subscription_events: pd.DataFrame  # subscription_id, kind, at
    refund_requests: pd.DataFrame  # customer_id, created_at
    conversations: pd.DataFrame  # id, customer_id, started_at, needs_handoff
    messages: pd.DataFrame  # conversation_id, role, intent, action, sentiment, created_at

    def truncate(self, cutoff: datetime | pd.Timestamp) -> StoreFrames:
        """A copy holding only rows created before ``cutoff`` (for leakage tests)."""
        cut = _ts(cutoff)
        o = self.orders[self.orders["created_at"] < cut].copy()
        o.loc[o["delivered_at"] >= cut, "delivered_at"] = pd.NaT
        return replace(
            self,
            customers=self.customers[self.customers["created_at"] < cut],
            orders=o,
            order_items=self.order_items[self.order_items["order_id"].isin(o["id"])],
            subscriptions=self.subscriptions[self.subscriptions["started_at"] < cut],
            subscription_events=self.subscription_events[self.subscription_events["at"] < cut],
            refund_requests=self.refund_requests[self.refund_requests["created_at"] < cut],
            conversations=self.conversations[self.conversations["started_at"] < cut],
            messages=self.messages[self.messages["created_at"] < cut],
        )


_QUERIES: dict[str, str] = {
    "customers": "SELECT id, external_id, created_at, acquisition_cost_cents, language "
    "FROM customers",
    "products": "SELECT id, sku, category, active, name_en, name_zh, price_cents FROM products",
    "orders": "SELECT id, customer_id, created_at, total_cents, estimated_delivery, delivered_at "
    "FROM orders",
    "order_items": "SELECT order_id, product_id, quantity FROM order_items",
    "subscriptions": "SELECT id, customer_id, plan, started_at, price_cents FROM subscriptions",
    "subscription_events": "SELECT subscription_id, kind, at FROM subscription_events",
    "refund_requests": "SELECT customer_id, created_at FROM refund_requests",
    "conversations": "SELECT id, customer_id, started_at, needs_handoff FROM conversations "
    "WHERE customer_id IS NOT NULL",
    "messages": "SELECT m.conversation_id, m.role, m.intent, m.action, m.sentiment, m.created_at "
    "FROM messages m JOIN conversations c ON c.id = m.conversation_id "
    "WHERE c.customer_id IS NOT NULL",
}
_TIME_COLS = {"created_at", "estimated_delivery", "delivered_at", "started_at", "at"}


def _ts(t: datetime | pd.Timestamp | str) -> pd.Timestamp:
    ts = pd.Timestamp(t)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def load_frames(engine: Engine) -> StoreFrames:
    """Read the tables the brain needs from the store.

    Args:
        engine: Engine of the store (SQLite or PostgreSQL).

    Returns:
        The tables with datetimes as ``datetime64[ns, UTC]``.
    """
    out: dict[str, pd.DataFrame] = {}
    with engine.connect() as conn:
        for name, sql in _QUERIES.items():
            df = pd.read_sql_query(text(sql), conn)
            for c in df.columns:
                if c in _TIME_COLS:
                    df[c] = pd.to_datetime(df[c], utc=True, format="ISO8601")
            out[name] = df
    if "needs_handoff" in out["conversations"]:
        out["conversations"]["needs_handoff"] = out["conversations"]["needs_handoff"].astype(bool)
    if "active" in out["products"]:
        out["products"]["active"] = out["products"]["active"].astype(bool)
    return StoreFrames(**out)


def _age_days(times: pd.Series, cut: pd.Timestamp) -> np.ndarray:
    return np.asarray((cut - times).dt.total_seconds().to_numpy() / DAY_S, dtype=float)


def _count(index: pd.Index, keys: pd.Series) -> pd.Series:
    return keys.value_counts().reindex(index, fill_value=0).astype(float)


def subscription_states(frames: StoreFrames, at: datetime | pd.Timestamp) -> pd.DataFrame:
    """State of every subscription started before ``at``, rebuilt from its events.

    Returns:
        DataFrame ``id, customer_id, plan, started_at, state`` (``active``/``paused``/
        ``canceled``).
    """
    cut = _ts(at)
    subs = frames.subscriptions[frames.subscriptions["started_at"] < cut][
        ["id", "customer_id", "plan", "started_at"]
    ]
    ev = frames.subscription_events
    ev = ev[(ev["at"] < cut) & ev["kind"].isin(list(_ACTIVE_KINDS))]
    last = ev.sort_values("at", kind="stable").groupby("subscription_id")["kind"].last()
    state = subs["id"].map(last).map(_ACTIVE_KINDS).fillna(SUB_ACTIVE)
    return subs.assign(state=state.to_numpy())


def active_plans(frames: StoreFrames, at: datetime | pd.Timestamp) -> dict[int, list[str]]:
    """Plan SKUs each customer receives (active or paused subscriptions) at ``at``."""
    s = subscription_states(frames, at)
    s = s[s["state"] != SUB_CANCELED]
    return {int(k): sorted(set(v)) for k, v in s.groupby("customer_id")["plan"]}


def purchases(
    frames: StoreFrames,
    before: datetime | pd.Timestamp | None = None,
    after: datetime | pd.Timestamp | None = None,
    include_subscriptions: bool = False,
) -> pd.DataFrame:
    """Purchase events ``customer_id, sku, created_at`` (one row per order line).

    Args:
        frames: Store tables.
        before: Keep orders created before this time.
        after: Keep orders created at or after this time.
        include_subscriptions: Keep subscription box lines.
    """
    o = frames.orders
    if before is not None:
        o = o[o["created_at"] < _ts(before)]
    if after is not None:
        o = o[o["created_at"] >= _ts(after)]
    it = frames.order_items.merge(
        o[["id", "customer_id", "created_at"]], left_on="order_id", right_on="id"
    )
    prods = frames.products.set_index("id")
    it = it.assign(
        sku=it["product_id"].map(prods["sku"]), category=it["product_id"].map(prods["category"])
    )
    if not include_subscriptions:
        it = it[it["category"] != "subscription"]
    return it[["customer_id", "sku", "created_at"]].reset_index(drop=True)


def build_features(frames: StoreFrames, cutoff: datetime | pd.Timestamp) -> pd.DataFrame:
    """Customer features as of ``cutoff`` (only data strictly before it).

    Args:
        frames: Store tables (:func:`load_frames`).
        cutoff: Prediction time (aware or UTC-naive).

    Returns:
        DataFrame indexed by ``customer_id`` (customers created before the cutoff) with the
        columns :data:`FEATURE_COLUMNS`.
    """
    cut = _ts(cutoff)
    cust = frames.customers[frames.customers["created_at"] < cut]
    idx = pd.Index(cust["id"].to_numpy(), name="customer_id")
    X = pd.DataFrame(index=idx)
    X["tenure_days"] = _age_days(cust["created_at"], cut)

    o = frames.orders[frames.orders["created_at"] < cut]
    o = o[o["customer_id"].isin(idx)]
    age = pd.Series(_age_days(o["created_at"], cut), index=o.index)
    g = age.groupby(o["customer_id"])
    freq = g.size().reindex(idx, fill_value=0).astype(float)
    X["frequency"] = freq
    X["recency_days"] = g.min().reindex(idx).fillna(X["tenure_days"]).to_numpy()
    X["monetary_cents"] = (
        o.groupby("customer_id")["total_cents"].sum().reindex(idx, fill_value=0).astype(float)
    )
    X["avg_order_cents"] = np.where(freq > 0, X["monetary_cents"] / freq.clip(lower=1), 0.0)
    X["orders_90d"] = _count(idx, o.loc[age < 90, "customer_id"])
    X["orders_prev_90d"] = _count(idx, o.loc[(age >= 90) & (age < 180), "customer_id"])

    items = frames.order_items[frames.order_items["order_id"].isin(o["id"])]
    cat = items["product_id"].map(frames.products.set_index("id")["category"])
    order_cust = o.set_index("id")["customer_id"]
    it = pd.DataFrame(
        {
            "customer_id": items["order_id"].map(order_cust).to_numpy(),
            "order_id": items["order_id"].to_numpy(),
            "category": cat.to_numpy(),
        }
    )
    X["n_categories"] = (
        it[it["category"] != "subscription"]
        .groupby("customer_id")["category"]
        .nunique()
        .reindex(idx, fill_value=0)
        .astype(float)
    )
    box_orders = set(it.loc[it["category"] == "subscription", "order_id"])
    oneoff_recent = o[(age < 180) & ~o["id"].isin(box_orders)]

    st = subscription_states(frames, cut)
    st = st[st["customer_id"].isin(idx)]
    X["sub_active"] = _count(idx, st.loc[st["state"] == SUB_ACTIVE, "customer_id"]).clip(upper=1)
    X["sub_paused"] = _count(idx, st.loc[st["state"] == SUB_PAUSED, "customer_id"]).clip(
        upper=1
    ) * (1 - X["sub_active"])
    X["sub_canceled"] = _count(idx, st.loc[st["state"] == SUB_CANCELED, "customer_id"]).clip(
        upper=1
    )
    live = st[st["state"] != SUB_CANCELED]
    X["sub_tenure_days"] = (
        pd.Series(_age_days(live["started_at"], cut), index=live.index)
        .groupby(live["customer_id"])
        .max()
        .reindex(idx, fill_value=0.0)
    )
    ev = frames.subscription_events
    ev = ev[(ev["at"] < cut) & (ev["at"] >= cut - pd.Timedelta(days=180))]
    ev_cust = ev["subscription_id"].map(frames.subscriptions.set_index("id")["customer_id"])
    X["sub_pauses_180d"] = _count(idx, ev_cust[ev["kind"] == EVENT_PAUSE])
    X["sub_skips_180d"] = _count(idx, ev_cust[ev["kind"] == EVENT_SKIP])
    X["sub_addon_orders"] = _count(idx, oneoff_recent["customer_id"]) * (
        (X["sub_active"] + X["sub_paused"]) > 0
    )

    rr = frames.refund_requests
    rr = rr[(rr["created_at"] < cut) & (rr["created_at"] >= cut - pd.Timedelta(days=180))]
    X["refunds_180d"] = _count(idx, rr["customer_id"])
    est, dlv = o["estimated_delivery"], o["delivered_at"]
    late = (
        est.notna()
        & (est < cut)
        & (est >= cut - pd.Timedelta(days=180))
        & (dlv.isna() | (dlv > est))
    )
    X["late_deliveries_180d"] = _count(idx, o.loc[late, "customer_id"])

    # Conversation features come from the conversation loop (analytics.brain.conversation_features,
    # same point-in-time rules); it also offers 30-day windows, unresolved contacts, ratings.
    conv = conversation_feature_frame(
        frames.conversations, frames.messages, cut, idx, windows=(90,)
    )
    for col in CONVERSATION_COLUMNS:
        X[col] = conv[CONVERSATION_COLUMNS[col]].to_numpy()
    return X[list(FEATURE_COLUMNS)].astype(float)


def build_labels(
    frames: StoreFrames, cutoff: datetime | pd.Timestamp, index: pd.Index, horizon_days: int = 90
) -> pd.Series:
    """Churn label: no order in ``[cutoff, cutoff + horizon)`` and no active subscription then.

    Args:
        frames: Store tables.
        cutoff: Prediction time.
        index: Customers to label.
        horizon_days: Label window.

    Returns:
        0/1 Series over ``index``.
    """
    cut = _ts(cutoff)
    end = cut + pd.Timedelta(days=horizon_days)
    o = frames.orders
    bought = set(o.loc[(o["created_at"] >= cut) & (o["created_at"] < end), "customer_id"])
    st = subscription_states(frames, end)
    subscribed = set(st.loc[st["state"] == SUB_ACTIVE, "customer_id"])
    alive = pd.Index(index).isin(list(bought | subscribed))
    return pd.Series((~alive).astype(int), index=index, name="churned")


def training_population(X: pd.DataFrame, max_recency_days: float = 365.0) -> np.ndarray:
    """Customers whose churn is still a question: bought before, and not long gone.

    Customers with at least one order and either an order in the last ``max_recency_days``
    or a live (active or paused) subscription.
    """
    return np.asarray(
        (X["frequency"] > 0)
        & ((X["recency_days"] <= max_recency_days) | (X["sub_active"] > 0) | (X["sub_paused"] > 0))
    )


def frames_fields() -> list[str]:
    """Names of the tables in :class:`StoreFrames`."""
    return [f.name for f in fields(StoreFrames)]


def frames_from_tables(tables: dict[str, list[dict[str, object]]]) -> StoreFrames:
    """Build :class:`StoreFrames` from in-memory rows (e.g. ``generator.ShopData.tables``)."""
    cols = {
        "customers": ["id", "external_id", "created_at", "acquisition_cost_cents", "language"],
        "products": ["id", "sku", "category", "active", "name_en", "name_zh", "price_cents"],
        "orders": [
            "id",
            "customer_id",
            "created_at",
            "total_cents",
            "estimated_delivery",
            "delivered_at",
        ],
        "order_items": ["order_id", "product_id", "quantity"],
        "subscriptions": ["id", "customer_id", "plan", "started_at", "price_cents"],
        "subscription_events": ["subscription_id", "kind", "at"],
        "refund_requests": ["customer_id", "created_at"],
        "conversations": ["id", "customer_id", "started_at", "needs_handoff"],
        "messages": ["conversation_id", "role", "intent", "action", "sentiment", "created_at"],
    }
    out: dict[str, pd.DataFrame] = {}
    for name, cs in cols.items():
        df = pd.DataFrame(tables.get(name, []), columns=cs)
        for c in cs:
            if c in _TIME_COLS:
                df[c] = pd.to_datetime(df[c], utc=True)
        out[name] = df
    out["conversations"] = out["conversations"][out["conversations"]["customer_id"].notna()]
    out["conversations"]["needs_handoff"] = out["conversations"]["needs_handoff"].astype(bool)
    out["messages"] = out["messages"][
        out["messages"]["conversation_id"].isin(out["conversations"]["id"])
    ]
    return StoreFrames(**out)
