"""The bot's replies change with the brain's stored scores.

Scores are written as rows of the real ``customer_scores`` table (what
``python -m analytics score`` stores); the actions read them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.account import ActionAccountStatus
from actions.recommend import ActionRecommend
from actions.refunds import ActionRefundRequest
from actions.subscription import (
    PENDING_OFFER,
    ActionCancelSubscription,
    ActionConfirm,
    ActionDecline,
)
from actions.support import ActionComplain
from analytics.demo.customers import DEMO_EN, DEMO_NEW, DEMO_VIP_AT_RISK, DEMO_ZH
from analytics.store.models import (
    Conversation,
    Customer,
    CustomerScore,
    LiveRisk,
    RetentionOfferRecord,
    Subscription,
)
from tests.actions.conftest import MakeTracker, pending_slots, responses, slot_values
from tests.actions.domain import DOMAIN, rendered


def store_score(session: Session, external_id: str, **values: object) -> None:
    customer = session.scalars(select(Customer).where(Customer.external_id == external_id)).one()
    row = {
        "segment": "loyal",
        "churn_risk": 0.1,
        "churn_reasons": [],
        "clv_cents": 20_000,
        "expected_purchases_90d": 1.0,
        "p_alive": 0.9,
        "health": 80.0,
        "health_components": {},
        "lifecycle_stage": "retention",
        "recommendations": [],
        "model_version": "test",
        "scored_at": datetime.now(UTC),
    }
    row.update(values)
    session.add(CustomerScore(customer_id=customer.id, **row))
    session.commit()


VIP = {"segment": "at_risk", "churn_risk": 0.83, "clv_cents": 420_000}


def subscription_status(session: Session, external_id: str) -> str | None:
    session.rollback()
    customer = session.scalars(select(Customer).where(Customer.external_id == external_id)).one()
    return session.scalars(
        select(Subscription.status)
        .where(Subscription.customer_id == customer.id)
        .order_by(Subscription.started_at.desc())
    ).first()


def test_high_risk_vip_gets_a_retention_offer_and_can_keep_the_box(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    store_score(session, DEMO_VIP_AT_RISK, **VIP)
    events = ActionCancelSubscription().run(
        dispatcher, make_tracker("取消订阅", customer=DEMO_VIP_AT_RISK), DOMAIN
    )
    assert responses(dispatcher) == ["utter_retention_offer_free_month"]
    offer = rendered(dispatcher.messages[0], "zh")
    assert "免费" in offer  # the free month, in Chinese
    assert "0.83" not in offer and "风险" not in offer
    asked = slot_values(events)
    assert asked["pending_action"] == PENDING_OFFER
    assert asked["pending_customer_id"] == DEMO_VIP_AT_RISK
    tracker = make_tracker("好的", intent="affirm", customer=DEMO_VIP_AT_RISK, slots=asked)
    ActionConfirm().run(dispatcher, tracker, DOMAIN)
    assert responses(dispatcher)[-1] == "utter_offer_accepted"
    assert subscription_status(session, DEMO_VIP_AT_RISK) == "paused"  # kept, not cancelled
    [record] = session.scalars(select(RetentionOfferRecord)).all()
    assert (record.kind, record.outcome) == ("free_month", "accepted")


def test_a_vip_who_insists_is_cancelled_and_not_offered_twice(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    store_score(session, DEMO_VIP_AT_RISK, **VIP)
    ActionCancelSubscription().run(
        dispatcher, make_tracker("取消", customer=DEMO_VIP_AT_RISK), DOMAIN
    )
    tracker = make_tracker(
        "不要，取消",
        intent="deny",
        customer=DEMO_VIP_AT_RISK,
        slots=pending_slots(PENDING_OFFER, DEMO_VIP_AT_RISK),
    )
    ActionDecline().run(dispatcher, tracker, DOMAIN)
    assert responses(dispatcher) == [
        "utter_retention_offer_free_month",
        "utter_subscription_canceled",
    ]
    assert subscription_status(session, DEMO_VIP_AT_RISK) == "canceled"
    assert session.scalars(select(RetentionOfferRecord.outcome)).all() == ["declined"]


def test_insisting_by_asking_again_cancels(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    store_score(session, DEMO_VIP_AT_RISK, **VIP)
    tracker = make_tracker(
        "我就是要取消",
        intent="cancel_subscription",
        customer=DEMO_VIP_AT_RISK,
        slots=pending_slots(PENDING_OFFER, DEMO_VIP_AT_RISK),
    )
    ActionCancelSubscription().run(
        dispatcher, make_tracker("取消", customer=DEMO_VIP_AT_RISK), DOMAIN
    )
    ActionCancelSubscription().run(dispatcher, tracker, DOMAIN)
    assert responses(dispatcher)[-1] == "utter_subscription_canceled"
    assert subscription_status(session, DEMO_VIP_AT_RISK) == "canceled"


def test_a_low_risk_customer_gets_no_offer(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    store_score(session, DEMO_EN, segment="loyal", churn_risk=0.08, clv_cents=90_000)
    ActionCancelSubscription().run(dispatcher, make_tracker("cancel", customer=DEMO_EN), DOMAIN)
    assert responses(dispatcher) == ["utter_confirm_cancel"]


def test_vip_complaint_and_refund_go_to_the_founder_first(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    store_score(session, DEMO_VIP_AT_RISK, **VIP)
    ActionComplain().run(
        dispatcher,
        make_tracker("太慢了", intent="complain", customer=DEMO_VIP_AT_RISK, sender="vip-1"),
        DOMAIN,
    )
    asked = ActionRefundRequest().run(
        dispatcher,
        make_tracker("退款", intent="refund_request", customer=DEMO_VIP_AT_RISK, sender="vip-2"),
        DOMAIN,
    )
    yes = make_tracker(
        "好的", intent="affirm", customer=DEMO_VIP_AT_RISK, sender="vip-2", slots=slot_values(asked)
    )
    ActionConfirm().run(dispatcher, yes, DOMAIN)  # a refund is filed once confirmed
    assert responses(dispatcher) == [
        "utter_handoff_priority",
        "utter_confirm_refund",
        "utter_refund_created",
        "utter_handoff_priority",
    ]
    session.rollback()
    flagged = session.scalars(
        select(Conversation).where(Conversation.sender_id.in_(["vip-1", "vip-2"]))
    ).all()
    assert len(flagged) == 2 and all(c.needs_handoff for c in flagged)


def test_an_ordinary_complaint_is_answered_by_the_bot(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    store_score(session, DEMO_ZH, segment="potential", churn_risk=0.2, clv_cents=30_000)
    ActionComplain().run(
        dispatcher, make_tracker("太慢了", intent="complain", customer=DEMO_ZH), DOMAIN
    )
    assert responses(dispatcher) == ["utter_complain"]


def test_recommendations_come_from_the_brain_with_a_reason(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    recs = [
        {
            "sku": "C02",
            "because": "C01",
            "en": "Customers who bought Yunnan Arabica also bought this",
            "zh": "买过云南小粒咖啡的顾客也买了它",
        },
        {"sku": "A03", "because": "C01", "en": "x", "zh": "x"},
        {"sku": "C07", "because": None, "en": "Popular", "zh": "热销"},
    ]
    store_score(session, DEMO_EN, recommendations=recs)
    ActionRecommend().run(
        dispatcher, make_tracker("recommend", customer=DEMO_EN, slots={"language": "en"}), DOMAIN
    )
    [message] = dispatcher.messages
    assert message["response"] == "utter_recommend_personal"
    assert message["items"] == "Ethiopia Yirgacheffe, Coffee Grinder, Kenya AA"
    assert "Yunnan Arabica" in message["reason"]


def test_a_new_customer_gets_popular_items(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    store_score(session, DEMO_NEW, segment="new", recommendations=[])
    ActionRecommend().run(dispatcher, make_tracker("recommend", customer=DEMO_NEW), DOMAIN)
    assert responses(dispatcher) == ["utter_recommend"]
    assert dispatcher.messages[0]["items"]


def test_account_status_shows_a_segment_note_and_never_a_score(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    store_score(session, DEMO_EN, segment="champions", churn_risk=0.12345, health=88.5)
    ActionAccountStatus().run(
        dispatcher, make_tracker("my account", customer=DEMO_EN, slots={"language": "en"}), DOMAIN
    )
    [message] = dispatcher.messages
    assert "loyal" in message["segment_note"]
    assert not any(token in str(message) for token in ("0.12", "88.5", "risk", "champions"))


def store_live_risk(
    session: Session, external_id: str, score: float, level: str, reason_en: str
) -> None:
    customer = session.scalars(select(Customer).where(Customer.external_id == external_id)).one()
    session.add(
        LiveRisk(
            customer_id=customer.id,
            score=score,
            base_score=0.1,
            level=level,
            reasons=[
                {
                    "code": "order_status_repeat",
                    "weight": 1.0,
                    "en": reason_en,
                    "zh": "本周三次询问延迟的订单",
                }
            ],
            features={},
            sender_id="earlier",
            event_key="k",
            alert=level == "high",
            updated_at=datetime.now(UTC),
        )
    )
    session.commit()


def test_high_live_risk_escalates_a_complaint_with_its_reason(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    store_score(session, DEMO_ZH, segment="potential", churn_risk=0.2, clv_cents=30_000)
    store_live_risk(
        session, DEMO_ZH, 0.71, "high", "asked about a late order three times this week"
    )
    ActionComplain().run(
        dispatcher,
        make_tracker("还没到！", intent="complain", customer=DEMO_ZH, sender="live-1"),
        DOMAIN,
    )
    assert responses(dispatcher) == ["utter_handoff_priority"]
    session.rollback()
    conversation = session.scalars(
        select(Conversation).where(Conversation.sender_id == "live-1")
    ).one()
    assert conversation.needs_handoff
    assert (
        conversation.handoff_reason
        == "high live risk: asked about a late order three times this week"
    )


def test_medium_live_risk_does_not_escalate(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    store_live_risk(session, DEMO_ZH, 0.3, "medium", "asked about an order twice")
    ActionComplain().run(
        dispatcher, make_tracker("慢", intent="complain", customer=DEMO_ZH), DOMAIN
    )
    assert responses(dispatcher) == ["utter_complain"]


def test_live_risk_makes_a_valuable_subscriber_eligible_for_an_offer(
    store: str, session: Session, make_tracker: MakeTracker, dispatcher: CollectingDispatcher
) -> None:
    store_score(session, DEMO_EN, segment="loyal", churn_risk=0.1, clv_cents=90_000)
    ActionCancelSubscription().run(
        dispatcher, make_tracker("cancel", customer=DEMO_EN, sender="a"), DOMAIN
    )
    assert responses(dispatcher) == ["utter_confirm_cancel"]  # nightly risk alone: no offer
    store_live_risk(session, DEMO_EN, 0.64, "high", "said they want to cancel")
    ActionCancelSubscription().run(
        dispatcher, make_tracker("cancel", customer=DEMO_EN, sender="b"), DOMAIN
    )
    assert responses(dispatcher)[-1].startswith("utter_retention_offer_")
