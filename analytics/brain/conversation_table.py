"""The one computation of the conversation features (see :mod:`analytics.brain.conversation_features`).

:func:`feature_matrix` takes conversations and messages as arrays (:class:`ConversationTable`)
and a cutoff *per customer*, and computes every feature for every customer at once with numpy:
the brain calls it for all customers at one cutoff, live risk for a few customers at the time of
their last message. Each feature's rule is written once, here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from analytics.core.vocabulary import NEGATIVE_SENTIMENT

__all__ = [
    "COUNTED_INTENTS",
    "LOW_RATING",
    "NEGATIVE_INTENTS",
    "REPEAT_CONTACT_HOURS",
    "WINDOWS",
    "ConversationTable",
    "feature_matrix",
    "feature_names",
    "datetime_ns",
    "time_ns",
]

WINDOWS: tuple[int, ...] = (30, 90)
REPEAT_CONTACT_HOURS = 72.0
LOW_RATING = 2
ROLE_USER = "user"
INTENT_FALLBACK = "nlu_fallback"
INTENT_ORDER_STATUS = "order_status"
FALLBACK_ACTION_MARK = "fallback"
ORDER_STATUS_DAYS = 7
NEGATIVE_INTENTS = frozenset(
    {
        "complain",
        "refund_request",
        "cancel_subscription",
        "report_problem",
        "human_handoff",
        INTENT_FALLBACK,
    }
)
"""A conversation whose last user intent is one of these ended unresolved."""
COUNTED_INTENTS: dict[str, tuple[str, ...]] = {
    "complaints": ("complain",),
    "problems": ("report_problem",),
    "refund_intents": ("refund_request",),
    "cancel_intents": ("cancel_subscription",),
    "pause_intents": ("pause_subscription",),
    "praise": ("praise", "thank"),
}
"""Feature stem -> the user intents it counts."""
_PER_WINDOW = (
    "contacts",
    "unresolved",
    *COUNTED_INTENTS,
    "negative_messages",
    "negative_share",
    "fallbacks",
    "handoffs",
    "resolution_hours",
    "rating_mean",
    "low_ratings",
)
_NS_PER_HOUR = 3_600 * 10**9
_NS_PER_DAY = 24 * _NS_PER_HOUR
_NAT = np.iinfo(np.int64).min
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def feature_names(windows: Sequence[int] = WINDOWS) -> list[str]:
    """Names of the feature columns.

    Args:
        windows: Window lengths in days.

    Returns:
        Column names, window by window, then ``order_status_7d``.
    """
    return [f"{name}_{w}d" for w in windows for name in _PER_WINDOW] + ["order_status_7d"]


def time_ns(values: pd.Series) -> np.ndarray:
    """Times of a column as int64 nanoseconds since the epoch, UTC (naive values count as UTC).

    Args:
        values: A Series of datetimes, Timestamps or ISO-8601 strings.

    Returns:
        An int64 array (missing times are the minimum int64).
    """
    times = pd.to_datetime(values, utc=True, format="ISO8601")
    return np.asarray(pd.DatetimeIndex(times).as_unit("ns").asi8, dtype=np.int64)


def datetime_ns(value: datetime) -> int:
    """One datetime as nanoseconds since the epoch, UTC (a naive value counts as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // _MICROSECOND * 1000


@dataclass(frozen=True)
class ConversationTable:
    """Conversations and their messages as parallel arrays.

    Attributes:
        conv_id, conv_customer: Conversation id and customer id (int64).
        started: Conversation start (int64 ns, UTC).
        handoff: ``needs_handoff`` (bool).
        rating: Satisfaction rating, NaN when none (float64).
        msg_conv: Conversation id of each message (int64).
        msg_user: Whether the customer wrote it (bool).
        msg_intent, msg_action: Intent and action (object, ``None``/NaN when missing).
        msg_sentiment: Sentiment score, NaN when not scored (float64).
        msg_at: Message time (int64 ns, UTC).
    """

    conv_id: np.ndarray
    conv_customer: np.ndarray
    started: np.ndarray
    handoff: np.ndarray
    rating: np.ndarray
    msg_conv: np.ndarray
    msg_user: np.ndarray
    msg_intent: np.ndarray
    msg_action: np.ndarray
    msg_sentiment: np.ndarray
    msg_at: np.ndarray

    @classmethod
    def from_frames(cls, conversations: pd.DataFrame, messages: pd.DataFrame) -> ConversationTable:
        """From DataFrames (columns of :func:`conversation_feature_frame`).

        Args:
            conversations: ``id``, ``customer_id``, ``started_at``, ``needs_handoff`` and
                optionally ``rating``.
            messages: ``conversation_id``, ``role``, ``intent``, ``action``, ``sentiment``,
                ``created_at``.

        Returns:
            The table (conversations without a customer are left out).
        """
        conv = conversations[conversations["customer_id"].notna()]
        rating = conv["rating"] if "rating" in conv else pd.Series(np.nan, index=conv.index)
        return cls(
            conv_id=conv["id"].to_numpy(dtype=np.int64),
            conv_customer=conv["customer_id"].astype(int).to_numpy(dtype=np.int64),
            started=time_ns(conv["started_at"]),
            handoff=conv["needs_handoff"].astype(bool).to_numpy(dtype=bool),
            rating=pd.to_numeric(rating, errors="coerce").to_numpy(dtype=float),
            msg_conv=messages["conversation_id"].to_numpy(dtype=np.int64),
            msg_user=messages["role"].eq(ROLE_USER).to_numpy(dtype=bool),
            msg_intent=messages["intent"].to_numpy(dtype=object),
            msg_action=messages["action"].to_numpy(dtype=object),
            msg_sentiment=messages["sentiment"].astype(float).to_numpy(dtype=float),
            msg_at=time_ns(messages["created_at"]),
        )

    @classmethod
    def from_rows(
        cls, conversations: Sequence[Sequence[Any]], messages: Sequence[Sequence[Any]]
    ) -> ConversationTable:
        """From query rows.

        Args:
            conversations: ``(id, customer_id, started_at, needs_handoff, rating)`` rows.
            messages: ``(conversation_id, role, intent, action, sentiment, created_at)`` rows.

        Returns:
            The table.
        """
        c = list(zip(*conversations, strict=True)) if conversations else [()] * 5
        m = list(zip(*messages, strict=True)) if messages else [()] * 6
        return cls(
            conv_id=np.asarray(c[0], dtype=np.int64),
            conv_customer=np.asarray(c[1], dtype=np.int64),
            started=np.asarray([datetime_ns(t) for t in c[2]], dtype=np.int64),
            handoff=np.asarray([bool(h) for h in c[3]], dtype=bool),
            rating=np.asarray([np.nan if r is None else r for r in c[4]], dtype=float),
            msg_conv=np.asarray(m[0], dtype=np.int64),
            msg_user=np.asarray([r == ROLE_USER for r in m[1]], dtype=bool),
            msg_intent=np.asarray(m[2], dtype=object),
            msg_action=np.asarray(m[3], dtype=object),
            msg_sentiment=np.asarray([np.nan if s is None else s for s in m[4]], dtype=float),
            msg_at=np.asarray([datetime_ns(t) for t in m[5]], dtype=np.int64),
        )


class _Labels:
    """Distinct values of a text column, to apply a rule once per value instead of per row."""

    def __init__(self, values: np.ndarray) -> None:
        self.codes, uniques = pd.factorize(values, use_na_sentinel=True)
        self.values: list[str | None] = [str(u) for u in uniques] + [None]  # code -1: missing

    def where(self, rule: Callable[[str | None], bool]) -> np.ndarray:
        """Rows whose value satisfies ``rule`` (a missing value is passed as ``None``)."""
        hits = np.array([rule(v) for v in self.values], dtype=bool)
        return np.asarray(hits[self.codes], dtype=bool)


def _count(positions: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(positions[mask], minlength=n).astype(float)


def _mean(positions: np.ndarray, mask: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Mean of ``values[mask]`` per position, 0 where there is none."""
    total = np.bincount(positions[mask], weights=values[mask], minlength=n)
    count = np.bincount(positions[mask], minlength=n)
    return np.divide(total, count, out=np.zeros(n), where=count > 0)


def _stable_order(*keys: np.ndarray) -> np.ndarray:
    """Indices sorting by the keys (first key most significant), ties kept in input order."""
    order = np.arange(len(keys[0]))
    for key in reversed(keys):
        order = order[np.argsort(key[order], kind="stable")]
    return order


@dataclass(frozen=True)
class _Visible:
    """The rows a set of customers can see at their cutoffs, with positions into them."""

    pos: np.ndarray  # per conversation: the customer's position
    started: np.ndarray
    cut: np.ndarray  # per conversation: its customer's cutoff
    handoff: np.ndarray
    rating: np.ndarray
    conv: np.ndarray  # per message: the conversation's position
    at: np.ndarray
    cut_m: np.ndarray  # per message: its customer's cutoff
    user: np.ndarray
    sentiment: np.ndarray
    intents: np.ndarray
    actions: np.ndarray


def _visible(
    table: ConversationTable, customers: np.ndarray, cutoffs: np.ndarray, lookback: int
) -> _Visible:
    """Conversations started in ``[cutoff - lookback, cutoff)`` and messages before the cutoff."""
    owner = pd.Index(customers).get_indexer(table.conv_customer)
    cut_c = np.where(owner >= 0, cutoffs[owner], _NAT)
    keep = (owner >= 0) & (table.started < cut_c) & (table.started >= cut_c - lookback)
    cut_c = cut_c[keep]
    conv_of = pd.Index(table.conv_id[keep]).get_indexer(table.msg_conv)
    cut_m = np.where(conv_of >= 0, cut_c[conv_of] if len(cut_c) else _NAT, _NAT)
    mkeep = (conv_of >= 0) & (table.msg_at != _NAT) & (table.msg_at < cut_m)
    return _Visible(
        pos=owner[keep],
        started=table.started[keep],
        cut=cut_c,
        handoff=table.handoff[keep],
        rating=table.rating[keep],
        conv=conv_of[mkeep],
        at=table.msg_at[mkeep],
        cut_m=cut_m[mkeep],
        user=table.msg_user[mkeep],
        sentiment=table.msg_sentiment[mkeep],
        intents=table.msg_intent[mkeep],
        actions=table.msg_action[mkeep],
    )


def _outcomes(v: _Visible, intent: _Labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per conversation: unresolved?, duration in hours (first to last message), rated?"""
    nc = len(v.pos)
    # first and last message (the start when there is none)
    has_msgs = np.bincount(v.conv, minlength=nc) > 0
    first = np.full(nc, np.iinfo(np.int64).max)
    last = np.full(nc, _NAT)
    np.minimum.at(first, v.conv, v.at)
    np.maximum.at(last, v.conv, v.at)
    first = np.where(has_msgs, first, v.started)
    last = np.where(has_msgs, last, v.started)
    # ended negative: the intent of the customer's last message that has one
    with_intent = np.flatnonzero(v.user & ~pd.isna(v.intents))
    by_time = with_intent[_stable_order(v.conv[with_intent], v.at[with_intent])]
    ends = np.ones(len(by_time), dtype=bool)
    ends[:-1] = v.conv[by_time][1:] != v.conv[by_time][:-1]
    last_said = by_time[ends]
    ended_negative = np.zeros(nc, dtype=bool)
    ended_negative[v.conv[last_said]] = intent.where(NEGATIVE_INTENTS.__contains__)[last_said]
    # a repeat contact: the customer's next conversation starts within 72 h of the last message
    order = _stable_order(v.pos, v.started)
    same = v.pos[order][1:] == v.pos[order][:-1]
    has_next = np.zeros(nc, dtype=bool)
    has_next[order[:-1][same]] = True
    nxt = np.zeros(nc, dtype=np.int64)
    nxt[order[:-1][same]] = v.started[order][1:][same]
    gap_h = np.where(has_next, nxt - last, 0) / 1e9 / 3600.0
    repeat = has_next & (nxt < v.cut) & (gap_h < REPEAT_CONTACT_HOURS)
    unresolved = v.handoff | ended_negative | repeat
    duration_h = (last - first) / 1e9 / 3600.0
    rated = ~np.isnan(v.rating) & (last < v.cut)
    return unresolved, duration_h, rated


def feature_matrix(
    table: ConversationTable,
    customers: np.ndarray,
    cutoffs: np.ndarray,
    windows: Sequence[int] = WINDOWS,
) -> np.ndarray:
    """Every conversation feature of every customer, each as of its own cutoff.

    Args:
        table: Conversations and messages (rows outside a customer's period are ignored).
        customers: Distinct customer ids (int64).
        cutoffs: Each customer's cutoff (int64 ns, UTC); only conversations started and
            messages sent strictly before it count.
        windows: Window lengths in days.

    Returns:
        A float array, one row per customer, columns :func:`feature_names`.
    """
    n = len(customers)
    names = feature_names(windows)
    out = np.zeros((n, len(names)))
    if n == 0:
        return out
    lookback = int(max(windows) * _NS_PER_DAY + REPEAT_CONTACT_HOURS * _NS_PER_HOUR)
    v = _visible(table, customers, cutoffs, lookback)
    intent = _Labels(v.intents)
    unresolved, duration_h, rated = _outcomes(v, intent)
    pos, mpos = v.pos, v.pos[v.conv]
    scored = v.user & ~np.isnan(v.sentiment)
    negative = scored & (np.nan_to_num(v.sentiment) < NEGATIVE_SENTIMENT)
    fallback = (v.user & intent.where(lambda i: i == INTENT_FALLBACK)) | _Labels(v.actions).where(
        lambda a: a is not None and FALLBACK_ACTION_MARK in a
    )
    counted = {
        stem: v.user & intent.where(frozenset(found).__contains__)
        for stem, found in COUNTED_INTENTS.items()
    }
    col = {name: j for j, name in enumerate(names)}
    for w in windows:
        conv_in = v.started >= v.cut - w * _NS_PER_DAY
        msg_in = v.at >= v.cut_m - w * _NS_PER_DAY
        out[:, col[f"contacts_{w}d"]] = _count(pos, conv_in, n)
        out[:, col[f"unresolved_{w}d"]] = _count(pos, conv_in & unresolved, n)
        out[:, col[f"handoffs_{w}d"]] = _count(pos, conv_in & v.handoff, n)
        out[:, col[f"resolution_hours_{w}d"]] = _mean(pos, conv_in & ~unresolved, duration_h, n)
        out[:, col[f"rating_mean_{w}d"]] = _mean(pos, conv_in & rated, v.rating, n)
        low = conv_in & rated & (v.rating <= LOW_RATING)
        out[:, col[f"low_ratings_{w}d"]] = _count(pos, low, n)
        for stem, mask in counted.items():
            out[:, col[f"{stem}_{w}d"]] = _count(mpos, msg_in & mask, n)
        n_neg = _count(mpos, msg_in & negative, n)
        n_scored = _count(mpos, msg_in & scored, n)
        out[:, col[f"negative_messages_{w}d"]] = n_neg
        out[:, col[f"negative_share_{w}d"]] = np.divide(
            n_neg, n_scored, out=np.zeros(n), where=n_scored > 0
        )
        out[:, col[f"fallbacks_{w}d"]] = _count(mpos, msg_in & fallback, n)
    recent = v.at >= v.cut_m - ORDER_STATUS_DAYS * _NS_PER_DAY
    order_status = v.user & intent.where(lambda i: i == INTENT_ORDER_STATUS)
    out[:, col["order_status_7d"]] = _count(mpos, recent & order_status, n)
    return out
