"""The RabbitMQ consumer against the real local RabbitMQ: manual acks, poison messages go to
the dead queue while consuming goes on, a store that is down gets the batch requeued (not
dead-lettered), a dropped connection is re-established, a killed worker loses and
duplicates nothing."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pika
import pytest
from sqlalchemy import Engine, func, select

from analytics.demo.generator import write_shop
from analytics.loop.ingest import dead_letter
from analytics.loop.ingest.errors import Backoff
from analytics.loop.ingest.mapping import map_event
from analytics.loop.ingest.rabbitmq import RabbitConfig, RabbitMQConsumer, declare
from analytics.loop.ingest.synthetic import synthetic_stream, turn_events
from analytics.loop.ingest.writer import IngestWriter
from analytics.store.db import make_engine, make_sessionmaker, upgrade_to_head
from analytics.store.models import Conversation, Message
from tests.analytics.conftest import REFERENCE
from tests.services import require_rabbitmq

pytestmark = pytest.mark.rabbitmq

REPO = Path(__file__).resolve().parents[3]
FAST = Backoff(initial=0.05, maximum=0.3)


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
        channel.queue_delete(queue=cfg.dead_queue)
        channel.exchange_delete(exchange=cfg.exchange)
        connection.close()


def _publish(cfg: RabbitConfig, events: list[dict[str, Any]] | list[bytes]) -> None:
    """Publish like Rasa's Pika broker: persistent JSON messages to the fanout exchange."""
    connection = pika.BlockingConnection(cfg.parameters())
    channel = connection.channel()
    props = pika.BasicProperties(delivery_mode=2, app_id="rasa", content_type="application/json")
    for event in events:
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        channel.basic_publish(cfg.exchange, "", body, props)
    connection.close()


def _drain_dead(cfg: RabbitConfig) -> list[bytes]:
    """Take every message off the dead queue."""
    connection = pika.BlockingConnection(cfg.parameters())
    channel = connection.channel()
    bodies: list[bytes] = []
    while True:
        method, _props, body = channel.basic_get(cfg.dead_queue, auto_ack=True)
        if method is None:
            break
        bodies.append(body)
    connection.close()
    return bodies


def _until(check: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _start(consumer: RabbitMQConsumer) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    thread.start()
    return thread, stop


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
        synthetic_stream(60, customers=["cus_0001"], start_ts=REFERENCE.timestamp(), seed=11)
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


def test_poison_goes_to_the_dead_queue_and_consuming_goes_on(
    store: Engine, config: RabbitConfig
) -> None:
    first = turn_events("r-poison", "hello", "greet", REFERENCE.timestamp() + 3e4)
    second = turn_events("r-poison", "again", "greet", REFERENCE.timestamp() + 3e4 + 10)
    third = turn_events("r-poison", "still here?", "greet", REFERENCE.timestamp() + 3e4 + 20)
    bad_json = b'\xff{"event": "user", "text": "not json"'
    bad_time = json.dumps({**first[0], "timestamp": 1e300}).encode()
    _publish(config, [*first, bad_json, *second, bad_time])
    consumer = RabbitMQConsumer(
        IngestWriter(make_sessionmaker(store)), config, batch_size=50, max_wait=0.05
    )
    thread, stop = _start(consumer)
    try:
        _until(lambda: _stored(store, _keys(first + second)) == 4)
        _publish(config, third)
        _until(lambda: _stored(store, _keys(third)) == 2)
        assert thread.is_alive()
    finally:
        stop.set()
        thread.join(timeout=30)
    assert consumer.stats.dead_letters == 2
    assert _drain_dead(config) == [bad_json, bad_time]
    assert _queue_depth(config) == 0
    with make_sessionmaker(store)() as session:
        rows = [r for r in dead_letter.recent(session) if r.source == consumer.source]
    assert sorted(r.error.split(":")[0] for r in rows) == ["UnicodeDecodeError", "ValueError"]


def test_store_down_requeues_and_dead_letters_nothing(config: RabbitConfig, tmp_path: Path) -> None:
    """A store without its tables: every batch fails with a store error; it is requeued
    after a back-off, nothing goes to the dead queue, and all is stored once it is ready."""
    url = f"sqlite:///{tmp_path / 'late.db'}"
    engine = make_engine(url)
    events = turn_events("r-down", "hello", "greet", REFERENCE.timestamp() + 4e4)
    _publish(config, events)
    consumer = RabbitMQConsumer(
        IngestWriter(make_sessionmaker(engine)), config, batch_size=50, max_wait=0.05, backoff=FAST
    )
    thread, stop = _start(consumer)
    try:
        _until(lambda: consumer.stats.retries >= 3)
        assert thread.is_alive()
        upgrade_to_head(url)
        _until(lambda: _stored(engine, _keys(events)) == 2)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert consumer.stats.dead_letters == 0 and _drain_dead(config) == []
    with make_sessionmaker(engine)() as session:
        assert dead_letter.count(session) == 0
    engine.dispose()


class _Proxy:
    """A TCP proxy to the local RabbitMQ whose connections the test can cut."""

    def __init__(self, target: tuple[str, int] = ("127.0.0.1", 5672)) -> None:
        self.target = target
        self.refuse = False
        self.sockets: list[socket.socket] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.server.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if self.refuse:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        """Drop every open connection."""
        for s in self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        self.sockets = []

    def close(self) -> None:
        self.cut()
        self.server.close()


def test_dropped_connection_is_reestablished(
    store: Engine, config: RabbitConfig, caplog: pytest.LogCaptureFixture
) -> None:
    proxy = _Proxy()
    via = RabbitConfig(port=proxy.port, queue=config.queue, exchange=config.exchange)
    before = turn_events("r-reconnect", "one", "greet", REFERENCE.timestamp() + 5e4)
    after = turn_events("r-reconnect", "two", "greet", REFERENCE.timestamp() + 5e4 + 10)
    consumer = RabbitMQConsumer(
        IngestWriter(make_sessionmaker(store)), via, batch_size=50, max_wait=0.05, backoff=FAST
    )
    thread, stop = _start(consumer)
    try:
        with caplog.at_level(logging.WARNING, logger="analytics.loop.ingest.rabbitmq"):
            _publish(config, before)
            _until(lambda: _stored(store, _keys(before)) == 2)
            proxy.refuse = True
            proxy.cut()
            _until(lambda: consumer.stats.reconnects >= 3)
            proxy.refuse = False
            _publish(config, after)
            _until(lambda: _stored(store, _keys(after)) == 2)
        assert thread.is_alive()
    finally:
        stop.set()
        thread.join(timeout=30)
        proxy.close()
    assert "reconnect attempt 1 " in caplog.text and "reconnect attempt 3 " in caplog.text
    assert _queue_depth(config) == 0


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
        "analytics.loop.ingest",
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
