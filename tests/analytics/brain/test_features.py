"""Tests of the point-in-time feature pipeline and the churn label."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from analytics.brain.features import (
    FEATURE_COLUMNS,
    StoreFrames,
    build_features,
    build_labels,
    frames_from_tables,
    load_frames,
    training_population,
)
from analytics.demo.generator import ShopData, generate_shop, write_shop
from analytics.store.db import make_engine, upgrade_to_head

REF = datetime(2025, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def shop() -> ShopData:
    return generate_shop(400, seed=7, reference=REF)


@pytest.fixture(scope="module")
def frames(shop: ShopData) -> StoreFrames:
    return frames_from_tables(shop.tables)


@pytest.mark.parametrize("days_back", [30, 120, 300])
def test_no_feature_uses_data_after_the_cutoff(frames: StoreFrames, days_back: int) -> None:
    cut = pd.Timestamp(REF - timedelta(days=days_back))
    full = build_features(frames, cut)
    # everything created at or after the cutoff removed, deliveries after it unknown
    past_only = build_features(frames.truncate(cut), cut)
    pd.testing.assert_frame_equal(full, past_only)
    assert list(full.columns) == list(FEATURE_COLUMNS)


def test_future_activity_does_not_change_features(frames: StoreFrames) -> None:
    cut = pd.Timestamp(REF - timedelta(days=120))
    before = build_features(frames, cut)
    cid = int(before.index[before["frequency"] > 0][0])
    o = frames.orders
    extra = pd.DataFrame(
        {
            "id": [o["id"].max() + 1],
            "customer_id": [cid],
            "created_at": [cut + pd.Timedelta(hours=1)],
            "total_cents": [999_999],
            "estimated_delivery": [cut - pd.Timedelta(days=1)],
            "delivered_at": [cut + pd.Timedelta(days=3)],
        }
    )
    future = StoreFrames(**{**frames.__dict__, "orders": pd.concat([o, extra], ignore_index=True)})
    after = build_features(future, cut)
    pd.testing.assert_series_equal(before.loc[cid], after.loc[cid])
    # and the label sees it: that customer bought in the next 90 days
    assert build_labels(future, cut, pd.Index([cid])).iloc[0] == 0


def test_feature_values_are_sane(frames: StoreFrames) -> None:
    cut = pd.Timestamp(REF)
    X = build_features(frames, cut)
    assert len(X) == len(frames.customers)
    assert (X >= 0).all().all()
    buyers = X["frequency"] > 0
    assert (X.loc[buyers, "recency_days"] <= X.loc[buyers, "tenure_days"] + 1e-6).all()
    assert (X["orders_90d"] <= X["frequency"]).all()
    assert ((X["sub_active"] + X["sub_paused"]) <= 1).all()
    np.testing.assert_allclose(
        X.loc[buyers, "avg_order_cents"] * X.loc[buyers, "frequency"],
        X.loc[buyers, "monetary_cents"],
    )


def test_labels_and_population(frames: StoreFrames) -> None:
    cut = pd.Timestamp(REF - timedelta(days=90))
    X = build_features(frames, cut)
    y = build_labels(frames, cut, X.index)
    pop = training_population(X)
    assert 0.1 < y[pop].mean() < 0.9  # both classes well represented
    # everybody who ordered in the window is labelled as retained
    o = frames.orders
    window = o[(o["created_at"] >= cut) & (o["created_at"] < cut + pd.Timedelta(days=90))]
    assert (y.reindex(window["customer_id"].unique()).dropna() == 0).all()


def test_store_and_memory_frames_give_the_same_features(
    shop: ShopData, frames: StoreFrames, tmp_path: object
) -> None:
    url = f"sqlite:///{tmp_path}/store.db"
    upgrade_to_head(url)
    engine = make_engine(url)
    try:
        write_shop(engine, shop)
        db_frames = load_frames(engine)
    finally:
        engine.dispose()
    cut = pd.Timestamp(REF - timedelta(days=45))
    pd.testing.assert_frame_equal(build_features(db_frames, cut), build_features(frames, cut))
