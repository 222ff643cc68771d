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
:class:`analytics.features.StoreFrames`); :func:`conversation_features` reads the store.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.models import Conversation, Message

logger = logging.getLogger(__name__)

WINDOWS: tuple[int, ...] = (30, 90)
NEGATIVE_SENTIMENT = -0.3
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
    conv_stmt = select(
        Conversation.id,
        Conversation.customer_id,
        Conversation.started_at,
        Conversation.needs_handoff,
        Conversation.rating,
    ).where(
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
    msg_stmt = select(
        Message.conversation_id,
        Message.role,
        Message.intent,
        Message.action,
        Message.sentiment,
        Message.created_at,
    ).where(
        Message.conversation_id.in_([int(i) for i in conv["id"]]),
        Message.created_at < cutoff,
    )
    msgs = pd.DataFrame(session.execute(msg_stmt).all(), columns=list(_empty_messages().columns))
    return conversation_feature_frame(conv, msgs, cutoff, ids, windows=windows)


def _empty_messages() -> pd.DataFrame:
    return pd.DataFrame(
        columns=["conversation_id", "role", "intent", "action", "sentiment", "created_at"]
    )


def customer_conversation_features(
    session: Session, customer_id: int, cutoff: datetime
) -> dict[str, float]:
    """Conversation features of one customer as of ``cutoff`` (for live risk and the bot).

    Args:
        session: A session on the store.
        customer_id: The internal customer id.
        cutoff: The time (timezone-aware); messages at or after it are not counted.

    Returns:
        Feature name to value.
    """
    frame = conversation_features(session, cutoff, [customer_id])
    return {k: float(v) for k, v in frame.loc[customer_id].items()}
