"""Conversation features: definitions, windows, point-in-time correctness, and agreement of
the store, frame and single-customer paths on the seeded store (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.brain.conversation_features import (
    conversation_feature_frame,
    conversation_features,
    customer_conversation_features,
    feature_names,
)
from analytics.store.models import Conversation
from tests.analytics.conftest import REFERENCE

CUT = datetime(2025, 3, 1, 12, tzinfo=UTC)


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Customer 1: a complaint 10 days ago (handed off, rated 1), a resolved question 40 days
    ago (rated 5), a repeat contact within 72 h, and a message after the cutoff.
    Customer 2: a cancel request 100 days ago (outside both windows)."""
    d = lambda days, hours=0.0: CUT - timedelta(days=days, hours=hours)  # noqa: E731
    conv = pd.DataFrame(
        [
            (1, 1, d(10), True, 1),
            (2, 1, d(40), False, 5),
            (3, 1, d(39), False, None),  # one day after conversation 2 ended: a repeat contact
            (4, 2, d(100), False, None),
            (5, 1, d(-1), False, 1),  # after the cutoff: invisible
        ],
        columns=["id", "customer_id", "started_at", "needs_handoff", "rating"],
    )
    msgs = pd.DataFrame(
        [
            (1, "user", "complain", None, -0.8, d(10)),
            (1, "bot", None, "action_complain", None, d(10, -0.1)),
            (1, "user", "human_handoff", None, -0.2, d(10, -0.2)),
            (2, "user", "order_status", None, 0.0, d(40)),
            (2, "bot", None, "action_order_status", None, d(40, -0.5)),
            (2, "user", "thank", None, 0.9, d(40, -1.0)),
            (3, "user", "order_status", None, -0.1, d(39)),
            (3, "bot", None, "action_default_fallback", None, d(39, -0.1)),
            (4, "user", "cancel_subscription", None, -0.4, d(100)),
            (1, "user", "refund_request", None, -0.6, CUT + timedelta(minutes=1)),  # after
            (5, "user", "complain", None, -0.9, CUT + timedelta(days=1)),
        ],
        columns=["conversation_id", "role", "intent", "action", "sentiment", "created_at"],
    )
    return conv, msgs


def test_definitions_and_windows() -> None:
    conv, msgs = _frames()
    f = conversation_feature_frame(conv, msgs, CUT, [1, 2, 3])
    assert list(f.columns) == feature_names()
    c1 = f.loc[1]
    assert c1["contacts_30d"] == 1 and c1["contacts_90d"] == 3
    assert c1["complaints_30d"] == 1 and c1["complaints_90d"] == 1
    assert c1["refund_intents_90d"] == 0  # said after the cutoff
    assert c1["handoffs_30d"] == 1
    # unresolved: the handed-off complaint; conversation 2 because the customer came back
    # within 72 h; conversation 3 ended with an unanswered question but its last intent is
    # neutral and no one came back: resolved.
    assert c1["unresolved_30d"] == 1 and c1["unresolved_90d"] == 2
    assert c1["fallbacks_90d"] == 1 and c1["fallbacks_30d"] == 0
    assert c1["praise_90d"] == 1
    assert c1["negative_messages_90d"] == 1  # -0.8 only (-0.2 and -0.1 are mild)
    assert c1["negative_share_90d"] == pytest.approx(1 / 5)
    assert c1["rating_mean_30d"] == 1 and c1["low_ratings_30d"] == 1
    assert c1["rating_mean_90d"] == pytest.approx(3.0)
    assert c1["resolution_hours_90d"] == pytest.approx(0.1)  # only conversation 3 is resolved
    assert c1["order_status_7d"] == 0
    assert f.loc[2].sum() == 0  # the cancel request is 100 days old
    assert f.loc[3].sum() == 0  # no conversations at all


def test_point_in_time_later_rows_change_nothing() -> None:
    conv, msgs = _frames()
    before = conversation_feature_frame(conv, msgs, CUT, [1, 2])
    visible_conv = conv[conv["started_at"] < CUT]
    visible_msgs = msgs[msgs["created_at"] < CUT]
    truncated = conversation_feature_frame(visible_conv, visible_msgs, CUT, [1, 2])
    pd.testing.assert_frame_equal(before, truncated)
    later = conversation_feature_frame(conv, msgs, CUT + timedelta(days=2), [1])
    assert later.loc[1, "refund_intents_30d"] == 1 and later.loc[1, "complaints_30d"] == 2


def test_store_paths_agree(session: Session) -> None:
    cutoff = REFERENCE - timedelta(days=20)
    frame = conversation_features(session, cutoff)
    assert not frame.empty and frame["contacts_90d"].sum() > 0
    assert frame["complaints_90d"].sum() > 0
    ids = list(frame.index[:40])
    for cid in ids:
        one = customer_conversation_features(session, int(cid), cutoff)
        expected = frame.loc[cid].to_dict()
        assert one == pytest.approx(expected), cid
    # Customers without conversations get zeros.
    none = conversation_features(session, cutoff, [999_999])
    assert none.loc[999_999].sum() == 0


def test_naive_cutoff_is_rejected(session: Session) -> None:
    with pytest.raises(ValueError):
        conversation_features(session, datetime(2025, 1, 1))
    conv = session.scalars(select(Conversation).limit(1)).first()
    assert conv is not None
