"""End to end: a confirmation counts only from the customer who asked, in the same session."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from analytics.demo.customers import DEMO_NEW, DEMO_ZH
from analytics.store.models import Customer, Subscription
from tests.e2e.stack import Process, identity, say, texts

pytestmark = pytest.mark.e2e
REFUSED = "这个确认只能由提出请求的已登录账户本人完成"


def statuses(shop_url: str, external_id: str) -> list[str]:
    with Session(create_engine(shop_url)) as session:
        customer = session.scalars(
            select(Customer).where(Customer.external_id == external_id)
        ).one()
        return list(
            session.scalars(
                select(Subscription.status).where(Subscription.customer_id == customer.id)
            )
        )


def test_another_customer_on_the_same_sender_cannot_confirm(
    rasa: Process, secret: str, shop_url: str
) -> None:
    sender = f"e2e-{uuid.uuid4().hex[:10]}"
    who = identity(DEMO_ZH, secret)
    forged = {"customer_id": DEMO_ZH, "customer_hash": "é"}
    for other in (identity(DEMO_NEW, secret), forged):
        assert "取消" in texts(say(rasa.url, sender, "我要取消订阅", who))
        assert REFUSED in texts(say(rasa.url, sender, "是的", other))
        assert "active" in statuses(shop_url, DEMO_ZH)
    # the refused question is gone: A's own "yes" now changes nothing either
    assert "好的！还有什么可以帮你？" in texts(say(rasa.url, sender, "是的", who))
    assert "active" in statuses(shop_url, DEMO_ZH)


def test_a_new_session_forgets_the_question(rasa: Process, secret: str, shop_url: str) -> None:
    sender, who = f"e2e-{uuid.uuid4().hex[:10]}", identity(DEMO_ZH, secret)
    say(rasa.url, sender, "我要取消订阅", who)
    say(rasa.url, sender, "/session_start", who)
    assert "好的！还有什么可以帮你？" in texts(say(rasa.url, sender, "是的", who))
    assert "active" in statuses(shop_url, DEMO_ZH)
