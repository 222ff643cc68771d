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
  to the founder, or the customer's last message with an intent was negative (complaint,
  refund, cancel, problem report, handoff request, fallback), or the customer came back within
  72 hours;
* ``complaints_Wd``, ``problems_Wd``, ``refund_intents_Wd``, ``cancel_intents_Wd``,
  ``pause_intents_Wd``, ``praise_Wd`` (praise and thanks): user messages by intent;
* ``negative_messages_Wd`` (sentiment below -0.3) and ``negative_share_Wd`` (their share of
  the scored user messages);
* ``fallbacks_Wd`` (``nlu_fallback`` intent or a fallback action) and ``handoffs_Wd``;
* ``resolution_hours_Wd``: mean duration (first to last message, hours) of the resolved
  contacts; ``rating_mean_Wd`` (0 when none) and ``low_ratings_Wd`` (rating 1-2);
* ``order_status_7d``: order-status questions in the last 7 days (repeated "where is it?").

One implementation computes them (:func:`analytics.brain.conversation_table.feature_matrix`,
vectorised, each customer at its own cutoff); the functions here only choose the rows:
:func:`conversation_feature_frame` from DataFrames (the brain's
:class:`analytics.brain.features.StoreFrames`), :func:`conversation_features` from the store for
one cutoff, and :func:`customers_conversation_features` /
:func:`customer_conversation_features` from the store for a few customers at their own cutoffs
(live risk, after every message).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVarTuple, Unpack

import numpy as np
import pandas as pd
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from analytics.brain.conversation_table import (
    LOW_RATING,
    NEGATIVE_INTENTS,
    REPEAT_CONTACT_HOURS,
    WINDOWS,
    ConversationTable,
    datetime_ns,
    feature_matrix,
    feature_names,
)
from analytics.store.models import Conversation, Message

__all__ = [
    "CONVERSATION_COLUMNS",
    "LOW_RATING",
    "MESSAGE_COLUMNS",
    "NEGATIVE_INTENTS",
    "REPEAT_CONTACT_HOURS",
    "WINDOWS",
    "conversation_feature_frame",
    "conversation_features",
    "customer_conversation_features",
    "customers_conversation_features",
    "feature_names",
]

logger = logging.getLogger(__name__)

#: The conversation columns every feature query reads, in this order.
CONVERSATION_COLUMNS = (
    Conversation.id,
    Conversation.customer_id,
    Conversation.started_at,
    Conversation.needs_handoff,
    Conversation.rating,
)
#: The message columns every feature query reads (conversation, role, intent, action,
#: sentiment, time), in this order.
MESSAGE_COLUMNS = (
    Message.conversation_id,
    Message.role,
    Message.intent,
    Message.action,
    Message.sentiment,
    Message.created_at,
)
_Columns = TypeVarTuple("_Columns")
_CHUNK = 500
"""Customer ids per ``IN`` list."""


def _lookback(windows: Sequence[int]) -> timedelta:
    """How far before a cutoff a conversation may start and still matter (repeat margin)."""
    return timedelta(days=max(windows), hours=REPEAT_CONTACT_HOURS)


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
    idx = pd.Index(list(customer_ids), name="customer_id")
    names = feature_names(windows)
    if conversations.empty or idx.empty:
        return pd.DataFrame(0.0, index=idx, columns=names)
    unique = idx.unique()
    cut = pd.Timestamp(cutoff)
    cut = cut.tz_localize(UTC) if cut.tzinfo is None else cut.tz_convert(UTC)
    values = feature_matrix(
        ConversationTable.from_frames(conversations, messages),
        unique.to_numpy(dtype=np.int64),
        np.full(len(unique), cut.as_unit("ns").value, dtype=np.int64),
        windows,
    )
    return pd.DataFrame(values[unique.get_indexer(idx)], index=idx, columns=names)


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
    ids = None if customer_ids is None else sorted({int(c) for c in customer_ids})
    table = _read_table(session, ids, cutoff - _lookback(windows), cutoff)
    if ids is None:
        ids = sorted({int(c) for c in table.conv_customer})
    index = pd.Index(ids, name="customer_id")
    values = feature_matrix(
        table,
        index.to_numpy(dtype=np.int64),
        np.full(len(index), datetime_ns(cutoff), dtype=np.int64),
        windows,
    )
    return pd.DataFrame(values, index=index, columns=feature_names(windows))


def customers_conversation_features(
    session: Session, cutoffs: dict[int, datetime], *, windows: Sequence[int] = WINDOWS
) -> dict[int, dict[str, float]]:
    """Conversation features of several customers, each as of its own cutoff, in two queries.

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
    ids = sorted(cutoffs)
    earliest = min(cutoffs.values()) - _lookback(windows)
    table = _read_table(session, ids, earliest, max(cutoffs.values()))
    cuts = np.asarray([datetime_ns(cutoffs[c]) for c in ids], dtype=np.int64)
    values = feature_matrix(table, np.asarray(ids, dtype=np.int64), cuts, windows)
    names = feature_names(windows)
    return {
        cid: dict(zip(names, map(float, row), strict=True))
        for cid, row in zip(ids, values, strict=True)
    }


def customer_conversation_features(
    session: Session, customer_id: int, cutoff: datetime, *, windows: Sequence[int] = WINDOWS
) -> dict[str, float]:
    """Conversation features of one customer as of ``cutoff`` (for live risk and the bot).

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
    return customers_conversation_features(session, {customer_id: cutoff}, windows=windows)[
        customer_id
    ]


def _read_table(
    session: Session, customer_ids: list[int] | None, since: datetime, until: datetime
) -> ConversationTable:
    """Conversations started in ``[since, until)`` and their messages sent before ``until``.

    Args:
        session: A session on the store.
        customer_ids: Whose conversations; ``None`` means every customer's.
        since: Earliest start.
        until: Start and messages strictly before this.

    Returns:
        The rows as a table.
    """
    chunks: list[list[int] | None] = (
        [None]
        if customer_ids is None
        else [customer_ids[i : i + _CHUNK] for i in range(0, len(customer_ids), _CHUNK)]
    )
    conv_rows: list[tuple[object, ...]] = []
    msg_rows: list[tuple[object, ...]] = []
    for chunk in chunks:
        conv_stmt = _conversations_in(select(*CONVERSATION_COLUMNS), chunk, since, until)
        conv_rows.extend(tuple(r) for r in session.execute(conv_stmt))
        msg_stmt = _conversations_in(
            select(*MESSAGE_COLUMNS).join(Conversation, Conversation.id == Message.conversation_id),
            chunk,
            since,
            until,
        ).where(Message.created_at < until)
        msg_rows.extend(tuple(r) for r in session.execute(msg_stmt))
    return ConversationTable.from_rows(conv_rows, msg_rows)


def _conversations_in(
    stmt: Select[Unpack[_Columns]],
    customer_ids: list[int] | None,
    since: datetime,
    until: datetime,
) -> Select[Unpack[_Columns]]:
    stmt = stmt.where(
        Conversation.customer_id.is_not(None),
        Conversation.started_at >= since,
        Conversation.started_at < until,
    )
    if customer_ids is not None:
        stmt = stmt.where(Conversation.customer_id.in_(customer_ids))
    return stmt
