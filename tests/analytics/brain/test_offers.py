"""Tests of the retention-offer rule (which offer, if any, before a cancellation).

What the customer reads for each offer kind is a domain response, tested in
``tests/actions/test_responses.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from analytics.brain.offers import OFFERS, choose_retention_offer
from tests.analytics.conftest import customer_score as score

NOW = datetime(2025, 6, 1, tzinfo=UTC)


def subscriber(status: str = "active") -> SimpleNamespace:
    return SimpleNamespace(subscriptions=[SimpleNamespace(status=status)], language="zh")


def test_high_value_high_risk_subscriber_gets_free_month() -> None:
    offer = choose_retention_offer(score(), subscriber())
    assert offer is not None and offer.kind == "free_month"


def test_mid_value_subscriber_gets_discount_on_three_boxes() -> None:
    offer = choose_retention_offer(score(clv_cents=60_000, segment="potential"), subscriber())
    assert offer is not None and offer.kind == "discount_3_boxes"


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


def test_every_offer_kind_is_named_once() -> None:
    assert {offer.kind for offer in OFFERS.values()} == set(OFFERS)
