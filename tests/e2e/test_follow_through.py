"""End to end: the bot follows through on what it says, against the running bot.

Real Rasa server (newest trained model), real action server, real seeded SQLite store;
the founder's console is the real web app, in process, calling the real Rasa through
:class:`web.console.takeover.RasaBridge`.

* An accepted retention offer changes the subscription: a ``discount`` event with the
  price of the next renewals and its end date, and the reply quotes exactly those.
* A refund request asks for confirmation first; only "yes" files it.
* The founder approves it in the console's "Requests" queue; the decision reaches the
  conversation in the customer's language (a REST customer gets it, marked as the
  founder's, with their next call); "what happened to my refund?" then answers from the
  stored status with the same words, and tells another customer nothing about it.
* A change to the account the bot cannot make is offered to the founder, filed open
  after "yes", decided in the console and fetched by the REST customer.

Each test picks its own seeded customer (not one of the four demo customers other tests
use), so the shared store stays as the other tests expect.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, delete, select
from sqlalchemy.orm import Session

from analytics.store import repositories as repo
from analytics.store.models import (
    ChangeRequest,
    Customer,
    CustomerScore,
    Order,
    RefundRequest,
    Subscription,
    SubscriptionEvent,
)
from tests.e2e.stack import JWT_SECRET, Process, founder_jwt, identity, say, texts

pytestmark = pytest.mark.e2e

DEMO_CUSTOMERS = ("cus_0001", "cus_0002", "cus_0003", "cus_0004")
PASSWORD = "follow-through e2e password"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def pick_customer(shop_url: str, used: set[str]) -> str:
    """An English-speaking seeded customer with an active subscription and an order."""
    with Session(create_engine(shop_url)) as session:
        rows = session.execute(
            select(Customer.external_id)
            .join(Subscription, Subscription.customer_id == Customer.id)
            .join(Order, Order.customer_id == Customer.id)
            .where(
                Customer.language == "en",
                Subscription.status == "active",
                Subscription.next_renewal_at.is_not(None),
                Customer.external_id.not_in(DEMO_CUSTOMERS),
            )
            .order_by(Customer.external_id)
        ).scalars()
        for external_id in rows:
            if external_id not in used:
                used.add(external_id)
                return str(external_id)
    raise AssertionError("the seeded shop has no English subscriber with an order")


USED: set[str] = set()


def money(cents: int) -> str:
    """Yuan as the bot writes them (``actions.formatting.money``): 128, 103.20."""
    yuan, rest = divmod(cents, 100)
    return f"¥{yuan}" if rest == 0 else f"¥{yuan}.{rest:02d}"


def make_valuable_and_at_risk(shop_url: str, external_id: str) -> None:
    """Stores the brain's scores of a valuable customer at risk (as the scorer would)."""
    with Session(create_engine(shop_url)) as session:
        customer = session.scalars(
            select(Customer).where(Customer.external_id == external_id)
        ).one()
        session.execute(delete(CustomerScore).where(CustomerScore.customer_id == customer.id))
        session.add(
            CustomerScore(
                customer_id=customer.id,
                segment="at_risk",
                churn_risk=0.83,
                churn_reasons=[],
                clv_cents=80_000,
                expected_purchases_90d=1.0,
                p_alive=0.5,
                health=30.0,
                health_components={},
                lifecycle_stage="retention",
                recommendations=[],
                model_version="e2e",
                scored_at=datetime.now(UTC),
            )
        )
        session.commit()


def test_an_accepted_offer_changes_the_subscription(
    rasa: Process, secret: str, shop_url: str
) -> None:
    customer = pick_customer(shop_url, USED)
    make_valuable_and_at_risk(shop_url, customer)
    sender, who = f"e2e-offer-{uuid.uuid4().hex[:8]}", identity(customer, secret)
    offer = texts(say(rasa.url, sender, "I want to cancel my subscription", who))
    assert "20% off your next 3 boxes" in offer, offer
    reply = texts(say(rasa.url, sender, "yes", who))
    with Session(create_engine(shop_url)) as session:
        found = session.scalars(select(Customer).where(Customer.external_id == customer)).one()
        subscription = repo.current_subscription(session, found.id)
        assert subscription is not None and subscription.status == "active"  # kept
        discount = session.scalars(
            select(SubscriptionEvent).where(
                SubscriptionEvent.subscription_id == subscription.id,
                SubscriptionEvent.kind == "discount",
            )
        ).one()
        regular = subscription.price_cents
    assert discount.price_cents == (regular * 80 + 50) // 100
    assert discount.ends_at is not None
    # the bot's words are the stored values
    assert money(discount.price_cents) in reply, reply
    assert money(regular) in reply
    assert "next 3 box(es)" in reply
    assert discount.at.strftime("%Y-%m-%d") in reply
    assert discount.ends_at.strftime("%Y-%m-%d") in reply


@pytest.fixture()
def console(
    shop_url: str, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    """The founder's console (the real web app) on this stack's store, signed in."""
    from web import settings as web_settings
    from web.app import create_app
    from web.console import facts, routes

    work = tmp_path_factory.mktemp("console")
    monkeypatch.setenv("SHOP_DATABASE_URL", shop_url)
    monkeypatch.setenv("CONSOLE_PASSWORD", PASSWORD)
    monkeypatch.setenv("CONSOLE_USER", "founder")
    monkeypatch.setenv("SESSION_SECRET", "e2e-session-secret-" + "y" * 24)
    monkeypatch.setenv("CONSOLE_WORK_DIR", str(work))
    monkeypatch.setenv("RASA_JWT_SECRET", JWT_SECRET)
    for name in ("CONSOLE_SECURE_COOKIES", "CONSOLE_LOGIN_PER_MINUTE", "PROFILE"):
        monkeypatch.setenv(name, "")

    def reset() -> None:
        web_settings.get_settings.cache_clear()
        routes.dispose_engines()
        facts.SCORES.reset()

    reset()
    with TestClient(create_app(), base_url="http://localhost") as client:
        page = client.get("/console/login")
        token = CSRF_RE.search(page.text)
        assert token
        login = client.post(
            "/console/login",
            data={"username": "founder", "password": PASSWORD, "csrf_token": token.group(1)},
            follow_redirects=False,
        )
        assert login.status_code == 303
        yield client
    reset()


def bot_texts_in_tracker(rasa_url: str, sender: str) -> list[str]:
    response = httpx.get(
        f"{rasa_url}/conversations/{sender}/tracker",
        headers={"Authorization": f"Bearer {founder_jwt()}"},
        timeout=30,
    )
    response.raise_for_status()
    return [e.get("text") or "" for e in response.json()["events"] if e.get("event") == "bot"]


def test_refund_confirmed_filed_decided_and_asked_about(
    rasa: Process,
    secret: str,
    shop_url: str,
    console: TestClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from web import settings as web_settings

    monkeypatch.setenv("RASA_URL", rasa.url)
    web_settings.get_settings.cache_clear()
    customer = pick_customer(shop_url, USED)
    sender, who = f"e2e-refund-{uuid.uuid4().hex[:8]}", identity(customer, secret)

    def refunds() -> list[RefundRequest]:
        with Session(create_engine(shop_url)) as session:
            found = session.scalars(select(Customer).where(Customer.external_id == customer))
            return repo.refund_requests_of(session, found.one().id)

    before = len(refunds())
    asked = texts(say(rasa.url, sender, "I want a refund for my last order", who))
    assert "Shall I open a refund request for order" in asked, asked
    assert len(refunds()) == before  # asking files nothing
    filed = texts(say(rasa.url, sender, "yes", who))
    assert "I've opened refund request #" in filed, filed
    [request] = [r for r in refunds() if r.sender_id == sender]
    assert request.status == "open" and request.language == "en"
    assert f"#{request.id}" in filed
    status = texts(say(rasa.url, sender, "what happened to my refund?", who))
    assert f"#{request.id}" in status and "still being reviewed" in status, status

    # the founder approves it in the console; the customer is told in their conversation
    page = console.get("/console/requests")
    assert f'data-id="{request.id}"' in page.text
    csrf = CSRF_RE.search(page.text)
    assert csrf
    decided = console.post(
        f"/console/requests/refunds/{request.id}/decide",
        data={"csrf_token": csrf.group(1), "decision": "approve", "note": "Back on your card"},
        follow_redirects=False,
    )
    assert decided.status_code == 303 and "msg=" in decided.headers["location"], decided.headers
    [request] = [r for r in refunds() if r.sender_id == sender]
    assert request.status == "approved" and request.notified_at is not None
    told = [t for t in bot_texts_in_tracker(rasa.url, sender) if t.startswith("Good news")]
    assert len(told) == 1 and f"#{request.id}" in told[0] and "Back on your card" in told[0]

    # the customer's next REST call brings the founder's decision first (marked as the
    # founder's), then the bot's answer from the stored status: the same words
    later = say(rasa.url, sender, "what happened to my refund?", who)
    founder = [m["text"] for m in later if m.get("author") == "founder"]
    assert founder == told, later
    bot = texts([m for m in later if m.get("author") != "founder"])
    assert told[0] in bot, bot

    # another customer asking on another conversation learns nothing about it
    other = pick_customer(shop_url, USED)
    theirs = texts(
        say(rasa.url, f"e2e-other-{uuid.uuid4().hex[:8]}", "what happened to my refund?",
            identity(other, secret))
    )  # fmt: skip
    assert f"#{request.id}" not in theirs


def test_declining_a_refund_files_nothing(rasa: Process, secret: str, shop_url: str) -> None:
    customer = pick_customer(shop_url, USED)
    sender, who = f"e2e-norefund-{uuid.uuid4().hex[:8]}", identity(customer, secret)
    assert "Shall I open a refund" in texts(say(rasa.url, sender, "I want a refund", who))
    assert "I haven't filed anything" in texts(say(rasa.url, sender, "no", who))
    with Session(create_engine(shop_url)) as session:
        filed = session.scalars(select(RefundRequest).where(RefundRequest.sender_id == sender))
        assert filed.all() == []


def test_an_account_change_goes_to_the_founder_after_a_yes(
    rasa: Process,
    secret: str,
    shop_url: str,
    console: TestClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from web import settings as web_settings

    monkeypatch.setenv("RASA_URL", rasa.url)
    web_settings.get_settings.cache_clear()
    customer = pick_customer(shop_url, USED)
    sender, who = f"e2e-account-{uuid.uuid4().hex[:8]}", identity(customer, secret)
    asked = texts(say(rasa.url, sender, "I moved, please update my shipping address", who))
    assert "shall I pass this request to the founder?" in asked, asked
    filed = texts(say(rasa.url, sender, "yes", who))
    assert "I've passed your request (#" in filed, filed
    with Session(create_engine(shop_url)) as session:
        [change] = session.scalars(
            select(ChangeRequest).where(ChangeRequest.sender_id == sender)
        ).all()
    assert (change.kind, change.status) == ("account_details", "open")
    assert f"#{change.id}" in filed

    page = console.get("/console/requests")
    csrf = CSRF_RE.search(page.text)
    assert csrf and f"/console/requests/changes/{change.id}/decide" in page.text
    decided = console.post(
        f"/console/requests/changes/{change.id}/decide",
        data={"csrf_token": csrf.group(1), "decision": "approve", "note": "Updated"},
        follow_redirects=False,
    )
    assert decided.status_code == 303 and "msg=" in decided.headers["location"]
    # the customer fetches it without sending a message (REST's pending messages)
    fetched = httpx.post(
        f"{rasa.url}/webhooks/rest/pending", json={"sender": sender, "metadata": who}, timeout=30
    )
    fetched.raise_for_status()
    founder = [m["text"] for m in fetched.json() if m.get("author") == "founder"]
    assert len(founder) == 1, fetched.json()
    assert founder[0].startswith(f"Your request #{change.id} to change your account details")
    assert 'The founder\'s note: "Updated"' in founder[0]
