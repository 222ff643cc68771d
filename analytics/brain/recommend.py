"""Item-item collaborative filtering on implicit feedback, with a popularity fallback.

The customer x product matrix holds 1 where the customer bought the product (implicit,
binary). Item-item similarity is the cosine of the product columns (optionally shrunk towards
0 for items with few common buyers). A customer's score for a candidate item is the sum of its
similarities to the items the customer bought; the item that contributes most is the reason:
"Customers who bought X also bought Y / 买过X的顾客也买了Y".

Excluded from a customer's list: everything they already bought, everything a subscriber
already receives (the plan SKU itself and, if given, the box contents), inactive items.
Customers without purchases, or whose collaborative list is shorter than ``n``, are filled
with the most popular remaining items ("Popular with our customers / 热销推荐").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from analytics.core.vocabulary import LANG_EN, LANG_ZH

__all__ = [
    "ItemItemRecommender",
    "Recommendation",
    "precision_recall_at_k",
    "time_split",
]


@dataclass(frozen=True)
class Recommendation:
    """One recommended product with its reason."""

    sku: str
    score: float
    because: str | None  # the bought SKU behind a collaborative recommendation
    reason_en: str
    reason_zh: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "sku": self.sku,
            "because": self.because,
            "score": round(float(self.score), 4),
            LANG_EN: self.reason_en,
            LANG_ZH: self.reason_zh,
        }


class ItemItemRecommender(BaseEstimator):
    """Cosine item-item recommender for implicit feedback.

    Args:
        shrinkage: Similarity shrinkage ``co / (co + shrinkage)`` on the number of common
            buyers (0 = plain cosine).
        min_similarity: Similarities below this are ignored.
        product_names: SKU -> ``(name_en, name_zh)`` used in reason texts.
        subscription_contents: Plan SKU -> SKUs a subscriber of that plan receives (the plan
            SKU itself is always excluded for its subscribers).
        inactive_skus: SKUs never recommended.

    Attributes:
        items_: SKU array (column order).
        item_index_: SKU -> column.
        customers_: Customer id array (row order of the training matrix).
        similarity_: Dense item x item similarity (zero diagonal).
        popularity_: Number of distinct buyers per item.
        popular_order_: Item columns sorted by popularity (desc).
    """

    def __init__(
        self,
        shrinkage: float = 0.0,
        min_similarity: float = 0.0,
        product_names: Mapping[str, tuple[str, str]] | None = None,
        subscription_contents: Mapping[str, Sequence[str]] | None = None,
        inactive_skus: Sequence[str] = (),
    ) -> None:
        self.shrinkage = shrinkage
        self.min_similarity = min_similarity
        self.product_names = product_names
        self.subscription_contents = subscription_contents
        self.inactive_skus = inactive_skus

    def fit(
        self, interactions: pd.DataFrame, items: Sequence[str] | None = None
    ) -> ItemItemRecommender:
        """Fit on purchase events.

        Args:
            interactions: DataFrame with ``customer_id`` and ``sku`` (one row per purchase;
                repeats are collapsed to 1).
            items: Full catalogue SKUs (so that never-bought items are known); defaults to the
                SKUs seen.

        Returns:
            self
        """
        seen = pd.unique(interactions["sku"].astype(str))
        all_items = list(dict.fromkeys(list(items or []) + list(seen)))
        self.items_ = np.asarray(all_items, dtype=object)
        self.item_index_ = {s: i for i, s in enumerate(all_items)}
        cust_codes, cust_uniques = pd.factorize(interactions["customer_id"])
        item_codes = interactions["sku"].astype(str).map(self.item_index_).to_numpy()
        X = sparse.csr_matrix(
            (np.ones(len(cust_codes), dtype=np.float32), (cust_codes, item_codes)),
            shape=(len(cust_uniques), len(all_items)),
        )
        X.data[:] = 1.0  # duplicates were summed; binarise
        X.sum_duplicates()
        X.data[:] = 1.0
        self.customers_ = np.asarray(cust_uniques)
        co = np.asarray((X.T @ X).toarray(), dtype=np.float64)
        counts = np.diag(co).copy()
        norms = np.sqrt(np.outer(counts, counts))
        with np.errstate(divide="ignore", invalid="ignore"):
            sim = np.where(norms > 0, co / norms, 0.0)
        if self.shrinkage > 0:
            sim = sim * co / (co + self.shrinkage)
        np.fill_diagonal(sim, 0.0)
        sim[sim < self.min_similarity] = 0.0
        self.similarity_ = sim
        self.popularity_ = counts
        self.popular_order_ = np.argsort(-counts, kind="stable")
        self._histories = X  # kept for recommend() on training customers
        self._customer_row = {c: i for i, c in enumerate(self.customers_)}
        return self

    def _name(self, sku: str, lang: int) -> str:
        names = self.product_names or {}
        return names[sku][lang] if sku in names else sku

    def _excluded(self, bought: Iterable[str], subscribed: Iterable[str]) -> set[int]:
        ex = {self.item_index_[s] for s in bought if s in self.item_index_}
        contents = self.subscription_contents or {}
        for plan in subscribed:
            for s in [plan, *contents.get(plan, [])]:
                if s in self.item_index_:
                    ex.add(self.item_index_[s])
        ex |= {self.item_index_[s] for s in self.inactive_skus if s in self.item_index_}
        return ex

    def score_matrix(self, histories: sparse.csr_matrix) -> np.ndarray:
        """Collaborative scores for a customer x item history matrix (same item order)."""
        check_is_fitted(self, "similarity_")
        return np.asarray(histories @ self.similarity_.astype(np.float32), dtype=np.float32)

    def recommend(
        self,
        customer_id: Any,
        n: int = 10,
        bought: Iterable[str] | None = None,
        subscribed: Iterable[str] = (),
    ) -> list[Recommendation]:
        """Top-``n`` products for one customer, each with a reason.

        Args:
            customer_id: Customer id; its training history is used when ``bought`` is None.
            n: Number of recommendations.
            bought: SKUs the customer bought (overrides the training history).
            subscribed: Plan SKUs of the customer's active subscriptions.

        Returns:
            Up to ``n`` :class:`Recommendation`, collaborative ones first, then popular ones.
        """
        check_is_fitted(self, "similarity_")
        if bought is None:
            row = self._customer_row.get(customer_id)
            bought_idx = (
                self._histories.indices[
                    self._histories.indptr[row] : self._histories.indptr[row + 1]
                ]
                if row is not None
                else np.array([], dtype=int)
            )
            bought_skus = [str(self.items_[i]) for i in bought_idx]
        else:
            bought_skus = [s for s in bought if s in self.item_index_]
            bought_idx = np.array([self.item_index_[s] for s in bought_skus], dtype=int)
        ex = self._excluded(bought_skus, subscribed)
        recs: list[Recommendation] = []
        if len(bought_idx):
            S = self.similarity_[bought_idx]  # bought x items
            scores = S.sum(axis=0)
            order = np.argsort(-scores, kind="stable")
            for j in order:
                if len(recs) >= n or scores[j] <= 0:
                    break
                if j in ex:
                    continue
                src = str(self.items_[bought_idx[int(np.argmax(S[:, j]))]])
                sku = str(self.items_[j])
                recs.append(
                    Recommendation(
                        sku,
                        float(scores[j]),
                        src,
                        f"Customers who bought {self._name(src, 0)} also bought {self._name(sku, 0)}",
                        f"买过{self._name(src, 1)}的顾客也买了{self._name(sku, 1)}",
                    )
                )
        taken = {self.item_index_[r.sku] for r in recs}
        for j in self.popular_order_:
            if len(recs) >= n:
                break
            if j in ex or j in taken or self.popularity_[j] <= 0:
                continue
            recs.append(
                Recommendation(
                    str(self.items_[j]), 0.0, None, "Popular with our customers", "热销推荐"
                )
            )
        return recs

    def recommend_many(
        self,
        histories: sparse.csr_matrix,
        n: int = 10,
        exclude: sparse.csr_matrix | None = None,
        chunk: int = 100_000,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Vectorised top-``n`` for many customers (for batch scoring).

        Args:
            histories: Customer x item binary matrix (item order = ``items_``).
            n: List length.
            exclude: Extra customer x item matrix of excluded items (e.g. subscriptions);
                bought items and inactive items are always excluded.
            chunk: Rows per block (bounds memory).

        Returns:
            ``(items, scores, because)``: int arrays of shape ``(n_customers, n)`` with item
            columns (``-1`` when fewer than ``n`` items remain), float scores (0 for
            popularity fill), and the column of the bought item behind each collaborative
            recommendation (``-1`` for popularity fill).
        """
        check_is_fitted(self, "similarity_")
        m = histories.shape[0]
        k = len(self.items_)
        n_eff = min(n, k)
        out_items = np.full((m, n), -1, dtype=np.int32)
        out_scores = np.zeros((m, n), dtype=np.float32)
        out_because = np.full((m, n), -1, dtype=np.int32)
        sim = self.similarity_.astype(np.float32)
        # popularity prior as a tiny tie-breaking score below any collaborative score
        # (by popularity rank, so ties break exactly as in ``recommend``)
        pop = np.zeros(k, dtype=np.float32)
        pop[self.popular_order_] = (np.arange(k, 0, -1) / k * 1e-6).astype(np.float32)
        inactive = np.array(
            [self.item_index_[s] for s in self.inactive_skus if s in self.item_index_], dtype=int
        )
        for lo in range(0, m, chunk):
            H = histories[lo : lo + chunk]
            S = np.asarray(H @ sim, dtype=np.float32) + pop
            S[:, self.popularity_ <= 0] = -np.inf
            Hd = H.toarray() > 0
            S[Hd] = -np.inf
            if exclude is not None:
                S[exclude[lo : lo + chunk].toarray() > 0] = -np.inf
            if len(inactive):
                S[:, inactive] = -np.inf
            top = np.argpartition(-S, n_eff - 1, axis=1)[:, :n_eff]
            ts = np.take_along_axis(S, top, axis=1)
            o = np.argsort(-ts, axis=1, kind="stable")
            top = np.take_along_axis(top, o, axis=1)
            ts = np.take_along_axis(ts, o, axis=1)
            valid = np.isfinite(ts)
            collab = ts > 1e-6 + 1e-9
            # because: argmax over bought items of sim[bought, item]
            bec = np.full(top.shape, -1, dtype=np.int32)
            if collab.any():
                rows, cols = np.nonzero(collab)
                items = top[rows, cols]
                Hrows = Hd[rows]  # (nnz, k) boolean
                contrib = np.where(Hrows, sim[:, items].T, -1.0)
                bec[rows, cols] = contrib.argmax(axis=1)
            out_items[lo : lo + chunk, :n_eff] = np.where(valid, top, -1)
            out_scores[lo : lo + chunk, :n_eff] = np.where(collab, ts, 0.0)
            out_because[lo : lo + chunk, :n_eff] = bec
        return out_items, out_scores, out_because


def time_split(
    interactions: pd.DataFrame, cutoff: pd.Timestamp | str, date_col: str = "created_at"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split purchase events into before/after ``cutoff`` (a time-based holdout)."""
    c = pd.Timestamp(cutoff)
    d = pd.to_datetime(interactions[date_col])
    if d.dt.tz is not None and c.tzinfo is None:
        c = c.tz_localize(d.dt.tz)
    return interactions[d < c], interactions[d >= c]


def precision_recall_at_k(
    recommended: Mapping[Any, Sequence[str]], actual: Mapping[Any, Iterable[str]], k: int = 10
) -> dict[str, float]:
    """Mean precision@k and recall@k over customers with at least one actual item.

    Precision@k divides the hits by k (the standard definition, even when fewer than k items
    were recommended).

    Args:
        recommended: Customer -> ranked SKUs.
        actual: Customer -> SKUs bought in the holdout (new items only, usually).
        k: Cut-off.

    Returns:
        ``{"precision": ..., "recall": ..., "n_customers": ...}``.
    """
    ps, rs = [], []
    for cust, items in actual.items():
        truth = set(items)
        if not truth:
            continue
        recs = list(recommended.get(cust, []))[:k]
        hits = len(truth.intersection(recs))
        ps.append(hits / k)
        rs.append(hits / len(truth))
    if not ps:
        return {"precision": 0.0, "recall": 0.0, "n_customers": 0}
    return {"precision": float(np.mean(ps)), "recall": float(np.mean(rs)), "n_customers": len(ps)}
