"""Conversation features per customer, point-in-time correct, over 30- and 90-day windows.

Every feature is computed *as of a cutoff*: only conversations started and messages sent
strictly before the cutoff are read, and no "current state" column whose value may have
changed after the cutoff is used (``conversations.status`` is ignored; whether a contact was
resolved is derived from the messages, see below). ``needs_handoff`` is set during the
conversation itself, and a satisfaction ``rating`` is taken as given at the conversation's
last message, so it counts only if that message is before the cutoff.

Features (``W`` is 30 or 90, windows are ``[cutoff - W days, cutoff)``):

* ``contacts_Wd``: conversations started in the window;
* ``unresolved_Wd``: of those, the ones that were not resolved as known at the cutoff: handed
  to the founder, or the customer's last message was negative (complaint, refund, cancel,
  problem report, handoff request, fallback), or the customer came back within 72 hours;
* ``complaints_Wd``, ``problems_Wd``, ``refund_intents_Wd``, ``cancel_intents_Wd``,
  ``pause_intents_Wd``, ``praise_Wd`` (praise and thanks): user messages by intent;
* ``negative_messages_Wd`` (sentiment below -0.3) and ``negative_share_Wd`` (their share of
  the scored user messages);
* ``fallbacks_Wd`` (``nlu_fallback`` intent or a fallback action) and ``handoffs_Wd``;
* ``resolution_hours_Wd``: mean duration (first to last message, hours) of the resolved
  contacts; ``rating_mean_Wd`` (0 when none) and ``low_ratings_Wd`` (rating 1-2);
* ``order_status_7d``: order-status questions in the last 7 days (repeated "where is it?").

:func:`conversation_feature_frame` works on DataFrames (the brain's
:class:`analytics.brain.features.StoreFrames`); :func:`conversation_features` reads the store.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.core.vocabulary import NEGATIVE_SENTIMENT
from analytics.store.models import Conversation, Message

logger = logging.getLogger(__name__)

#: The message columns every feature query reads (conversation, role, intent, action,
#: sentiment, time), in this order.
CONVERSATION_COLUMNS = (
    Conversation.id,
    Conversation.customer_id,
    Conversation.started_at,
    Conversation.needs_handoff,
    Conversation.rating,
)
MESSAGE_COLUMNS = (
    Message.conversation_id,
    Message.role,
    Message.intent,
    Message.action,
    Message.sentiment,
    Message.created_at,
)

WINDOWS: tuple[int, ...] = (30, 90)
REPEAT_CONTACT_HOURS = 72.0
LOW_RATING = 2
NEGATIVE_INTENTS = frozenset(
    {
        "complain",
        "refund_request",
        "cancel_subscription",
        "report_problem",
        "human_handoff",
        "nlu_fallback",
    }
)
_COUNTED_INTENTS: dict[str, tuple[str, ...]] = {
    "complaints": ("complain",),
    "problems": ("report_problem",),
    "refund_intents": ("refund_request",),
    "cancel_intents": ("cancel_subscription",),
    "pause_intents": ("pause_subscription",),
    "praise": ("praise", "thank"),
}
_PER_WINDOW = (
    "contacts",
    "unresolved",
    *_COUNTED_INTENTS,
    "negative_messages",
    "negative_share",
    "fallbacks",
    "handoffs",
    "resolution_hours",
    "rating_mean",
    "low_ratings",
)


def feature_names(windows: Sequence[int] = WINDOWS) -> list[str]:
    """Names of the columns :func:`conversation_feature_frame` returns.

    Args:
        windows: Window lengths in days.

    Returns:
        Column names, window by window, then ``order_status_7d``.
    """
    return [f"{name}_{w}d" for w in windows for name in _PER_WINDOW] + ["order_status_7d"]


def _ts(t: datetime | pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(t)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _utc(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, utc=True, format="ISO8601")


def _conversation_outcomes(
    conv: pd.DataFrame, msgs: pd.DataFrame, cut: pd.Timestamp
) -> pd.DataFrame:
    """Per conversation (started before the cutoff): first/last message, resolved or not."""
    out = conv[["id", "customer_id", "started_at", "needs_handoff", "rating"]].copy()
    out = out.set_index("id")
    grouped = msgs.groupby("conversation_id")["created_at"]
    out["first_at"] = grouped.min().reindex(out.index)
    out["last_at"] = grouped.max().reindex(out.index)
    out["first_at"] = out["first_at"].fillna(out["started_at"])
    out["last_at"] = out["last_at"].fillna(out["started_at"])
    user = msgs[msgs["role"] == "user"].sort_values("created_at", kind="stable")
    last_intent = user.groupby("conversation_id")["intent"].last().reindex(out.index)
    ended_negative = last_intent.isin(NEGATIVE_INTENTS).to_numpy()
    # A repeat contact by the same customer within 72 h (and before the cutoff).
    ordered = out.sort_values(["customer_id", "started_at"], kind="stable")
    nxt = ordered.groupby("customer_id")["started_at"].shift(-1)
    gap_h = (nxt - ordered["last_at"]).dt.total_seconds() / 3600.0
    repeat = (nxt.notna() & (nxt < cut) & (gap_h < REPEAT_CONTACT_HOURS)).reindex(out.index)
    out["unresolved"] = (
        out["needs_handoff"].astype(bool).to_numpy()
        | ended_negative
        | repeat.fillna(False).astype(bool).to_numpy()
    )
    out["duration_h"] = (out["last_at"] - out["first_at"]).dt.total_seconds() / 3600.0
    rated = out["rating"].notna() & (out["last_at"] < cut)
    out["rating"] = out["rating"].where(rated)
    return out


def conversation_feature_frame(
    conversations: pd.DataFrame,
    messages: pd.DataFrame,
    cutoff: datetime | pd.Timestamp,
    customer_ids: Iterable[int] | pd.Index,
    *,
    windows: Sequence[int] = WINDOWS,
) -> pd.DataFrame:
    """Conversation features of customers as of ``cutoff`` (only data strictly before it).

    Args:
        conversations: Columns ``id``, ``customer_id``, ``started_at``, ``needs_handoff`` and
            optionally ``rating`` (missing means no ratings).
        messages: Columns ``conversation_id``, ``role``, ``intent``, ``action``, ``sentiment``,
            ``created_at``.
        cutoff: The prediction time (aware, or naive UTC).
        customer_ids: The customers to return (rows of zeros for customers without chats).
        windows: Window lengths in days.

    Returns:
        A float DataFrame indexed by ``customer_id`` with :func:`feature_names` columns.
    """
    cut = _ts(cutoff)
    idx = pd.Index(list(customer_ids), name="customer_id")
    names = feature_names(windows)
    result = pd.DataFrame(0.0, index=idx, columns=names)
    if conversations.empty or idx.empty:
        return result
    conv = conversations.copy()
    if "rating" not in conv:
        conv["rating"] = np.nan
    conv = conv[conv["customer_id"].notna()]
    conv["customer_id"] = conv["customer_id"].astype(int)
    conv["started_at"] = _utc(conv["started_at"])
    horizon = cut - pd.Timedelta(days=max(windows))
    conv = conv[(conv["started_at"] < cut) & conv["customer_id"].isin(idx)]
    # Conversations that started a little before the window still matter for repeat contacts.
    conv = conv[conv["started_at"] >= horizon - pd.Timedelta(hours=REPEAT_CONTACT_HOURS)]
    if conv.empty:
        return result
    msgs = messages[messages["conversation_id"].isin(conv["id"])].copy()
    msgs["created_at"] = _utc(msgs["created_at"])
    msgs = msgs[msgs["created_at"] < cut]
    outcomes = _conversation_outcomes(conv, msgs, cut)
    msgs["customer_id"] = msgs["conversation_id"].map(outcomes["customer_id"])
    user = msgs[msgs["role"] == "user"]
    intent = user["intent"].fillna("").astype(str)
    action = msgs["action"].fillna("").astype(str)

    def count(keys: pd.Series) -> pd.Series:
        return keys.value_counts().reindex(idx, fill_value=0).astype(float)

    for w in windows:
        start = cut - pd.Timedelta(days=w)
        oc = outcomes[outcomes["started_at"] >= start]
        result[f"contacts_{w}d"] = count(oc["customer_id"])
        result[f"unresolved_{w}d"] = count(oc.loc[oc["unresolved"], "customer_id"])
        result[f"handoffs_{w}d"] = count(oc.loc[oc["needs_handoff"].astype(bool), "customer_id"])
        resolved = oc[~oc["unresolved"]]
        result[f"resolution_hours_{w}d"] = (
            resolved.groupby("customer_id")["duration_h"].mean().reindex(idx).fillna(0.0)
        )
        rated = oc[oc["rating"].notna()]
        result[f"rating_mean_{w}d"] = (
            rated.groupby("customer_id")["rating"].mean().reindex(idx).fillna(0.0)
        )
        result[f"low_ratings_{w}d"] = count(rated.loc[rated["rating"] <= LOW_RATING, "customer_id"])
        in_w = (user["created_at"] >= start).to_numpy()
        for name, intents in _COUNTED_INTENTS.items():
            result[f"{name}_{w}d"] = count(user.loc[in_w & intent.isin(intents), "customer_id"])
        sent = user["sentiment"].astype(float)
        scored = in_w & sent.notna().to_numpy()
        negative = scored & (sent.fillna(0.0) < NEGATIVE_SENTIMENT).to_numpy()
        n_neg = count(user.loc[negative, "customer_id"])
        n_scored = count(user.loc[scored, "customer_id"])
        result[f"negative_messages_{w}d"] = n_neg
        result[f"negative_share_{w}d"] = (n_neg / n_scored.where(n_scored > 0)).fillna(0.0)
        msg_in_w = (msgs["created_at"] >= start).to_numpy()
        fallback = msgs["role"].eq("user").to_numpy() & msgs["intent"].eq("nlu_fallback").to_numpy()
        fallback |= action.str.contains("fallback").to_numpy()
        result[f"fallbacks_{w}d"] = count(msgs.loc[msg_in_w & fallback, "customer_id"])
    week = (user["created_at"] >= cut - pd.Timedelta(days=7)).to_numpy()
    result["order_status_7d"] = count(user.loc[week & (intent == "order_status"), "customer_id"])
    return result[names].astype(float)


def conversation_features(
    session: Session,
    cutoff: datetime,
    customer_ids: Iterable[int] | None = None,
    *,
    windows: Sequence[int] = WINDOWS,
) -> pd.DataFrame:
    """Read the store and compute conversation features as of ``cutoff``.

    Args:
        session: A session on the store.
        cutoff: The prediction time (timezone-aware).
        customer_ids: Internal customer ids to compute; ``None`` means every customer who
            had a conversation in the longest window (plus the 72-hour repeat margin).
        windows: Window lengths in days.

    Returns:
        A float DataFrame indexed by ``customer_id`` with :func:`feature_names` columns.

    Raises:
        ValueError: If ``cutoff`` is naive.
    """
    if cutoff.tzinfo is None:
        raise ValueError("cutoff must be timezone-aware")
    since = cutoff - pd.Timedelta(days=max(windows), hours=REPEAT_CONTACT_HOURS)
    ids = None if customer_ids is None else sorted(set(customer_ids))
    conv_stmt = select(*CONVERSATION_COLUMNS).where(
        Conversation.customer_id.is_not(None),
        Conversation.started_at >= since,
        Conversation.started_at < cutoff,
    )
    if ids is not None:
        conv_stmt = conv_stmt.where(Conversation.customer_id.in_(ids))
    conv = pd.DataFrame(
        session.execute(conv_stmt).all(),
        columns=["id", "customer_id", "started_at", "needs_handoff", "rating"],
    )
    if ids is None:
        ids = sorted(int(c) for c in conv["customer_id"].unique())
    if conv.empty:
        return conversation_feature_frame(conv, _empty_messages(), cutoff, ids, windows=windows)
    msg_stmt = select(*MESSAGE_COLUMNS).where(
        Message.conversation_id.in_([int(i) for i in conv["id"]]),
        Message.created_at < cutoff,
    )
    msgs = pd.DataFrame(session.execute(msg_stmt).all(), columns=list(_empty_messages().columns))
    return conversation_feature_frame(conv, msgs, cutoff, ids, windows=windows)


def _empty_messages() -> pd.DataFrame:
    return pd.DataFrame(
        columns=["conversation_id", "role", "intent", "action", "sentiment", "created_at"]
    )


def _row_features(
    convs: list[tuple[int, datetime, bool, int | None]],
    msgs: list[tuple[int, str, str | None, str | None, float | None, datetime]],
    cut: datetime,
    windows: Sequence[int] = WINDOWS,
) -> dict[str, float]:
    """The same features for one customer, in plain Python (fast for a handful of rows).

    Args:
        convs: ``(id, started_at, needs_handoff, rating)`` of the customer's conversations
            started before ``cut``.
        msgs: ``(conversation_id, role, intent, action, sentiment, created_at)`` of their
            messages before ``cut``.
        cut: The cutoff.
        windows: Window lengths in days.

    Returns:
        Feature name to value, same names and values as :func:`conversation_feature_frame`.
    """
    out = dict.fromkeys(feature_names(windows), 0.0)
    by_conv: dict[int, list[tuple[int, str, str | None, str | None, float | None, datetime]]] = {}
    for m in msgs:
        by_conv.setdefault(m[0], []).append(m)
    info: dict[int, dict[str, object]] = {}
    ordered = sorted(convs, key=lambda c: c[1])
    for cid, started, handoff, rating in ordered:
        rows = by_conv.get(cid, [])
        first = min((m[5] for m in rows), default=started)
        last = max((m[5] for m in rows), default=started)
        users = sorted((m for m in rows if m[1] == "user"), key=lambda m: m[5])
        ended_negative = bool(users) and users[-1][2] in NEGATIVE_INTENTS
        info[cid] = {
            "started": started,
            "handoff": bool(handoff),
            "rating": rating if rating is not None and last < cut else None,
            "first": first,
            "last": last,
            "negative": ended_negative,
        }
    for k, (cid, _started, _h, _r) in enumerate(ordered):
        repeat = False
        if k + 1 < len(ordered):
            nxt = ordered[k + 1][1]
            gap_h = (nxt - info[cid]["last"]).total_seconds() / 3600.0  # type: ignore[operator]
            repeat = nxt < cut and gap_h < REPEAT_CONTACT_HOURS
        info[cid]["unresolved"] = bool(info[cid]["handoff"] or info[cid]["negative"] or repeat)
    user_msgs = [m for m in msgs if m[1] == "user"]
    for w in windows:
        start = cut - pd.Timedelta(days=w).to_pytimedelta()
        in_w = [c for c in info.values() if c["started"] >= start]  # type: ignore[operator]
        out[f"contacts_{w}d"] = float(len(in_w))
        out[f"unresolved_{w}d"] = float(sum(1 for c in in_w if c["unresolved"]))
        out[f"handoffs_{w}d"] = float(sum(1 for c in in_w if c["handoff"]))
        durations = [
            (c["last"] - c["first"]).total_seconds() / 3600.0  # type: ignore[operator]
            for c in in_w
            if not c["unresolved"]
        ]
        out[f"resolution_hours_{w}d"] = float(np.mean(durations)) if durations else 0.0
        ratings = [float(c["rating"]) for c in in_w if c["rating"] is not None]  # type: ignore[arg-type]
        out[f"rating_mean_{w}d"] = float(np.mean(ratings)) if ratings else 0.0
        out[f"low_ratings_{w}d"] = float(sum(1 for r in ratings if r <= LOW_RATING))
        um = [m for m in user_msgs if m[5] >= start]
        for name, intents in _COUNTED_INTENTS.items():
            out[f"{name}_{w}d"] = float(sum(1 for m in um if (m[2] or "") in intents))
        scored = [m[4] for m in um if m[4] is not None and not math.isnan(m[4])]
        n_neg = sum(1 for v in scored if v < NEGATIVE_SENTIMENT)
        out[f"negative_messages_{w}d"] = float(n_neg)
        out[f"negative_share_{w}d"] = n_neg / len(scored) if scored else 0.0
        out[f"fallbacks_{w}d"] = float(
            sum(
                1
                for m in msgs
                if m[5] >= start
                and ((m[1] == "user" and m[2] == "nlu_fallback") or "fallback" in (m[3] or ""))
            )
        )
    week = cut - pd.Timedelta(days=7).to_pytimedelta()
    out["order_status_7d"] = float(
        sum(1 for m in user_msgs if m[5] >= week and m[2] == "order_status")
    )
    return out


def customer_conversation_features(
    session: Session, customer_id: int, cutoff: datetime, *, windows: Sequence[int] = WINDOWS
) -> dict[str, float]:
    """Conversation features of one customer as of ``cutoff`` (for live risk and the bot).

    Same definitions and values as :func:`conversation_features`, computed in plain Python
    from the customer's few rows (milliseconds, so it can run after every message).

    Args:
        session: A session on the store.
        customer_id: The internal customer id.
        cutoff: The time (timezone-aware); messages at or after it are not counted.
        windows: Window lengths in days.

    Returns:
        Feature name to value.

    Raises:
        ValueError: If ``cutoff`` is naive.
    """
    if cutoff.tzinfo is None:
        raise ValueError("cutoff must be timezone-aware")
    since = cutoff - pd.Timedelta(days=max(windows), hours=REPEAT_CONTACT_HOURS).to_pytimedelta()
    convs = [
        (int(r[0]), r[1], bool(r[2]), r[3])
        for r in session.execute(
            select(
                Conversation.id,
                Conversation.started_at,
                Conversation.needs_handoff,
                Conversation.rating,
            ).where(
                Conversation.customer_id == customer_id,
                Conversation.started_at >= since,
                Conversation.started_at < cutoff,
            )
        )
    ]
    msgs: list[tuple[int, str, str | None, str | None, float | None, datetime]] = []
    if convs:
        msgs = [
            (int(r[0]), r[1], r[2], r[3], r[4], r[5])
            for r in session.execute(
                select(*MESSAGE_COLUMNS).where(
                    Message.conversation_id.in_([c[0] for c in convs]),
                    Message.created_at < cutoff,
                )
            )
        ]
    return _row_features(convs, msgs, cutoff, windows)


def customers_conversation_features(
    session: Session, cutoffs: dict[int, datetime], *, windows: Sequence[int] = WINDOWS
) -> dict[int, dict[str, float]]:
    """:func:`customer_conversation_features` for several customers in two queries.

    Args:
        session: A session on the store.
        cutoffs: Internal customer id -> its cutoff (timezone-aware).
        windows: Window lengths in days.

    Returns:
        Customer id -> feature name -> value.

    Raises:
        ValueError: If a cutoff is naive.
    """
    if not cutoffs:
        return {}
    if any(c.tzinfo is None for c in cutoffs.values()):
        raise ValueError("cutoffs must be timezone-aware")
    span = pd.Timedelta(days=max(windows), hours=REPEAT_CONTACT_HOURS).to_pytimedelta()
    earliest = min(cutoffs.values()) - span
    latest = max(cutoffs.values())
    ids = sorted(cutoffs)
    conv_rows: dict[int, list[tuple[int, datetime, bool, int | None]]] = {i: [] for i in ids}
    owner: dict[int, int] = {}
    for start in range(0, len(ids), 500):
        for c in session.execute(
            select(*CONVERSATION_COLUMNS).where(
                Conversation.customer_id.in_(ids[start : start + 500]),
                Conversation.started_at >= earliest,
                Conversation.started_at < latest,
            )
        ):
            cid = int(c[1] or 0)
            if cutoffs[cid] - span <= c[2] < cutoffs[cid]:
                conv_rows[cid].append((int(c[0]), c[2], bool(c[3]), c[4]))
                owner[int(c[0])] = cid
    msg_rows: dict[int, list[tuple[int, str, str | None, str | None, float | None, datetime]]] = {
        i: [] for i in ids
    }
    conv_ids = sorted(owner)
    for start in range(0, len(conv_ids), 500):
        for r in session.execute(
            select(*MESSAGE_COLUMNS).where(
                Message.conversation_id.in_(conv_ids[start : start + 500]),
                Message.created_at < latest,
            )
        ):
            cid = owner[int(r[0])]
            if r[5] < cutoffs[cid]:
                msg_rows[cid].append((int(r[0]), r[1], r[2], r[3], r[4], r[5]))
    return {cid: _row_features(conv_rows[cid], msg_rows[cid], cutoffs[cid], windows) for cid in ids}
