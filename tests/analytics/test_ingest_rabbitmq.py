"""The RabbitMQ consumer against the real local RabbitMQ: manual acks, a failing batch is
requeued, a killed worker loses and duplicates nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pika
import pytest
from sqlalchemy import Engine, func, select

from analytics.db import make_engine, make_sessionmaker, upgrade_to_head
from analytics.generator import write_shop
from analytics.ingest.mapping import map_event
from analytics.ingest.rabbitmq import RabbitConfig, RabbitMQConsumer, declare
from analytics.ingest.synthetic import synthetic_stream
from analytics.ingest.writer import IngestWriter
from analytics.models import Conversation, Message
from tests.analytics.conftest import REFERENCE
from tests.services import require_rabbitmq

pytestmark = pytest.mark.rabbitmq

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, small_shop) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    """A seeded SQLite store for this module."""
    url = f"sqlite:///{tmp_path_factory.mktemp('rabbit') / 'store.db'}"
    upgrade_to_head(url)
    engine = make_engine(url)
    write_shop(engine, small_shop)
    yield engine
    engine.dispose()


@pytest.fixture
def config() -> Iterator[RabbitConfig]:
    """A private exchange and queue (deleted afterwards), declared like Rasa's."""
    require_rabbitmq()
    suffix = uuid.uuid4().hex[:8]
    cfg = RabbitConfig(queue=f"test_rasa_events_{suffix}", exchange=f"test-rasa-exchange-{suffix}")
    connection = pika.BlockingConnection(cfg.parameters())
    channel = connection.channel()
    declare(channel, cfg)
    try:
        yield cfg
    finally:
        channel.queue_delete(queue=cfg.queue)
        channel.exchange_delete(exchange=cfg.exchange)
        connection.close()


def _publish(cfg: RabbitConfig, events: list[dict[str, Any]]) -> None:
    """Publish like Rasa's Pika broker: persistent JSON messages to the fanout exchange."""
    connection = pika.BlockingConnection(cfg.parameters())
    channel = connection.channel()
    props = pika.BasicProperties(delivery_mode=2, app_id="rasa", content_type="application/json")
    for event in events:
        channel.basic_publish(cfg.exchange, "", json.dumps(event).encode(), props)
    connection.close()


def _queue_depth(cfg: RabbitConfig) -> int:
    connection = pika.BlockingConnection(cfg.parameters())
    depth = connection.channel().queue_declare(queue=cfg.queue, durable=True, passive=True)
    connection.close()
    return int(depth.method.message_count)


def _stored(engine: Engine, keys: set[str]) -> int:
    with make_sessionmaker(engine)() as session:
        n = session.scalar(
            select(func.count()).select_from(Message).where(Message.event_key.in_(list(keys)))
        )
    return int(n or 0)


def _keys(events: list[dict[str, Any]]) -> set[str]:
    return {m.event_key for m in map(map_event, events) if m is not None and m.kind != "action"}


def test_consumer_stores_and_acknowledges(store: Engine, config: RabbitConfig) -> None:
    events = list(
        synthetic_stream(
            60, customers=["cus_0001"], start_ts=REFERENCE.timestamp(), seed=11
        )
    )
    _publish(config, events)
    writer = IngestWriter(make_sessionmaker(store))
    stats = RabbitMQConsumer(writer, config, batch_size=100, max_wait=0.1).run(max_idle=1.0)
    assert stats.events == len(events)
    assert _stored(store, _keys(events)) == len(_keys(events))
    assert _queue_depth(config) == 0
    _publish(config, events[:30])  # redelivered duplicates store nothing
    again = RabbitMQConsumer(writer, config, batch_size=100, max_wait=0.1).run(max_idle=1.0)
    assert again.messages == 0 and again.duplicates == 10


def test_killed_worker_loses_and_duplicates_nothing(
    store: Engine, config: RabbitConfig, tmp_path: Path
) -> None:
    events = list(
        synthetic_stream(
            700,
            customers=["cus_0003"],
            start_ts=REFERENCE.timestamp() + 2e4,
            seed=13,
        )
    )
    keys = _keys(events)
    _publish(config, events[:2000])
    env = dict(
        os.environ,
        SHOP_DATABASE_URL=str(store.url),
        PYTHONPATH=str(REPO),
        RABBITMQ_QUEUE=config.queue,
        RABBITMQ_EXCHANGE=config.exchange,
    )
    cmd = [
        sys.executable,
        "-m",
        "analytics.ingest",
        "--source",
        "rabbitmq",
        "--batch-size",
        "100",
        "--poll-interval",
        "0.05",
    ]
    with (tmp_path / "w1.log").open("wb") as log:
        worker = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and _stored(store, keys) < 150:
                assert worker.poll() is None, (tmp_path / "w1.log").read_text()
                time.sleep(0.05)
            _publish(config, events[2000:3000])
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=30)
        finally:
            if worker.poll() is None:
                worker.kill()
    at_kill = _stored(store, keys)
    assert 0 < at_kill < len(keys)
    _publish(config, events[3000:])
    with (tmp_path / "w2.log").open("wb") as log:
        done = subprocess.run(
            cmd + ["--max-idle", "1.5"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=300,
        )
    assert done.returncode == 0, (tmp_path / "w2.log").read_text()
    assert _stored(store, keys) == len(keys)
    with make_sessionmaker(store)() as session:
        total = session.scalar(
            select(func.count())
            .select_from(Message)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Conversation.sender_id.like("synthetic-13-%"))
        )
    assert total == len(keys), "a message was stored twice"
    assert _queue_depth(config) == 0
