"""End to end over REST: the real Rasa server, action server and store."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from actions.formatting import CARRIER_PHRASES
from actions.phrases import render_response
from analytics.demo.customers import DEMO_EN, DEMO_EN_LATEST_ORDER, DEMO_ZH, DEMO_ZH_LATEST_ORDER
from analytics.store.models import Customer, Subscription
from tests.actions.domain import DOMAIN
from tests.e2e.stack import Process, founder_jwt, identity, say, texts

pytestmark = pytest.mark.e2e
HAN = re.compile(r"[\u4e00-\u9fff]")


def new_sender() -> str:
    """A fresh conversation id."""
    return f"e2e-{uuid.uuid4().hex[:10]}"


def test_chinese_order_question_gets_the_customers_latest_order_in_chinese(
    rasa: Process, secret: str
) -> None:
    reply = texts(say(rasa.url, new_sender(), "我的订单到哪了", identity(DEMO_ZH, secret)))
    assert DEMO_ZH_LATEST_ORDER in reply
    assert HAN.search(reply), reply


def test_english_order_question_is_answered_in_english(rasa: Process, secret: str) -> None:
    reply = texts(say(rasa.url, new_sender(), "where is my order?", identity(DEMO_EN, secret)))
    assert DEMO_EN_LATEST_ORDER in reply
    assert not HAN.search(reply), reply


@pytest.mark.parametrize(
    ("text", "language"), [("我的订单到哪了", "zh"), ("where is my order?", "en")]
)
def test_the_carrier_is_named_in_the_reply_language_from_the_domain(
    rasa: Process, secret: str, text: str, language: str
) -> None:
    """Rasa sends its domain to the action server, which renders the carrier's name from it."""
    reply = texts(say(rasa.url, new_sender(), text, identity(DEMO_ZH, secret)))
    names = [render_response(DOMAIN["responses"], p, language) for p in CARRIER_PHRASES.values()]
    assert DEMO_ZH_LATEST_ORDER in reply
    assert any(name in reply for name in names), reply


def test_without_identity_the_bot_asks_to_sign_in_and_reveals_nothing(rasa: Process) -> None:
    reply = texts(say(rasa.url, new_sender(), "我的订单到哪了"))
    assert "登录" in reply
    assert "LB" not in reply


def test_a_forged_hash_is_anonymous(rasa: Process, secret: str) -> None:
    forged = identity(DEMO_ZH, secret + "x")
    reply = texts(say(rasa.url, new_sender(), "where is my order", forged))
    assert DEMO_ZH_LATEST_ORDER not in reply
    assert "sign in" in reply


def test_mixed_message_is_answered_in_the_profile_language(rasa: Process, secret: str) -> None:
    reply = texts(say(rasa.url, new_sender(), "我的order到哪了", identity(DEMO_EN, secret)))
    assert DEMO_EN_LATEST_ORDER in reply
    assert not HAN.search(reply), reply


def test_cancel_needs_confirmation_and_then_really_cancels(
    rasa: Process, secret: str, shop_url: str
) -> None:
    sender, who = new_sender(), identity(DEMO_EN, secret)
    first = texts(say(rasa.url, sender, "I want to cancel my subscription", who))
    assert "cancel" in first.lower()
    engine = create_engine(shop_url)
    with Session(engine) as session:
        customer = session.scalars(select(Customer).where(Customer.external_id == DEMO_EN)).one()
        statuses = session.scalars(
            select(Subscription.status).where(Subscription.customer_id == customer.id)
        ).all()
        assert "active" in statuses  # nothing changed before the confirmation
    say(rasa.url, sender, "/affirm", who)
    with Session(engine) as session:
        statuses = session.scalars(
            select(Subscription.status).where(Subscription.customer_id == customer.id)
        ).all()
        assert "canceled" in statuses and "active" not in statuses


def test_out_of_domain_message_gets_a_polite_fallback_offering_a_person(rasa: Process) -> None:
    replies = say(rasa.url, new_sender(), "what's the capital of mongolia in 1820 quantum")
    payloads = [b["payload"] for r in replies for b in r.get("buttons", [])]
    assert "/human_handoff" in payloads


def test_action_server_down_leaves_a_polite_answer(
    rasa_without_actions: Process, secret: str
) -> None:
    sender = new_sender()
    reply = texts(
        say(rasa_without_actions.url, sender, "我的订单到哪了", identity(DEMO_ZH, secret))
    )
    assert "系统暂时连接不上" in reply
    tracker = httpx.get(
        f"{rasa_without_actions.url}/conversations/{sender}/tracker",
        headers={"Authorization": f"Bearer {founder_jwt()}"},
        timeout=30,
    ).json()
    user_texts = [e.get("text") for e in tracker["events"] if e["event"] == "user"]
    assert "我的订单到哪了" in user_texts
