"""Live risk: what was just said moves the risk, with reasons in Chinese and English."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.core.vocabulary import RISK_LEVEL_HIGH
from analytics.demo import customers as demo
from analytics.loop.live_risk import (
    PRIOR_RISK,
    Utterance,
    explain,
    get_live_risk,
    get_live_risk_by_external_id,
    has_late_order,
    update_live_risk,
)
from analytics.store import repositories as repo
from analytics.store.models import Customer
from tests.analytics.conftest import REFERENCE

NOW = REFERENCE - timedelta(hours=6)


def _customer(session: Session, external_id: str) -> Customer:
    return session.scalars(select(Customer).where(Customer.external_id == external_id)).one()


def _say(
    session: Session, customer: Customer, sender: str, k: int, intent: str, sentiment: float, at
) -> Utterance:  # type: ignore[no-untyped-def]
    conv = repo.upsert_conversation(
        session, sender, customer_id=customer.id, channel="web", language="zh", at=at
    )
    key = f"{sender}:{k}"
    repo.add_message(
        session,
        conv,
        event_key=key,
        role="user",
        text="…",
        at=at,
        intent=intent,
        sentiment=sentiment,
    )
    session.flush()
    return Utterance(intent=intent, sentiment=sentiment, at=at, sender_id=sender, event_key=key)


def test_repeated_questions_about_a_late_order(session: Session) -> None:
    vip = _customer(session, demo.DEMO_VIP_AT_RISK)
    assert has_late_order(session, vip.id, NOW)
    scores = []
    for k in range(3):
        at = NOW - timedelta(days=2 - k)
        u = _say(session, vip, f"lr-late-{k}", k, "order_status", 0.0, at)
        scores.append(update_live_risk(session, vip.id, u).score)
    row = get_live_risk(session, vip.id)
    assert row is not None
    top = row.reasons[0]
    assert top["code"] == "order_status_repeat"
    assert top["en"] == "asked about a late order three times this week"
    assert top["zh"] == "本周三次询问延迟的订单"
    assert scores[0] < scores[1] < scores[2]
    assert row.features["order_status_7d"] == 3
    assert row.sender_id == "lr-late-2" and row.event_key == "lr-late-2:2"


def test_cancel_and_anger_raise_risk_and_alert(session: Session) -> None:
    cus = _customer(session, demo.DEMO_EN)
    u1 = _say(session, cus, "lr-cancel", 0, "complain", -0.9, NOW)
    first = update_live_risk(session, cus.id, u1)
    base = first.base_score
    assert first.score > base
    assert [r["code"] for r in first.reasons] == ["upset"]
    u2 = _say(session, cus, "lr-cancel", 1, "cancel_subscription", -0.4, NOW + timedelta(minutes=1))
    second = update_live_risk(session, cus.id, u2)
    assert second.score > 0.5 and second.level == RISK_LEVEL_HIGH
    assert second.reasons[0]["code"] == "cancel_intent"
    assert second.reasons[0]["en"] == "wants to cancel the subscription"
    assert second.alert
    assert get_live_risk_by_external_id(session, demo.DEMO_EN) is second


def test_thanks_lower_risk_and_replays_are_idempotent(session: Session) -> None:
    cus = _customer(session, demo.DEMO_ZH)
    u = _say(session, cus, "lr-thanks", 0, "thank", 0.9, NOW)
    row = update_live_risk(session, cus.id, u)
    assert row.score < row.base_score
    assert row.reasons[0]["zh"] == "表达了感谢或好评"
    snapshot = (row.score, list(row.reasons), dict(row.features), row.updated_at)
    again = update_live_risk(session, cus.id, u)
    assert (again.score, again.reasons, again.features, again.updated_at) == snapshot
    older = Utterance(intent="cancel_subscription", sentiment=-0.5, at=NOW - timedelta(hours=1))
    kept = update_live_risk(session, cus.id, older)
    assert kept.updated_at == NOW and kept.score == snapshot[0]


def test_unscored_customer_starts_from_the_prior(session: Session) -> None:
    new = _customer(session, demo.DEMO_NEW)
    u = _say(session, new, "lr-new", 0, "greet", 0.3, NOW)
    row = update_live_risk(session, new.id, u)
    assert row.base_score == pytest.approx(PRIOR_RISK)  # the nightly brain has not scored yet
    assert row.reasons == []
    assert row.score == pytest.approx(row.base_score, abs=1e-4)


def test_explain_wording_for_where_is_my_order_without_a_late_order() -> None:
    u = Utterance(intent="order_status", sentiment=0.0, at=NOW)
    reasons = explain(u, {"order_status_7d": 2.0}, late_order=False)
    assert [(r.en, r.zh) for r in reasons] == [
        ("asked where an order is twice this week", "本周两次询问订单到哪了")
    ]
    batch = Utterance(
        intent="thank", sentiment=0.5, at=NOW, earlier_intents=("cancel_subscription",)
    )
    codes = [r.code for r in explain(batch, {"cancel_intents_30d": 1.0}, late_order=False)]
    assert codes == ["cancel_intent"]
