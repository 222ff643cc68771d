"""RFM segmentation with K-means and stable bilingual segment names.

Recency (days since the last order), frequency (number of orders) and monetary value (total
spend) are log-transformed (``log1p``) and standardised; K-means is run for every k in
``k_range`` and the k with the highest silhouette score is kept (silhouette is computed on a
fixed random sample of at most ``silhouette_sample`` rows so that it stays cheap at scale).

Cluster *numbers* are arbitrary and change between refits; the segment *names* do not, because
each cluster is named by rules on its centroid (in standardised units, i.e. relative to the
population of buyers):

* recent (``r < 0``) and valuable (``f + m > 0``): the most valuable such cluster is
  ``champions``, the others ``loyal``;
* recent and not valuable: ``new`` if its typical customer has about one order, else
  ``potential``;
* not recent and valuable: ``at_risk``;
* not recent and not valuable: ``lost`` if it is the longest-lapsed cluster and more than one
  standard deviation behind, else ``hibernating``.

Customers with no orders are not clustered; they are ``new``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.utils.validation import check_is_fitted

from analytics.core.vocabulary import (
    SEGMENT_AT_RISK,
    SEGMENT_CHAMPIONS,
    SEGMENT_HIBERNATING,
    SEGMENT_LOST,
    SEGMENT_LOYAL,
    SEGMENT_NEW,
    SEGMENT_POTENTIAL,
)

__all__ = ["RFM_COLUMNS", "RFMSegmenter", "rfm_frame"]

RFM_COLUMNS = ("recency_days", "frequency", "monetary")
NEW_MARGIN_Z = 0.25
"""A recent, low-value cluster is ``new`` if its frequency is within this many standard
deviations of one order."""
LOST_RECENCY_Z = 1.0
"""The longest-lapsed cluster is ``lost`` if it is more than this many standard deviations
behind in recency."""
CENTS_PER_YUAN = 100.0


def rfm_frame(X: pd.DataFrame) -> pd.DataFrame:
    """The segmenter's input from brain features (:mod:`analytics.brain.features`).

    Args:
        X: Features with ``recency_days``, ``frequency`` and ``monetary_cents``.

    Returns:
        ``recency_days``, ``frequency`` and ``monetary`` (yuan), same index.
    """
    return pd.DataFrame(
        {
            "recency_days": X["recency_days"],
            "frequency": X["frequency"],
            "monetary": X["monetary_cents"] / CENTS_PER_YUAN,
        }
    )


class RFMSegmenter(BaseEstimator):
    """K-means on log/standardised RFM with silhouette-chosen k and rule-based names.

    Args:
        k_range: Inclusive ``(min_k, max_k)`` searched.
        n_init: K-means restarts per k.
        silhouette_sample: Maximum rows used to compute the silhouette score.
        max_fit_rows: If more buyers than this, K-means is fit on a random sample of this size
            (centroids are then used to assign everybody).
        random_state: Seed.

    Attributes:
        k_: Chosen number of clusters.
        silhouette_: ``{k: silhouette score}`` for every k tried.
        mean_, scale_: Standardisation of the log-RFM values.
        kmeans_: The fitted :class:`~sklearn.cluster.KMeans`.
        cluster_names_: Cluster index -> segment key.
        centroids_: DataFrame of centroids in original units with their segment key.
    """

    def __init__(
        self,
        k_range: tuple[int, int] = (3, 8),
        n_init: int = 10,
        silhouette_sample: int = 5000,
        max_fit_rows: int = 200_000,
        random_state: int = 0,
    ) -> None:
        self.k_range = k_range
        self.n_init = n_init
        self.silhouette_sample = silhouette_sample
        self.max_fit_rows = max_fit_rows
        self.random_state = random_state

    @staticmethod
    def _rfm(X: pd.DataFrame) -> np.ndarray:
        missing = [c for c in RFM_COLUMNS if c not in X.columns]
        if missing:
            raise ValueError(f"missing RFM columns: {missing}")
        values = np.clip(X[list(RFM_COLUMNS)].to_numpy(dtype=float), 0, None)
        return np.asarray(np.log1p(values), dtype=float)

    def fit(self, X: pd.DataFrame, y: object = None) -> RFMSegmenter:
        """Choose k, fit K-means on the buyers and name the clusters.

        Args:
            X: DataFrame with ``recency_days``, ``frequency`` (orders) and ``monetary``.
            y: Ignored.

        Returns:
            self
        """
        buyers = X["frequency"].to_numpy(dtype=float) > 0
        Z = self._rfm(X.loc[buyers])
        if len(Z) < self.k_range[0] + 1:
            raise ValueError("not enough customers with orders to segment")
        rng = np.random.default_rng(self.random_state)
        if len(Z) > self.max_fit_rows:
            Z = Z[rng.choice(len(Z), self.max_fit_rows, replace=False)]
        self.mean_ = Z.mean(axis=0)
        self.scale_ = np.where(Z.std(axis=0) > 0, Z.std(axis=0), 1.0)
        Zs = (Z - self.mean_) / self.scale_
        sample = (
            rng.choice(len(Zs), self.silhouette_sample, replace=False)
            if len(Zs) > self.silhouette_sample
            else np.arange(len(Zs))
        )
        self.silhouette_ = {}
        best: KMeans | None = None
        lo, hi = self.k_range
        for k in range(lo, min(hi, len(Zs) - 1) + 1):
            km = KMeans(n_clusters=k, n_init=self.n_init, random_state=self.random_state).fit(Zs)
            labels = km.labels_[sample]
            if len(np.unique(labels)) < 2:
                continue
            s = float(silhouette_score(Zs[sample], labels))
            self.silhouette_[k] = s
            if best is None or s > self.silhouette_[best.n_clusters]:
                best = km
        if best is None:
            raise ValueError("K-means found no separable clusters")
        self.kmeans_ = best
        self.k_ = int(best.n_clusters)
        self.cluster_names_ = self._name_clusters(best.cluster_centers_)
        cent = np.expm1(best.cluster_centers_ * self.scale_ + self.mean_)
        self.centroids_ = pd.DataFrame(cent, columns=list(RFM_COLUMNS))
        self.centroids_["segment"] = [self.cluster_names_[i] for i in range(self.k_)]
        self.centroids_["size"] = np.bincount(best.labels_, minlength=self.k_)
        return self

    def _name_clusters(self, C: np.ndarray) -> dict[int, str]:
        r, f, m = C[:, 0], C[:, 1], C[:, 2]
        value = f + m
        names: dict[int, str] = {}
        recent = r < 0
        valuable = value > 0
        one_order_z = (np.log1p(1.0) - self.mean_[1]) / self.scale_[1]
        rv = [i for i in range(len(C)) if recent[i] and valuable[i]]
        top = max(rv, key=lambda i: value[i]) if rv else None
        lapsed = [i for i in range(len(C)) if not recent[i] and not valuable[i]]
        oldest = max(lapsed, key=lambda i: r[i]) if lapsed else None
        for i in range(len(C)):
            if recent[i] and valuable[i]:
                names[i] = SEGMENT_CHAMPIONS if i == top else SEGMENT_LOYAL
            elif recent[i]:
                names[i] = SEGMENT_NEW if f[i] <= one_order_z + NEW_MARGIN_Z else SEGMENT_POTENTIAL
            elif valuable[i]:
                names[i] = SEGMENT_AT_RISK
            else:
                lost = i == oldest and len(lapsed) > 1 and r[i] > LOST_RECENCY_Z
                names[i] = SEGMENT_LOST if lost else SEGMENT_HIBERNATING
        return names

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Segment key per customer (``"new"`` for customers without orders).

        Args:
            X: DataFrame with the RFM columns.

        Returns:
            Array of segment keys (str).
        """
        check_is_fitted(self, "kmeans_")
        out = np.full(len(X), SEGMENT_NEW, dtype=object)
        buyers = X["frequency"].to_numpy(dtype=float) > 0
        if buyers.any():
            Zs = (self._rfm(X.loc[buyers]) - self.mean_) / self.scale_
            # nearest centroid, computed directly (cheap, no sklearn validation overhead)
            C = self.kmeans_.cluster_centers_
            d = ((Zs[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)
            lab = d.argmin(axis=1)
            lookup = np.array([self.cluster_names_[i] for i in range(self.k_)], dtype=object)
            out[buyers] = lookup[lab]
        return out

    def fit_predict(self, X: pd.DataFrame, y: object = None) -> np.ndarray:
        """Fit, then return :meth:`predict` on the same rows."""
        return self.fit(X).predict(X)

    def segment_sizes(self, X: pd.DataFrame, keys: Sequence[str] | None = None) -> pd.Series:
        """Number of customers per segment key (sorted by size)."""
        labels = self.predict(X) if keys is None else np.asarray(keys)
        return pd.Series(labels).value_counts()
