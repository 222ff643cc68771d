"""Scores for the NLU benchmark."""

from __future__ import annotations

import numpy as np


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0 for an empty list)."""
    return float(np.percentile(values, q)) if values else 0.0


def classification_scores(gold: list[str], predicted: list[str]) -> dict[str, float]:
    """Accuracy and macro-F1 (over the gold labels).

    Args:
        gold: True labels.
        predicted: Predicted labels.

    Returns:
        ``{"accuracy": ..., "macro_f1": ...}``
    """
    from sklearn.metrics import accuracy_score, f1_score

    labels = sorted(set(gold))
    return {
        "accuracy": float(accuracy_score(gold, predicted)),
        "macro_f1": float(
            f1_score(gold, predicted, labels=labels, average="macro", zero_division=0)
        ),
    }


def oos_predictions(
    labels: list[str], confidences: list[float], threshold: float, oos_label: str
) -> list[str]:
    """Labels with low-confidence predictions replaced by the out-of-scope label."""
    return [oos_label if c < threshold else p for p, c in zip(labels, confidences, strict=True)]


def oos_scores(gold: list[str], predicted: list[str], oos_label: str) -> dict[str, float]:
    """In-scope accuracy and out-of-scope recall (Larson et al. 2019).

    Args:
        gold: True labels (out-of-scope ones are ``oos_label``).
        predicted: Predicted labels.
        oos_label: The out-of-scope label.

    Returns:
        ``{"in_scope_accuracy": ..., "oos_recall": ...}``
    """
    in_scope = [(g, p) for g, p in zip(gold, predicted, strict=True) if g != oos_label]
    oos = [p for g, p in zip(gold, predicted, strict=True) if g == oos_label]
    return {
        "in_scope_accuracy": float(np.mean([g == p for g, p in in_scope])) if in_scope else 0.0,
        "oos_recall": float(np.mean([p == oos_label for p in oos])) if oos else 0.0,
    }


def choose_threshold(
    gold: list[str],
    labels: list[str],
    confidences: list[float],
    oos_label: str,
    max_in_scope_drop: float = 0.01,
) -> float:
    """Chooses an out-of-scope confidence threshold on validation data.

    The highest threshold whose in-scope accuracy stays within ``max_in_scope_drop`` of
    the in-scope accuracy without a threshold (the trained ``oos`` class alone): trade
    at most one point of in-scope accuracy for out-of-scope recall. The same rule is
    applied to every pipeline.

    Args:
        gold: True validation labels.
        labels: Raw predicted labels.
        confidences: Raw confidences (any monotone score).
        oos_label: The out-of-scope label.
        max_in_scope_drop: Allowed loss of in-scope accuracy.

    Returns:
        The threshold (``-inf``: rely on the trained out-of-scope class only).
    """
    base = oos_scores(gold, labels, oos_label)["in_scope_accuracy"]
    candidates = sorted(set(np.quantile(confidences, np.linspace(0, 0.6, 241)).tolist()))
    best = -np.inf
    for threshold in candidates:
        scores = oos_scores(
            gold, oos_predictions(labels, confidences, threshold, oos_label), oos_label
        )
        if scores["in_scope_accuracy"] >= base - max_in_scope_drop - 1e-12:
            best = float(threshold)
    return best
