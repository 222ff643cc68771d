"""Tests of the stored scores table and the retention-offer rule."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy.orm import Session

from analytics.brain.offers import choose_retention_offer
from analytics.demo.generator import generate_shop, write_shop
from analytics.store.db import make_engine, make_sessionmaker, upgrade_to_head
from analytics.store.models import CustomerScore
from analytics.store.scores import get_scores, get_scores_by_external_id

NOW = datetime(2025, 6, 1, tzinfo=UTC)


def score(**kw: Any) -> CustomerScore:
    base: dict[str, Any] = dict(
        customer_id=1,
        segment="loyal",
        churn_risk=0.8,
        churn_reasons=[],
        clv_cents=200_000,
        expected_purchases_90d=1.0,
        p_alive=0.5,
        health=30.0,
        health_components={},
        lifecycle_stage="churn",
        recommendations=[],
        model_version="t",
        scored_at=NOW,
    )
    base.update(kw)
    return CustomerScore(**base)


def subscriber(status: str = "active") -> SimpleNamespace:
    return SimpleNamespace(subscriptions=[SimpleNamespace(status=status)], language="zh")


def test_high_value_high_risk_subscriber_gets_free_month() -> None:
    offer = choose_retention_offer(score(), subscriber())
    assert offer is not None and offer.kind == "free_month"
    assert "免费" in offer.text("zh") and "free" in offer.text("en")


def test_mid_value_subscriber_gets_discount_on_three_boxes() -> None:
    offer = choose_retention_offer(score(clv_cents=60_000, segment="potential"), subscriber())
    assert offer is not None and offer.kind == "discount_3_boxes"
    assert "3" in offer.text_en and "3 期" in offer.text_zh


@pytest.mark.parametrize(
    "kw",
    [
        {"churn_risk": 0.2, "lifecycle_stage": "retention"},  # not at risk, no friction
        {"clv_cents": 1_000, "segment": "hibernating"},  # not valuable
    ],
)
def test_no_offer_unless_valuable_and_at_risk(kw: dict[str, Any]) -> None:
    assert choose_retention_offer(score(**kw), subscriber()) is None


def test_friction_counts_as_risk() -> None:
    calm = score(churn_risk=0.1, lifecycle_stage="retention", health_components={"support": 100})
    assert choose_retention_offer(calm, subscriber()) is None
    unhappy = score(churn_risk=0.1, lifecycle_stage="retention", health_components={"support": 25})
    offer = choose_retention_offer(unhappy, subscriber())
    assert offer is not None and offer.kind == "free_month"


def test_no_scores_no_offer_and_canceled_sub_gets_order_discount() -> None:
    assert choose_retention_offer(None, subscriber()) is None
    offer = choose_retention_offer(score(), subscriber("canceled"))
    assert offer is not None and offer.kind == "discount_next_order"


def test_offer_texts_never_show_scores() -> None:
    for kw in ({}, {"clv_cents": 60_000, "segment": "potential"}):
        for sub in (subscriber(), subscriber("canceled")):
            offer = choose_retention_offer(score(**kw), sub)
            assert offer is not None
            for text in (offer.text_en, offer.text_zh):
                assert "0.8" not in text and "80%" not in text and "2000" not in text
                assert "risk" not in text.lower() and "风险" not in text


def test_get_scores_round_trip(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    upgrade_to_head(url)
    engine = make_engine(url)
    try:
        write_shop(engine, generate_shop(10, seed=1, reference=NOW))
        with make_sessionmaker(engine).begin() as s:
            s.add(
                score(
                    customer_id=3,
                    churn_reasons=[{"en": "x", "zh": "y"}],
                    recommendations=[{"sku": "T01", "en": "a", "zh": "b"}],
                )
            )
        with make_sessionmaker(engine)() as s2:
            assert isinstance(s2, Session)
            got = get_scores(s2, 3)
            assert got is not None and got.churn_reasons == [{"en": "x", "zh": "y"}]
            assert got.scored_at == NOW
            assert get_scores(s2, 4) is None
            by_ext = get_scores_by_external_id(s2, "cus_0003")
            assert by_ext is not None and by_ext.customer_id == 3
    finally:
        engine.dispose()
