"""The conversation loop end to end: the real Rasa server publishes events, the real ingest
worker stores them redacted with features and live risk, survives a SIGKILL mid-stream, and
the production path consumes the real RabbitMQ."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pika
import pytest
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.orm import Session

from analytics.brain.conversation_features import customer_conversation_features
from analytics.brain.sentiment import default_scorer
from analytics.demo.customers import DEMO_EN, DEMO_VIP_AT_RISK
from analytics.loop.ingest.mapping import event_key
from analytics.store.db import make_engine
from analytics.store.models import Conversation, Customer, LiveRisk
from tests.e2e.stack import Process, identity, rasa_server_with, say
from tests.e2e.stack import ingest_worker as worker
from tests.e2e.stack import wait_for as _wait
from tests.services import require_rabbitmq, stored_messages

pytestmark = pytest.mark.e2e

LAG_LIMIT_S = 5.0


@pytest.fixture(scope="module", autouse=True)
def _sentiment_model_cached() -> None:
    """Train (or load) the sentiment model once, so workers start from the cache."""
    default_scorer().score("预热")


def _risk(engine: Engine, external_id: str) -> LiveRisk | None:
    with Session(engine) as session:
        cid = session.scalars(select(Customer.id).where(Customer.external_id == external_id)).one()
        return session.get(LiveRisk, cid)


def _expected_keys(events_db: Path, sender: str) -> set[str]:
    import json

    engine = create_engine(f"sqlite:///{events_db}")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT data FROM events WHERE sender_id = :s"), {"s": sender})
        events = [json.loads(r[0]) for r in rows]
    engine.dispose()
    return {
        event_key(e["sender_id"], e["event"], e["timestamp"])
        for e in events
        if e["event"] in ("user", "bot")
    }


@pytest.fixture(scope="module")
def store(shop_url: str) -> Iterator[Engine]:
    """The e2e stack's store."""
    engine = make_engine(shop_url)
    yield engine
    engine.dispose()


def test_scripted_conversation_becomes_redacted_messages_features_and_live_risk(
    rasa: Process, env: dict[str, str], stack_dir: Path, secret: str, store: Engine
) -> None:
    sender = f"loop-{uuid.uuid4().hex[:8]}"
    who = {
        **identity(DEMO_VIP_AT_RISK, secret),
    }
    script = [
        "你好",
        "我的订单到哪了",
        "我的电话是13812345678，帮我查一下订单到哪了",
        "我的订单到哪了？",
        "太失望了，快递太慢了",
    ]
    lags: list[float] = []
    risks: list[float] = []
    reasons: list[list[dict[str, Any]]] = []
    with worker(env, stack_dir, "--source", "sql", "--events-db", str(stack_dir / "events.db")):
        for k, line in enumerate(script):
            say(rasa.url, sender, line, who)
            sent = time.monotonic()
            _wait(
                lambda k=k: (
                    len([m for m in stored_messages(store, sender) if m.role == "user"]) > k
                ),
                60,
                line,
            )
            lags.append(time.monotonic() - sent)
            risk = _risk(store, DEMO_VIP_AT_RISK)
            if k >= 1:
                assert risk is not None and risk.sender_id == sender
                risks.append(risk.score)
                reasons.append(risk.reasons)
    assert max(lags[1:]) < LAG_LIMIT_S, lags  # the first one includes the worker's start
    stored = stored_messages(store, sender)
    users = [m for m in stored if m.role == "user"]
    bots = [m for m in stored if m.role == "bot"]
    assert len(users) == len(script) and len(bots) >= len(script)
    assert all("13812345678" not in m.text for m in stored)
    assert "[PHONE]" in users[2].text
    assert [m.intent for m in users[1:4]] == ["order_status"] * 3
    assert users[4].sentiment is not None and users[4].sentiment < -0.3
    assert any(m.action == "action_order_status" for m in bots)
    with Session(store) as session:
        conv = session.scalars(select(Conversation).where(Conversation.sender_id == sender)).one()
        customer = session.get(Customer, conv.customer_id)
        assert customer is not None and customer.external_id == DEMO_VIP_AT_RISK
        features = customer_conversation_features(
            session, customer.id, users[-1].created_at + timedelta(seconds=1)
        )
    assert features["order_status_7d"] >= 3 and features["contacts_30d"] >= 1
    risk = _risk(store, DEMO_VIP_AT_RISK)
    assert risk is not None
    codes = [r["code"] for r in risk.reasons]
    assert "upset" in codes
    assert risks[-1] > risks[0]
    third_question = {r["code"]: r for r in reasons[2]}  # after the third "where is it?"
    assert third_question["order_status_repeat"]["en"].endswith("three times this week")
    assert "三次" in third_question["order_status_repeat"]["zh"]
    assert risk.features["order_status_7d"] >= 3


def test_worker_killed_mid_conversation_loses_and_duplicates_nothing(
    rasa: Process, env: dict[str, str], stack_dir: Path, secret: str, store: Engine
) -> None:
    sender = f"loop-kill-{uuid.uuid4().hex[:8]}"
    who = identity(DEMO_EN, secret)
    lines = ["hi", "where is my order?", "how much is the oolong?", "what do you recommend?",
             "thanks!", "my email is emily@example.com", "where is my order?", "bye"]  # fmt: skip
    events_db = stack_dir / "events.db"
    with worker(
        env, stack_dir, "--source", "sql", "--events-db", str(events_db), name="ingest-kill"
    ) as w:
        for line in lines[:4]:
            say(rasa.url, sender, line, who)
        _wait(lambda: stored_messages(store, sender), 60, "the first messages")
        w.send_signal(signal.SIGKILL)
        w.wait(timeout=30)
    for line in lines[4:]:  # the customer goes on talking while the worker is down
        say(rasa.url, sender, line, who)
    with worker(
        env, stack_dir, "--source", "sql", "--events-db", str(events_db), name="ingest-kill2"
    ):
        expected = _expected_keys(events_db, sender)
        _wait(
            lambda: {m.event_key for m in stored_messages(store, sender)} == expected,
            90,
            "catch-up",
        )
        time.sleep(1.0)  # a re-read would show up now
        stored = stored_messages(store, sender)
    assert len(stored) == len(expected) == len({m.event_key for m in stored})
    assert len([m for m in stored if m.role == "user"]) == len(lines)
    assert all("emily@example.com" not in m.text for m in stored)


@pytest.mark.rabbitmq
def test_rabbitmq_path_with_the_real_rasa_pika_broker(
    env: dict[str, str], actions_proc: Process, tmp_path: Path, secret: str, store: Engine
) -> None:
    require_rabbitmq()
    suffix = uuid.uuid4().hex[:8]
    queue, exchange = f"loop_events_{suffix}", f"loop-exchange-{suffix}"
    endpoints = tmp_path / "endpoints.pika.yml"
    endpoints.write_text(
        f"action_endpoint:\n  url: {actions_proc.url}/webhook\n"
        "tracker_store:\n  type: SQL\n  dialect: sqlite\n"
        f"  db: {tmp_path / 'tracker.db'}\n"
        "event_broker:\n  type: pika\n  url: 127.0.0.1\n  username: guest\n  password: guest\n"
        f"  exchange_name: {exchange}\n  queues:\n    - {queue}\n",
        encoding="utf-8",
    )
    wenv = dict(env, RABBITMQ_QUEUE=queue, RABBITMQ_EXCHANGE=exchange)
    sender = f"loop-rmq-{suffix}"
    who = identity(DEMO_EN, secret)
    try:
        with worker(wenv, tmp_path, "--source", "rabbitmq", name="ingest-rmq") as w:
            with rasa_server_with(env, tmp_path, endpoints) as rasa:
                say(rasa.url, sender, "where is my order?", who)
                _wait(
                    lambda: len(stored_messages(store, sender)) >= 2, 60, "first turn via RabbitMQ"
                )
                w.send_signal(signal.SIGKILL)  # crash with the broker holding the rest
                w.wait(timeout=30)
                say(rasa.url, sender, "call me on +44 20 7946 0958", who)
                say(rasa.url, sender, "thanks!", who)
                with worker(wenv, tmp_path, "--source", "rabbitmq", name="ingest-rmq2"):
                    _wait(
                        lambda: (
                            len([m for m in stored_messages(store, sender) if m.role == "user"])
                            == 3
                        ),
                        60,
                        "redelivered turns",
                    )
                    time.sleep(1.0)
        stored = stored_messages(store, sender)
        assert len({m.event_key for m in stored}) == len(stored)
        assert [m.role for m in stored].count("user") == 3
        assert all("7946" not in m.text for m in stored)
        with Session(store) as session:
            conv = session.scalars(
                select(Conversation).where(Conversation.sender_id == sender)
            ).one()
            assert conv.customer_id is not None
    finally:
        connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1"))
        channel = connection.channel()
        channel.queue_delete(queue=queue)
        channel.exchange_delete(exchange=exchange)
        connection.close()
