"""Regression: conversation features keep the numbers they had before there was one implementation.

Until issue 14 the features were computed twice: with pandas (:func:`conversation_features`,
:func:`conversation_feature_frame`, used by the brain) and in plain Python per customer
(:func:`customers_conversation_features`, :func:`customer_conversation_features`, used by live
risk). The reference numbers below were computed by *that old code*, on the seeded test store
(``SMALL_N`` customers, seed 42, ``REFERENCE``), before the two were merged; the tests compute
the same quantities with today's code on SQLite and PostgreSQL and compare.

A fingerprint of a feature is ``(sum, sum of value * weight, number of non-zero values)`` over
all (customer, cutoff) rows, with ``weight = customer_id + 1000 * k`` for the k-th cutoff, so a
value moved to another customer or cutoff changes it. Features that are zero everywhere are
left out of the tables (and asserted to be zero).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from analytics.brain.conversation_features import (
    conversation_feature_frame,
    conversation_features,
    customer_conversation_features,
    customers_conversation_features,
    feature_names,
)
from analytics.brain.features import load_frames
from analytics.store.models import Conversation, Customer, Message
from tests.analytics.brain import conversation_features_reference as ref
from tests.analytics.conftest import REFERENCE, SeededStore

Fingerprint = ref.Fingerprint

SWEEP = [REFERENCE - timedelta(days=30 * k) for k in range(23)]
"""Monthly cutoffs from the reference back over the whole conversation history."""
SINGLE_SWEEP = SWEEP[:3]
"""Cutoffs at which every customer is also computed alone (slower)."""
SHIFT_HOURS = 50
"""Per-customer cutoffs are the sweep cutoff minus ``customer_id % SHIFT_HOURS`` hours."""
EDGE_CUT = REFERENCE + timedelta(days=5)


def fingerprint(rows: list[pd.DataFrame]) -> Fingerprint:
    """Fingerprint of feature frames, one per sweep cutoff (index: customer id)."""
    out: Fingerprint = {}
    names = list(rows[0].columns)
    weights = np.concatenate(
        [f.index.to_numpy(dtype=float) + 1000.0 * k for k, f in enumerate(rows)]
    )
    for name in names:
        col = np.concatenate([f[name].to_numpy(dtype=float) for f in rows])
        if (col != 0).any():
            out[name] = (float(col.sum()), float((col * weights).sum()), int((col != 0).sum()))
    return out


def _shifted(ids: pd.Index, cut: datetime) -> dict[int, datetime]:
    return {int(c): cut - timedelta(hours=int(c) % SHIFT_HOURS) for c in ids}


def _as_frame(values: dict[int, dict[str, float]]) -> pd.DataFrame:
    return pd.DataFrame.from_dict(values, orient="index")[feature_names()].sort_index()


def frame_sweep(session: Session) -> list[pd.DataFrame]:
    """The store path at every sweep cutoff (customers with a conversation in the window)."""
    return [conversation_features(session, cut).sort_index() for cut in SWEEP]


def batch_sweep(session: Session, frames: list[pd.DataFrame]) -> list[pd.DataFrame]:
    """The live-risk path, each customer at its own (shifted) cutoff."""
    out = []
    for cut, f in zip(SWEEP, frames, strict=True):
        ids = f.index if len(f) else pd.Index([1])
        out.append(_as_frame(customers_conversation_features(session, _shifted(ids, cut))))
    return out


def single_sweep(session: Session, frames: list[pd.DataFrame]) -> list[pd.DataFrame]:
    """One customer at a time, at the sweep cutoff itself."""
    out = []
    for cut, f in zip(SINGLE_SWEEP, frames[: len(SINGLE_SWEEP)], strict=True):
        values = {int(c): customer_conversation_features(session, int(c), cut) for c in f.index}
        out.append(_as_frame(values))
    return out


def brain_sweep(engine: Engine) -> list[pd.DataFrame]:
    """The brain's call: every customer, 90-day window, frames without ratings."""
    frames = load_frames(engine)
    ids = pd.Index(sorted(frames.customers["id"].astype(int)))
    return [
        conversation_feature_frame(frames.conversations, frames.messages, cut, ids, windows=(90,))
        for cut in SWEEP
    ]


def add_edge_cases(session: Session) -> list[int]:
    """Conversations that exercise every feature and the corner cases of the definitions.

    Written in the test's session (rolled back afterwards) for the first three customers.

    Returns:
        The three customer ids.
    """
    ids = [int(i) for i in session.scalars(select(Customer.id).order_by(Customer.id).limit(3))]
    a, b, c = ids
    at = lambda days, hours=0.0: EDGE_CUT - timedelta(days=days, hours=hours)  # noqa: E731
    convs = [
        # customer a: a complaint whose last user message has no intent; a problem report with
        # a fallback; a repeat contact exactly 72 h after the previous one ended (not a repeat)
        (
            a,
            at(3),
            False,
            None,
            [("user", "complain", None, -0.7, 0), ("user", None, None, None, 0.1)],
        ),
        (
            a,
            at(12),
            True,
            2,
            [
                ("user", "report_problem", None, -0.4, 0),
                ("bot", None, "action_default_fallback", None, 0.05),
                ("user", "nlu_fallback", None, float("nan"), 0.1),
            ],
        ),
        (
            a,
            at(15, 0.5),
            False,
            4,
            [("user", "greet", None, 0.2, 0), ("user", "thank", None, 0.3, 0.5)],
        ),
        # customer b: pause and cancel requests, equal timestamps, a conversation without
        # messages, order-status questions inside and outside the last 7 days
        (
            b,
            at(2),
            False,
            1,
            [
                ("user", "pause_subscription", None, -0.2, 0),
                ("user", "cancel_subscription", None, -0.6, 0.0),
                ("user", "thank", None, 0.8, 0.0),
            ],
        ),
        (b, at(5), False, None, []),
        (
            b,
            at(6),
            False,
            5,
            [("user", "order_status", None, None, 0), ("user", "praise", None, 0.9, 1)],
        ),
        (b, at(9), False, None, [("user", "order_status", None, -0.31, 0)]),
        # customer c: a conversation that started before the 90-day window (within the 72-hour
        # margin) with messages inside it, followed by a repeat contact; a message after the cutoff
        (c, at(91), False, 3, [("user", "refund_request", None, -0.5, 24.0 * 1.5)]),
        (c, at(89), False, None, [("user", "refund_request", None, -0.9, 0)]),
        (
            c,
            at(1),
            False,
            1,
            [
                ("user", "complain", None, -0.9, 0),
                ("user", "complain", None, -0.9, -48.0),
                ("user", "refund_request", None, -0.9, 30.0),
            ],
        ),
    ]
    for n, (cid, started, handoff, rating, msgs) in enumerate(convs):
        conv = Conversation(
            sender_id=f"regression-edge-{n}",
            customer_id=cid,
            channel="web",
            language="en",
            started_at=started,
            last_message_at=started,
            needs_handoff=handoff,
            status="open",
            rating=rating,
        )
        session.add(conv)
        session.flush()
        for k, (role, intent, action, sentiment, hours) in enumerate(msgs):
            session.add(
                Message(
                    conversation_id=conv.id,
                    customer_id=cid,
                    event_key=f"regression-{n}-{k}",
                    role=role,
                    text="-",
                    intent=intent,
                    action=action,
                    sentiment=sentiment,
                    created_at=started + timedelta(hours=hours),
                )
            )
    session.flush()
    return ids


def _rows(frame: pd.DataFrame) -> dict[int, dict[str, float]]:
    return {
        int(cid): {k: float(v) for k, v in row.items() if v != 0} for cid, row in frame.iterrows()
    }


def edge_values(session: Session) -> dict[str, dict[int, dict[str, float]]]:
    """Features of the edge-case customers by each path (non-zero values only)."""
    ids = add_edge_cases(session)
    frame = conversation_features(session, EDGE_CUT, ids)
    batch = _as_frame(customers_conversation_features(session, dict.fromkeys(ids, EDGE_CUT)))
    single = _as_frame({cid: customer_conversation_features(session, cid, EDGE_CUT) for cid in ids})
    return {"frame": _rows(frame), "batch": _rows(batch), "single": _rows(single)}


def compute_all(session: Session, engine: Engine) -> dict[str, object]:
    """Every reference quantity (used once, with the old code, to write this file)."""
    frames = frame_sweep(session)
    return {
        "data": data_fingerprint(session),
        "frame": fingerprint(frames),
        "batch": fingerprint(batch_sweep(session, frames)),
        "single": fingerprint(single_sweep(session, frames)),
        "brain": fingerprint(brain_sweep(engine)),
        "edge": edge_values(session),
    }


def data_fingerprint(session: Session) -> tuple[int, int, float]:
    """(conversations, messages, sum of sentiment) of the seeded store."""
    return (
        int(session.scalar(select(func.count()).select_from(Conversation)) or 0),
        int(session.scalar(select(func.count()).select_from(Message)) or 0),
        round(float(session.scalar(select(func.sum(Message.sentiment))) or 0.0), 6),
    )


def assert_fingerprint(actual: Fingerprint, expected: Fingerprint) -> None:
    """Same features, and each number equal up to float summation order."""
    assert sorted(actual) == sorted(expected)
    for name, (total, weighted, nonzero) in expected.items():
        got = actual[name]
        assert got[2] == nonzero, name
        assert got[0] == pytest.approx(total, rel=1e-9, abs=1e-9), name
        assert got[1] == pytest.approx(weighted, rel=1e-9, abs=1e-9), name


def assert_rows(actual: dict[int, dict[str, float]], expected: dict[int, dict[str, float]]) -> None:
    """Same customers, same non-zero features, same values."""
    assert sorted(actual) == sorted(expected)
    for cid, values in expected.items():
        assert sorted(actual[cid]) == sorted(values), cid
        assert actual[cid] == pytest.approx(values, rel=1e-9, abs=1e-12), cid


def test_seeded_data_is_the_reference_data(session: Session) -> None:
    # If this fails the generator changed, not the features: the references below are void.
    assert data_fingerprint(session) == ref.DATA


def test_store_path_keeps_its_numbers(session: Session) -> None:
    assert_fingerprint(fingerprint(frame_sweep(session)), ref.FRAME)


def test_live_risk_path_keeps_its_numbers(session: Session) -> None:
    frames = frame_sweep(session)
    assert_fingerprint(fingerprint(batch_sweep(session, frames)), ref.BATCH)
    assert_fingerprint(fingerprint(single_sweep(session, frames)), ref.SINGLE)


def test_single_customer_path_equals_store_path(session: Session) -> None:
    frames = frame_sweep(session)[: len(SINGLE_SWEEP)]
    for alone, together in zip(single_sweep(session, frames), frames, strict=True):
        pd.testing.assert_frame_equal(alone, together, check_names=False, rtol=1e-12)


def test_brain_path_keeps_its_numbers(seeded_store: SeededStore) -> None:
    assert_fingerprint(fingerprint(brain_sweep(seeded_store.engine)), ref.BRAIN)


def test_edge_cases(session: Session) -> None:
    # One definition now: every path gives the store path's numbers, including where the old
    # plain-Python path differed (ref.OLD_ROW_PATH_DIFFERENCES: a conversation whose last user
    # message has no intent is judged by the last user message that has one).
    values = edge_values(session)
    assert_rows(values["frame"], ref.EDGE_FRAME)
    assert_rows(values["batch"], ref.EDGE_FRAME)
    assert_rows(values["single"], ref.EDGE_FRAME)
    old = ref.OLD_ROW_PATH_DIFFERENCES
    assert all(values["batch"][c][f] != v for c, fv in old.items() for f, v in fv.items())
