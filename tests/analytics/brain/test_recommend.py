"""Tests of the item-item recommender: exclusions, fallback, reasons, metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from sklearn.exceptions import NotFittedError

from analytics.brain.recommend import ItemItemRecommender, precision_recall_at_k, time_split

NAMES = {
    "T01": ("Longjing", "龙井"),
    "A02": ("Gaiwan Tea Set", "盖碗茶具"),
    "C01": ("Yunnan Arabica", "云南小粒咖啡"),
    "A03": ("Coffee Grinder", "磨豆机"),
    "S01": ("Monthly Tea Box", "每月茶礼盒"),
    "T02": ("Tieguanyin", "铁观音"),
    "X99": ("Retired", "停产"),
}


def interactions() -> pd.DataFrame:
    rows = []
    for c in range(20):  # tea people buy T01 + A02 (+ some T02)
        rows += [(f"t{c}", "T01"), (f"t{c}", "A02")] + ([(f"t{c}", "T02")] if c % 2 else [])
    for c in range(30):  # coffee people buy C01 + A03
        rows += [(f"c{c}", "C01"), (f"c{c}", "A03")]
    rows += [("s0", "S01"), ("s1", "S01"), ("x0", "X99")]
    rows += [("only_tea", "T01")]
    return pd.DataFrame(rows, columns=["customer_id", "sku"])


def fitted(**kw: object) -> ItemItemRecommender:
    return ItemItemRecommender(product_names=NAMES, **kw).fit(  # type: ignore[arg-type]
        interactions(), items=list(NAMES)
    )


def test_not_fitted() -> None:
    with pytest.raises(NotFittedError):
        ItemItemRecommender().recommend("a")


def test_collaborative_reason_and_no_repurchase() -> None:
    rec = fitted().recommend("only_tea", n=3)
    assert rec[0].sku == "A02"
    assert rec[0].because == "T01"
    assert rec[0].reason_en == "Customers who bought Longjing also bought Gaiwan Tea Set"
    assert rec[0].reason_zh == "买过龙井的顾客也买了盖碗茶具"
    assert all(r.sku != "T01" for r in rec)


def test_new_customer_gets_popular_items() -> None:
    rec = fitted().recommend("nobody", n=3)
    assert [r.sku for r in rec] == ["C01", "A03", "T01"]
    assert all(r.because is None and r.reason_zh == "热销推荐" for r in rec)


def test_subscriber_exclusions() -> None:
    m = fitted(subscription_contents={"S01": ["T02"]}, inactive_skus=["X99"])
    rec = m.recommend("nobody", n=10, bought=["T01"], subscribed=["S01"])
    skus = [r.sku for r in rec]
    assert "S01" not in skus  # the box they already receive
    assert "T02" not in skus  # what is inside the box
    assert "T01" not in skus  # already bought
    assert "X99" not in skus  # inactive
    assert skus[0] == "A02"
    # a non-subscriber may be offered the box
    assert "S01" in [r.sku for r in m.recommend("nobody", n=10, bought=["T01"])]


def test_batch_matches_single() -> None:
    m = fitted(inactive_skus=["X99"])
    idx = m.item_index_
    hist = sparse.csr_matrix(
        np.array(
            [[1 if s == "T01" else 0 for s in m.items_], [0] * len(m.items_)], dtype=np.float32
        )
    )
    sub = sparse.csr_matrix(
        np.array([[0] * len(m.items_), [1 if s == "C01" else 0 for s in m.items_]])
    )
    items, scores, because = m.recommend_many(hist, n=4, exclude=sub)
    single = [r.sku for r in m.recommend("x", n=4, bought=["T01"])]
    assert [str(m.items_[i]) for i in items[0] if i >= 0] == single
    assert because[0, 0] == idx["T01"]
    row1 = [str(m.items_[i]) for i in items[1] if i >= 0]
    assert "C01" not in row1 and "X99" not in row1
    assert (because[1] == -1).all() and (scores[1] == 0).all()


def test_precision_recall_at_k() -> None:
    recs = {"a": ["x", "y", "z"], "b": ["x"]}
    actual = {"a": {"y", "q"}, "b": {"z"}, "c": set()}
    r = precision_recall_at_k(recs, actual, k=2)
    assert r["n_customers"] == 2
    assert r["precision"] == pytest.approx((1 / 2 + 0) / 2)
    assert r["recall"] == pytest.approx((1 / 2 + 0) / 2)


def test_time_split() -> None:
    df = pd.DataFrame(
        {"created_at": pd.to_datetime(["2024-01-01", "2024-03-01"], utc=True), "sku": ["a", "b"]}
    )
    before, after = time_split(df, "2024-02-01")
    assert list(before["sku"]) == ["a"] and list(after["sku"]) == ["b"]
