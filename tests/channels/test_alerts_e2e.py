"""Founder alerts end to end: an at-risk VIP conversation alerts the founder once on Telegram
and once on WeCom, and the founder's answer from either app reaches the customer.

Everything is real: the channel stack's Rasa and action servers (``channel_stack``), the
ingest worker (it files the alert in the store, the outbox), the alert dispatcher
(``python -m analytics.loop.alerts``, ``ALERT_CHANNELS=telegram,wecom``) and the web app
(``/founder/hooks/<kind>``, the console's take-over path to Rasa's founder route). The
founder's alert apps are fakes of the Telegram Bot API and the WeCom API
(:mod:`tests.channels.fakes.founder_apps`): the dispatcher sends them the alert, and they
deliver the founder's reply to the web app signed (Telegram's secret token) or encrypted
and signed (WeCom, by wechatpy) as the platforms do. The ingest worker, the dispatcher and
the web app work on a scored copy of the stack's seeded store, so the other channel tests'
store is left as it was.

The VIP is the seeded customer with the highest lifetime value. On REST they get angry,
ask to cancel and ask for a person (three triggers: still one alert); the founder replies
to the Telegram alert (the answer waits for them at ``/webhooks/rest/pending``) and then
writes ``#<ref> ...`` in WeCom. A second VIP links their Telegram account and complains
there: the founder's reply reaches their Telegram chat.
"""

from __future__ import annotations

import secrets
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from analytics.core.identity import sign_link_code
from analytics.core.settings import get_settings
from analytics.core.vocabulary import SEGMENT_NAMES
from analytics.loop.alerts.rules import AlertRules
from analytics.store.db import make_engine, make_sessionmaker
from analytics.store.models import ROLE_FOUNDER, Conversation, Customer, CustomerScore, Message
from analytics.store.models.alerts import FounderAlert
from tests.channels.conftest import ChannelStack
from tests.channels.fakes.founder_apps import (
    FOUNDER_CHAT_ID,
    FOUNDER_WECOM_USER,
    FounderTelegram,
    FounderWeCom,
    new_msg_id,
)
from tests.channels.fakes.telegram import FakeTelegram
from tests.channels.fakes.wecom import message_xml
from tests.e2e.stack import REPO, free_port, identity, ingest_worker, say, start, wait_for

pytestmark = [pytest.mark.channels, pytest.mark.e2e]

CONSOLE_URL = "https://console.example.test"
ALERT_TIMEOUT_S = 90.0
REPLY_TIMEOUT_S = 60.0
#: How long the test waits for a second (wrong) alert after the first one.
QUIET_S = 4.0
SENT = ("已发送给客户", "Sent to the customer")
ANGRY = "This is terrible, the worst service ever. I am really angry and disappointed!"
CANCEL = "I want to cancel my subscription."
HUMAN = "Let me talk to a real person please."


@dataclass
class AlertStack:
    """The channel stack plus the alert processes and the web app."""

    channels: ChannelStack
    web_url: str
    telegram: FounderTelegram
    wecom: FounderWeCom
    env: dict[str, str]
    shop_url: str


@contextmanager
def dispatcher(env: dict[str, str], workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Runs ``python -m analytics.loop.alerts`` (polling fast); SIGTERM at the end."""
    with (workdir / "alerts.log").open("ab") as log:
        popen = subprocess.Popen(
            [sys.executable, "-m", "analytics.loop.alerts", "--poll", "0.2"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield popen
        finally:
            popen.terminate()
            try:
                popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                popen.kill()


@pytest.fixture(scope="module")
def alerts(
    channel_stack: ChannelStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AlertStack]:
    """Ingest worker, alert dispatcher and web app on the channel stack's store and Rasa."""
    workdir = tmp_path_factory.mktemp("alerts_e2e")
    # The loop's store is a copy of the channel stack's seeded shop, scored here (who is a
    # VIP: the seed alone scores no one): the other channel tests' store stays as it was.
    shop = workdir / "shop.db"
    source = channel_stack.shop_url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(shop)) as dst:
        src.backup(dst)
    shop_url = f"sqlite:///{shop}"
    with FounderTelegram() as telegram, FounderWeCom() as wecom:
        env = {
            **channel_stack.env,
            **telegram.env(),  # TELEGRAM_API_URL / WECOM_API_URL: the founder's apps here
            **wecom.env(),
            "ALERT_CHANNELS": "telegram,wecom",
            "CONSOLE_PUBLIC_URL": CONSOLE_URL,
            "SESSION_SECRET": secrets.token_hex(16),
            "CONSOLE_USER": "founder",
            "CONSOLE_PASSWORD": secrets.token_hex(8),
            "CONSOLE_WORK_DIR": str(workdir / "console"),
            "RASA_URL": channel_stack.rasa_url,
            "SHOP_DATABASE_URL": shop_url,
        }
        subprocess.run(
            [sys.executable, "-m", "analytics", "score"],
            cwd=REPO,
            env=env,
            check=True,
            capture_output=True,
        )
        events = str(channel_stack.workdir / "events.db")
        port = free_port()
        with (
            ingest_worker(env, workdir, "--source", "sql", "--events-db", events),
            dispatcher(env, workdir),
        ):
            web = start(
                "web",
                [sys.executable, "-m", "uvicorn", "web.app:create_app", "--factory",
                 "--host", "127.0.0.1", "--port", str(port)],
                env,
                workdir,
                f"http://127.0.0.1:{port}/health",
            )  # fmt: skip
            try:
                yield AlertStack(channel_stack, web.url, telegram, wecom, env, shop_url)  # type: ignore[arg-type]
            finally:
                web.stop()


# --- the store ------------------------------------------------------------------------------


def _session(stack: AlertStack) -> Any:  # noqa: ANN401
    return make_sessionmaker(make_engine(stack.shop_url))()


def vip_customers(stack: AlertStack, n: int) -> list[tuple[str, str, str]]:
    """The ``n`` seeded customers of highest lifetime value: (external id, name, segment)."""
    rules = AlertRules.from_settings(get_settings(stack.env))
    assert rules is not None, "alerts are on in this stack"
    with _session(stack) as db:
        rows = db.execute(
            select(Customer.external_id, Customer.name, CustomerScore)
            .join(CustomerScore, CustomerScore.customer_id == Customer.id)
            .order_by(CustomerScore.clv_cents.desc())
            .limit(n)
        ).all()
        assert all(rules.is_vip(db, score) for _, _, score in rows)
        return [(external, name, score.segment) for external, name, score in rows]


def conversation_of(stack: AlertStack, sender: str) -> int:
    """The stored conversation of a Rasa sender id (waits for the ingest worker)."""

    def stored() -> int | None:
        with _session(stack) as db:
            return db.scalar(select(Conversation.id).where(Conversation.sender_id == sender))

    return int(wait_for(stored, REPLY_TIMEOUT_S, f"conversation {sender} in the store"))


def alerts_of(stack: AlertStack, conversation_id: int) -> list[FounderAlert]:
    """The conversation's alerts."""
    with _session(stack) as db:
        return list(
            db.scalars(select(FounderAlert).where(FounderAlert.conversation_id == conversation_id))
        )


def founder_messages(stack: AlertStack, conversation_id: int) -> list[str]:
    """The founder messages the store recorded for the conversation."""
    with _session(stack) as db:
        return list(
            db.scalars(
                select(Message.text)
                .where(Message.conversation_id == conversation_id, Message.role == ROLE_FOUNDER)
                .order_by(Message.id)
            )
        )


# --- the apps -----------------------------------------------------------------------------------


def link(conversation_id: int) -> str:
    """The console link an alert about the conversation carries."""
    return f"{CONSOLE_URL}/console/conversations/{conversation_id}"


def alert_texts(app: FounderTelegram | FounderWeCom, conversation_id: int) -> list[str]:
    """The alerts (not acknowledgements) about a conversation the founder got in ``app``."""
    return [t for t in app.founder_texts() if link(conversation_id) in t and SENT[1] not in t]


def wait_alert(app: FounderTelegram | FounderWeCom, conversation_id: int) -> str:
    """Waits for the alert about the conversation in ``app``; returns its text."""
    found = wait_for(
        lambda: alert_texts(app, conversation_id),
        ALERT_TIMEOUT_S,
        f"an alert about conversation {conversation_id} in {app.name}",
    )
    return str(found[0])


def acks(app: FounderTelegram | FounderWeCom, ref: str) -> list[str]:
    """The "sent to the customer" acknowledgements of replies to alert ``ref``."""
    return [t for t in app.founder_texts() if SENT[1] in t and f"(#{ref})" in t]


def wait_ack(app: FounderTelegram | FounderWeCom, ref: str) -> str:
    """Waits for the acknowledgement of a reply to alert ``ref``; returns it."""
    found = wait_for(lambda: acks(app, ref), REPLY_TIMEOUT_S, f"the acknowledgement ({ref})")
    return str(found[0])


def pending_founder(stack: AlertStack, sender: str, claim: dict[str, Any]) -> list[str]:
    """The founder messages waiting for a REST customer (fetched: each comes once)."""
    reply = httpx.get(
        f"{stack.channels.rasa_url}/webhooks/rest/pending",
        params={"sender": sender},
        headers={
            "X-Customer-Id": str(claim["customer_id"]),
            "X-Customer-Expires-At": str(claim["expires_at"]),
            "X-Customer-Token": str(claim["customer_token"]),
        },
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    return [m["text"] for m in reply.json() if m.get("author") == "founder"]


def assert_alert_says(text: str, name: str, segment: str, alert: FounderAlert) -> None:
    """The alert names the customer, segment, risk, reasons and links to the console."""
    en, zh = SEGMENT_NAMES[segment]
    assert name in text and en in text and zh in text, text
    assert "wants to cancel" in text and "想取消订阅" in text, text
    assert "risk" in text.lower() and "风险" in text, text
    assert link(alert.conversation_id) in text, text
    assert alert.ref in text, text


# --- the tests ----------------------------------------------------------------------------------


def test_a_vip_on_rest_alerts_once_and_the_founder_answers_from_both_apps(
    alerts: AlertStack,
) -> None:
    (external_id, name, segment), *_ = vip_customers(alerts, 1)
    claim = identity(external_id, alerts.channels.secret)
    sender = f"vip-rest-{secrets.token_hex(4)}"
    rasa = alerts.channels.rasa_url
    for text in ("Hello", ANGRY, CANCEL, HUMAN):
        say(rasa, sender, text, claim)
    conversation_id = conversation_of(alerts, sender)

    telegram_alert = wait_alert(alerts.telegram, conversation_id)
    wecom_alert = wait_alert(alerts.wecom, conversation_id)
    time.sleep(QUIET_S)  # every message ingested and dispatched: still one alert each
    assert len(alert_texts(alerts.telegram, conversation_id)) == 1
    assert len(alert_texts(alerts.wecom, conversation_id)) == 1
    (alert,) = alerts_of(alerts, conversation_id)
    assert {"cancel_intent"} <= set(alert.reasons)
    assert_alert_says(telegram_alert, name, segment, alert)
    assert_alert_says(wecom_alert, name, segment, alert)

    # The founder replies to the Telegram alert: the REST customer gets it.
    alert_message_id = alerts.telegram.message_id_of(alert.ref)
    assert alert_message_id is not None
    first = f"您好，我是店主，马上为您处理。#{secrets.token_hex(2)}"
    update = alerts.telegram.reply_update(first, reply_to=alert_message_id)
    response = alerts.telegram.post_update(alerts.web_url, update)
    assert response.status_code == 200
    assert SENT[0] in wait_ack(alerts.telegram, alert.ref)
    got = wait_for(lambda: pending_founder(alerts, sender, claim), REPLY_TIMEOUT_S, "the reply")
    assert got == [first]
    alerts.telegram.post_update(alerts.web_url, update)  # Telegram delivers it again
    time.sleep(1.0)
    assert pending_founder(alerts, sender, claim) == []
    assert len(acks(alerts.telegram, alert.ref)) == 1

    # Then from WeCom with the ref: it comes with the customer's next message.
    second = f"Your refund is on its way. #{secrets.token_hex(2)}"
    xml = message_xml(FOUNDER_WECOM_USER, f"#{alert.ref} {second}", new_msg_id())
    assert alerts.wecom.post_xml(alerts.web_url, xml).status_code == 200
    assert SENT[0] in wait_ack(alerts.wecom, alert.ref)
    replies = say(rasa, sender, "ok, thanks", claim)  # paused: only the founder's message
    assert [r["text"] for r in replies if r.get("author") == "founder"] == [second]
    assert founder_messages(alerts, conversation_id) == [first, second]
    assert len(alerts_of(alerts, conversation_id)) == 1


def test_a_vip_on_telegram_gets_the_founders_answer_in_their_chat(
    alerts: AlertStack,
) -> None:
    customer_bot = alerts.channels.fakes.get("telegram")
    if not isinstance(customer_bot, FakeTelegram):
        pytest.fail("the customers' Telegram channel is not in the channel stack")
    (_, _, _), (external_id, name, _) = vip_customers(alerts, 2)
    user = 10**9 + secrets.randbelow(10**9)
    code = sign_link_code(external_id, int(time.time()) + 600, alerts.channels.secret)
    for text in (f"/start {code}", ANGRY, CANCEL):
        response = customer_bot.post_update(
            alerts.channels.rasa_url, customer_bot.message_update(text, user)
        )
        assert response.status_code == 200
        time.sleep(0.3)
    sender = f"telegram:{user}"
    conversation_id = conversation_of(alerts, sender)
    assert name in wait_alert(alerts.telegram, conversation_id)
    (alert,) = wait_for(lambda: alerts_of(alerts, conversation_id), REPLY_TIMEOUT_S, "the alert")
    alert_message_id = wait_for(
        lambda: alerts.telegram.message_id_of(alert.ref), REPLY_TIMEOUT_S, "the alert's id"
    )
    answer = f"我是店主，已为您保留订阅优惠。#{secrets.token_hex(2)}"
    update = alerts.telegram.reply_update(answer, reply_to=alert_message_id)
    assert alerts.telegram.post_update(alerts.web_url, update).status_code == 200
    try:
        wait_for(
            lambda: answer in customer_bot.sent_texts(user),
            REPLY_TIMEOUT_S,
            "the founder's answer in the customer's Telegram chat",
        )
    except AssertionError as error:
        raise AssertionError(
            f"{error}\nfounder got: {alerts.telegram.founder_texts()}\n"
            f"customer got: {customer_bot.sent_texts(user)}\n{alerts.channels.rasa.tail(40)}"
        ) from None
    assert customer_bot.sent_texts(user).count(answer) == 1
    assert SENT[0] in wait_ack(alerts.telegram, alert.ref)
    assert str(FOUNDER_CHAT_ID) not in [str(b.get("chat_id")) for b in customer_bot.sent()]
