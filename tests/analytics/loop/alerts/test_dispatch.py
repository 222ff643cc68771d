"""The dispatcher on SQLite and PostgreSQL: sends the outbox through real notifiers to
local fakes, retries with exponential back-off, honours retry_after, fails after the last
attempt, and loses nothing when a dispatcher dies mid-send; the ``alerts`` process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from analytics.loop.alerts.dispatch import Dispatcher, backoff
from analytics.loop.alerts.message import AlertFacts, render
from analytics.loop.alerts.notifiers.telegram import TelegramNotifier
from analytics.loop.alerts.notifiers.wecom import WeComNotifier
from analytics.store.db import make_sessionmaker
from analytics.store.models import AlertDelivery, Conversation, Customer, FounderAlert
from analytics.store.repositories.alerts import (
    alert_by_platform_message,
    alerts_of_conversation,
    claim_due_deliveries,
    create_alert,
)
from tests.analytics.loop.alerts.conftest import Chat, Clock, vip_external
from tests.channels.fakes.telegram import FakeTelegram
from tests.channels.fakes.wecom import AGENT_ID, CORP_ID, SECRET, FakeWeCom

pytestmark = pytest.mark.channels

REPO = Path(__file__).resolve().parents[4]
CHAT_ID = "424242"
FOUNDER = "founder.li"
T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def wecom() -> Iterator[FakeWeCom]:
    with FakeWeCom() as fake:
        yield fake


def file_alert(engine: Engine, channels: tuple[str, ...], at: datetime = T0) -> int:
    """A customer, a conversation and one alert on ``channels`` (committed); its id."""
    with make_sessionmaker(engine)() as session, session.begin():
        customer = session.scalars(select(Customer).where(Customer.external_id == "cus_9")).first()
        if customer is None:
            customer = Customer(
                external_id="cus_9",
                name="李娜",
                email="li@example.test",
                language="zh",
                city="上海",
                created_at=at,
                acquisition_channel="organic",
                acquisition_cost_cents=0,
            )
            session.add(customer)
            session.flush()
        conversation = Conversation(
            sender_id=f"d-{at.timestamp()}-{len(channels)}",
            customer_id=customer.id,
            channel="web",
            language="zh",
            started_at=at,
            last_message_at=at,
            status="open",
        )
        session.add(conversation)
        session.flush()
        alert = create_alert(
            session,
            conversation_id=conversation.id,
            sender_id=conversation.sender_id,
            customer_id=customer.id,
            reasons=["cancel_intent"],
            channels=channels,
            at=at,
            segment="loyal",
            risk=0.7,
        )
        text = render(
            AlertFacts(
                alert.ref,
                conversation.id,
                customer.name,
                customer.external_id,
                "loyal",
                0.7,
                "high",
                ["cancel_intent"],
            ),
            "https://console.example.test",
        )
        alert.title, alert.text, alert.link = text.title, text.text, text.link
        return alert.id


def deliveries(engine: Engine, alert_id: int) -> dict[str, AlertDelivery]:
    with Session(engine) as session:
        rows = session.scalars(select(AlertDelivery).where(AlertDelivery.alert_id == alert_id))
        out = {d.channel: d for d in rows}
        session.expunge_all()
        return out


def alert_state(engine: Engine, alert_id: int) -> str:
    with Session(engine) as session:
        alert = session.get(FounderAlert, alert_id)
        assert alert is not None
        return alert.state


def test_pending_deliveries_are_sent_on_each_channel(
    empty_store: Engine, telegram: FakeTelegram, wecom: FakeWeCom
) -> None:
    alert_id = file_alert(empty_store, ("telegram", "wecom"))
    notifiers = {
        "telegram": TelegramNotifier(telegram.token, CHAT_ID, telegram.url),
        "wecom": WeComNotifier(CORP_ID, SECRET, int(AGENT_ID), FOUNDER, wecom.url),
    }
    clock = Clock(T0)
    dispatcher = Dispatcher(make_sessionmaker(empty_store), notifiers, now=clock)
    assert dispatcher.run_once() == 2
    assert dispatcher.run_once() == 0  # sent once, not again
    (text,) = telegram.sent_texts(CHAT_ID)
    assert text.startswith("#A") and "\n【叶与豆 · 客户提醒 A" in text  # the ref on top
    assert wecom.sent_texts(FOUNDER) == [text]
    sent = deliveries(empty_store, alert_id)
    assert {d.state for d in sent.values()} == {"sent"}
    assert all(d.attempts == 1 and d.sent_at == T0 and d.error is None for d in sent.values())
    assert alert_state(empty_store, alert_id) == "sent"
    with Session(empty_store) as session:
        message_id = sent["telegram"].platform_message_id
        assert message_id is not None
        found = alert_by_platform_message(session, "telegram", message_id)
        assert found is not None and found.id == alert_id
        assert alert_by_platform_message(session, "wecom", message_id) is None
    dispatcher.close()


def test_an_alert_the_ingest_filed_is_sent_by_a_dispatcher_started_later(
    scored: Engine, chat: Chat, clock: Clock, telegram: FakeTelegram, wecom: FakeWeCom
) -> None:
    sender = f"al-restart-{scored.dialect.name}"
    chat.say(
        sender, vip_external(scored), "I want to cancel my subscription", "cancel_subscription"
    )
    # the worker "crashed" right after its commit: a new process with a new session factory
    notifiers = {
        "telegram": TelegramNotifier(telegram.token, CHAT_ID, telegram.url),
        "wecom": WeComNotifier(CORP_ID, SECRET, int(AGENT_ID), FOUNDER, wecom.url),
    }
    Dispatcher(make_sessionmaker(scored), notifiers, now=clock).run_once()
    with Session(scored) as session:
        conversation = session.scalars(
            select(Conversation).where(Conversation.sender_id == sender)
        ).one()
        (alert,) = alerts_of_conversation(session, conversation.id)
        assert alert.state == "sent"
        assert telegram.sent_texts(CHAT_ID) == [alert.text] == wecom.sent_texts(FOUNDER)


def test_retries_back_off_and_honour_retry_after(
    empty_store: Engine, telegram: FakeTelegram
) -> None:
    alert_id = file_alert(empty_store, ("telegram",))
    clock = Clock(T0)
    notifier = TelegramNotifier(telegram.token, CHAT_ID, telegram.url)
    dispatcher = Dispatcher(make_sessionmaker(empty_store), {"telegram": notifier}, now=clock)
    telegram.fail_next(2, 500, json={"ok": False, "error_code": 500, "description": "Internal"})
    assert dispatcher.run_once() == 1
    first = deliveries(empty_store, alert_id)["telegram"]
    assert (first.state, first.attempts) == ("pending", 1)
    assert first.next_attempt_at == T0 + backoff(1) == T0 + timedelta(seconds=10)
    assert first.error is not None and "500" in first.error and telegram.token not in first.error
    assert dispatcher.run_once() == 0  # not due yet
    clock.advance(seconds=10)
    assert dispatcher.run_once() == 1
    assert deliveries(empty_store, alert_id)["telegram"].next_attempt_at == clock.now + timedelta(
        seconds=20
    )
    telegram.rate_limit_next(1, retry_after=120)
    clock.advance(seconds=20)
    assert dispatcher.run_once() == 1  # rate limited: waits what Telegram asked
    assert deliveries(empty_store, alert_id)["telegram"].next_attempt_at == clock.now + timedelta(
        seconds=120
    )
    clock.advance(seconds=120)
    assert dispatcher.run_once() == 1
    done = deliveries(empty_store, alert_id)["telegram"]
    assert (done.state, done.attempts, done.error) == ("sent", 4, None)
    assert len(telegram.sent_texts(CHAT_ID)) == 4
    assert [backoff(n) for n in (1, 2, 3, 7, 8, 30)] == [
        timedelta(seconds=s) for s in (10, 20, 40, 600, 600, 600)
    ]


def test_a_delivery_fails_after_the_last_attempt_or_a_final_error(
    empty_store: Engine, telegram: FakeTelegram
) -> None:
    alert_id = file_alert(empty_store, ("telegram", "slack"))
    clock = Clock(T0)
    good = TelegramNotifier(telegram.token, CHAT_ID, telegram.url)
    dispatcher = Dispatcher(
        make_sessionmaker(empty_store), {"telegram": good}, max_attempts=3, now=clock
    )
    telegram.fail_next(5, 503, json={"ok": False, "error_code": 503, "description": "down"})
    for _ in range(3):  # slack is not configured here: retried like an outage
        dispatcher.run_once()
        clock.advance(minutes=10)
    assert dispatcher.run_once() == 0
    failed = deliveries(empty_store, alert_id)
    assert {(d.state, d.attempts) for d in failed.values()} == {("failed", 3)}
    assert "not configured" in (failed["slack"].error or "")
    assert alert_state(empty_store, alert_id) == "failed"
    telegram.reset()
    other = file_alert(empty_store, ("telegram",), at=clock.now)
    wrong = TelegramNotifier("1:forged", CHAT_ID, telegram.url)
    Dispatcher(make_sessionmaker(empty_store), {"telegram": wrong}, now=clock).run_once()
    refused = deliveries(empty_store, other)["telegram"]
    assert (refused.state, refused.attempts) == ("failed", 1)  # a bad token is not retried
    assert "forged" not in (refused.error or "")


def test_a_dispatcher_that_dies_mid_send_loses_nothing(
    empty_store: Engine, telegram: FakeTelegram
) -> None:
    alert_id = file_alert(empty_store, ("telegram",))
    clock = Clock(T0)
    factory = make_sessionmaker(empty_store)
    with factory() as session, session.begin():  # claimed, then the process dies
        (claimed,) = claim_due_deliveries(session, clock.now, lease=timedelta(seconds=90))
        assert claimed.attempts == 1
    notifier = TelegramNotifier(telegram.token, CHAT_ID, telegram.url)
    dispatcher = Dispatcher(factory, {"telegram": notifier}, now=clock)
    assert dispatcher.run_once() == 0  # leased to the dead one
    clock.advance(seconds=90)
    assert dispatcher.run_once() == 1
    sent = deliveries(empty_store, alert_id)["telegram"]
    assert (sent.state, sent.attempts) == ("sent", 2)
    assert len(telegram.sent_texts(CHAT_ID)) == 1


def test_the_alerts_process_sends_skips_unconfigured_channels_and_stops_on_sigterm(
    sqlite_url: str, telegram: FakeTelegram
) -> None:
    from analytics.store.db import make_engine, upgrade_to_head

    upgrade_to_head(sqlite_url)
    engine = make_engine(sqlite_url)
    try:
        alert_id = file_alert(engine, ("telegram",), at=datetime.now(UTC))
        env = {
            **os.environ,
            "SHOP_DATABASE_URL": sqlite_url,
            "ALERT_CHANNELS": "telegram,feishu",
            "TELEGRAM_ALERT_BOT_TOKEN": telegram.token,
            "TELEGRAM_ALERT_CHAT_ID": CHAT_ID,
            "TELEGRAM_API_URL": telegram.url,
            "FEISHU_ALERT_WEBHOOK_URL": "",
            "FEISHU_ALERT_SECRET": "",
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "analytics.loop.alerts", "--poll", "0.2"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            telegram.wait_for_calls(1, "sendMessage", timeout=30)
            deadline = time.monotonic() + 10
            while deliveries(engine, alert_id)["telegram"].state != "sent":
                assert time.monotonic() < deadline
                time.sleep(0.1)
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=15)
        finally:
            if process.poll() is None:
                process.kill()
        assert process.returncode == 0
        assert "Alert channel feishu is in ALERT_CHANNELS but skipped" in output
        assert "sent on telegram" in output and "Alert dispatcher stopped" in output
        assert telegram.token not in output and "客户" not in output
    finally:
        engine.dispose()
