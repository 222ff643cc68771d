"""Vectorised synthetic shop for the scale benchmark (millions of customers in seconds).

Not the demo generator (that one simulates each customer in Python and stops at 9,999
customers); this one draws whole tables with numpy, with the same catalogue, taste clusters
and a latent churn time per customer, so the features, labels and recommendations have real
structure. Returns :class:`analytics.brain.features.StoreFrames` directly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.brain.features import StoreFrames
from analytics.demo.profiles import CLUSTERS
from analytics.store.catalogue import load_catalogue

DAY = np.timedelta64(86_400, "s")


def synth_frames(
    n_customers: int, reference: pd.Timestamp, seed: int = 0, history_days: int = 730
) -> StoreFrames:
    """Draw a shop of ``n_customers`` customers ending at ``reference``."""
    rng = np.random.default_rng(seed)
    ref = np.datetime64(pd.Timestamp(reference).tz_convert("UTC").tz_localize(None), "s")
    cat = load_catalogue()
    skus = [c.sku for c in cat]
    sku_idx = {s: i for i, s in enumerate(skus)}
    products = pd.DataFrame(
        {
            "id": np.arange(1, len(cat) + 1),
            "sku": skus,
            "category": [c.category for c in cat],
            "active": True,
            "name_en": [c.name_en for c in cat],
            "name_zh": [c.name_zh for c in cat],
            "price_cents": [c.price_cents for c in cat],
        }
    )
    price = products["price_cents"].to_numpy()
    n = n_customers
    cid = np.arange(1, n + 1)
    created_days = rng.uniform(0, history_days, n)
    created = np.full(n, ref) - (created_days * 86_400).astype("timedelta64[s]")
    # latent behaviour: purchase gap (days) and lifetime (days) until churn
    gap = rng.gamma(2.0, 20.0, n) + 7
    life = rng.exponential(rng.choice([60, 240, 900], n, p=[0.35, 0.35, 0.3]))
    active_days = np.minimum(life, created_days)
    n_orders = rng.poisson(active_days / gap) + (rng.random(n) < 0.85)
    owner = np.repeat(np.arange(n), n_orders)
    m = len(owner)
    offs = rng.random(m) * active_days[owner]
    o_created = created[owner] + (offs * 86_400).astype("timedelta64[s]")
    cluster_names = list(CLUSTERS)
    cust_cluster = rng.integers(0, len(cluster_names), n)
    core = [np.array([sku_idx[s] for s in CLUSTERS[c][1] + CLUSTERS[c][2]]) for c in cluster_names]
    n_items = 1 + (rng.random(m) < 0.4)
    it_order = np.repeat(np.arange(m), n_items)
    k = len(it_order)
    cl = cust_cluster[owner][it_order]
    pick_core = rng.random(k) < 0.85
    prod = rng.integers(0, len(cat) - 2, k)  # random non-subscription product
    for c in range(len(cluster_names)):
        sel = pick_core & (cl == c)
        prod[sel] = core[c][rng.integers(0, len(core[c]), sel.sum())]
    qty = np.ones(k, dtype=np.int64)
    total = np.bincount(it_order, weights=price[prod] * qty, minlength=m).astype(np.int64)
    est = o_created + (rng.integers(2, 6, m) * 86_400).astype("timedelta64[s]")
    late = rng.random(m) < 0.08
    delivered = est + np.where(late, rng.integers(1, 5, m), -rng.integers(0, 2, m)) * DAY
    orders = pd.DataFrame(
        {
            "id": np.arange(1, m + 1),
            "customer_id": cid[owner],
            "created_at": pd.to_datetime(o_created, utc=True),
            "total_cents": total,
            "estimated_delivery": pd.to_datetime(est, utc=True),
            "delivered_at": pd.to_datetime(
                np.where(delivered <= ref, delivered, np.datetime64("NaT")), utc=True
            ),
        }
    )
    items = pd.DataFrame({"order_id": it_order + 1, "product_id": prod + 1, "quantity": qty})
    # subscriptions: 12% subscribe at their first order; cancel at churn if before ref
    subs_mask = (rng.random(n) < 0.12) & (n_orders > 0)
    s_c = np.flatnonzero(subs_mask)
    s_start = created[s_c] + (rng.random(len(s_c)) * 5 * 86_400).astype("timedelta64[s]")
    subs = pd.DataFrame(
        {
            "id": np.arange(1, len(s_c) + 1),
            "customer_id": cid[s_c],
            "plan": np.where(cust_cluster[s_c] < 4, "S01", "S02"),
            "started_at": pd.to_datetime(s_start, utc=True),
            "price_cents": 12900,
        }
    )
    s_end = created[s_c] + (life[s_c] * 86_400).astype("timedelta64[s]")
    canceled = s_end < ref
    ev_sub = np.concatenate([subs["id"].to_numpy(), subs["id"].to_numpy()[canceled]])
    ev_kind = np.array(["start"] * len(s_c) + ["cancel"] * int(canceled.sum()), dtype=object)
    ev_at = np.concatenate([s_start, s_end[canceled]])
    pz = rng.random(len(s_c)) < 0.15  # some pauses half-way
    mid = s_start[pz] + ((np.minimum(s_end[pz], ref) - s_start[pz]) / 2).astype("timedelta64[s]")
    ev_sub = np.concatenate([ev_sub, subs["id"].to_numpy()[pz]])
    ev_kind = np.concatenate([ev_kind, np.array(["pause"] * int(pz.sum()), dtype=object)])
    ev_at = np.concatenate([ev_at, mid])
    events = pd.DataFrame(
        {"subscription_id": ev_sub, "kind": ev_kind, "at": pd.to_datetime(ev_at, utc=True)}
    )
    rf = rng.random(m) < 0.03
    refunds = pd.DataFrame(
        {"customer_id": cid[owner][rf], "created_at": pd.to_datetime(est[rf] + 2 * DAY, utc=True)}
    )
    refunds = refunds[refunds["created_at"] < pd.Timestamp(ref, tz="UTC")]
    # conversations: about one in three customers, more after late orders
    n_conv = rng.poisson(
        0.3 + 0.5 * np.bincount(owner[late], minlength=n) / np.maximum(n_orders, 1), n
    )
    c_owner = np.repeat(np.arange(n), n_conv)
    span = np.maximum(created_days[c_owner], 1.0)
    c_start = created[c_owner] + (rng.random(len(c_owner)) * span * 86_400).astype("timedelta64[s]")
    convs = pd.DataFrame(
        {
            "id": np.arange(1, len(c_owner) + 1),
            "customer_id": cid[c_owner],
            "started_at": pd.to_datetime(c_start, utc=True),
            "needs_handoff": rng.random(len(c_owner)) < 0.1,
        }
    )
    intents = np.array(
        [
            "greet",
            "order_status",
            "complain",
            "refund_request",
            "cancel_subscription",
            "ask_recommendation",
            "thank",
            "nlu_fallback",
        ]
    )
    n_msg = 2 * rng.integers(1, 4, len(c_owner))
    m_conv = np.repeat(np.arange(len(c_owner)), n_msg)
    role = np.where(np.arange(len(m_conv)) % 2 == 0, "user", "bot")
    none = np.array(None, dtype=object)
    intent = np.where(role == "user", intents[rng.integers(0, len(intents), len(m_conv))], none)
    msgs = pd.DataFrame(
        {
            "conversation_id": m_conv + 1,
            "role": role,
            "intent": intent,
            "action": np.where(role == "bot", np.array("utter_x", dtype=object), none),
            "sentiment": np.where(role == "user", rng.normal(0, 0.4, len(m_conv)), np.nan),
            "created_at": pd.to_datetime(
                c_start[m_conv] + np.arange(len(m_conv)) % 8 * 30 * np.timedelta64(1, "s"), utc=True
            ),
        }
    )
    customers = pd.DataFrame(
        {
            "id": cid,
            "external_id": [f"syn_{i}" for i in cid],
            "created_at": pd.to_datetime(created, utc=True),
            "acquisition_cost_cents": rng.integers(0, 9000, n),
            "language": np.where(rng.random(n) < 0.7, "zh", "en"),
        }
    )
    return StoreFrames(
        customers=customers,
        products=products,
        orders=orders,
        order_items=items,
        subscriptions=subs,
        subscription_events=events,
        refund_requests=refunds,
        conversations=convs,
        messages=msgs,
    )
