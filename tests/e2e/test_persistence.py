"""Conversations survive a restart of Rasa; the production path works on real servers."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx
import pika
import psycopg
import pytest

from analytics.demo.customers import DEMO_ZH, DEMO_ZH_LATEST_ORDER
from tests.e2e.stack import (
    Process,
    founder_jwt,
    identity,
    rasa_server,
    rasa_server_with,
    say,
    texts,
    write_production_endpoints,
)

pytestmark = pytest.mark.e2e


def user_texts(rasa_url: str, sender: str) -> list[str]:
    tracker = httpx.get(
        f"{rasa_url}/conversations/{sender}/tracker",
        headers={"Authorization": f"Bearer {founder_jwt()}"},
        timeout=30,
    ).json()
    return [e["text"] for e in tracker["events"] if e["event"] == "user"]


def test_restarting_rasa_loses_no_conversation(
    env: dict[str, str], actions_proc: Process, tmp_path: Path, secret: str
) -> None:
    sender = f"restart-{uuid.uuid4().hex[:8]}"
    who = identity(DEMO_ZH, secret)
    with rasa_server(env, tmp_path, actions_proc.url) as first:
        say(first.url, sender, "你好", who)
        say(first.url, sender, "我的订单到哪了", who)
    with rasa_server(env, tmp_path, actions_proc.url) as second:
        assert user_texts(second.url, sender) == ["你好", "我的订单到哪了"]
        reply = texts(say(second.url, sender, "我的订单到哪了", who))
        assert DEMO_ZH_LATEST_ORDER in reply


def drain_until(channel, queue: str, sender: str, done, timeout_s: float = 30.0) -> list[dict]:
    """Reads the broker's queue until an event of ``sender`` satisfies ``done``."""
    mine: list[dict] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        method, _, body = channel.basic_get(queue=queue, auto_ack=True)
        if method is None:
            time.sleep(0.2)
            continue
        event = json.loads(body)
        if event.get("sender_id") == sender:
            mine.append(event)
            if done(event):
                return mine
    raise AssertionError(f"no matching event of {sender} on {queue} within {timeout_s} s: {mine}")


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.rabbitmq
def test_production_path_postgres_tracker_redis_lock_rabbitmq_broker(
    env: dict[str, str], actions_proc: Process, tmp_path: Path, secret: str
) -> None:
    suffix = uuid.uuid4().hex[:8]
    tracker_db, queue = f"rasa_e2e_{suffix}", f"rasa_events_e2e_{suffix}"
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{tracker_db}"')
    connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1"))
    channel = connection.channel()
    channel.queue_declare(queue=queue, durable=True)
    try:
        endpoints = write_production_endpoints(tmp_path, actions_proc.url, tracker_db, 3, queue)
        sender = f"prod-{suffix}"
        who = identity(DEMO_ZH, secret)
        with rasa_server_with(env, tmp_path, endpoints) as rasa:
            reply = texts(say(rasa.url, sender, "我的订单到哪了", who))
            mine = drain_until(channel, queue, sender, lambda e: e["event"] == "bot")
        assert DEMO_ZH_LATEST_ORDER in reply
        assert any(e["event"] == "user" and e["text"] == "我的订单到哪了" for e in mine)
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{tracker_db}") as conn:
            rows = conn.execute(
                "SELECT type_name FROM events WHERE sender_id = %s", (sender,)
            ).fetchall()
        assert {"user", "bot"} <= {r[0] for r in rows}
    finally:
        channel.queue_delete(queue=queue)
        connection.close()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{tracker_db}" WITH (FORCE)')
