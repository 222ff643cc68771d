"""End to end: the founder takes a REST conversation over in the console; the reply reaches
that REST customer, once, and nobody else.

Everything is real: a seeded SQLite store, the action server and the Rasa server (helpers of
``tests/e2e/stack.py``, SQL event broker), the ingest worker that puts the REST conversation
into the store, and the web app (the console) under uvicorn, driven over HTTP with the
founder's session and CSRF token as the console page's own script sends them.
"""

from __future__ import annotations

import re
import secrets
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import select

from analytics.core.identity import sign_token
from analytics.demo.customers import DEMO_EN, DEMO_ZH
from analytics.store.db import make_engine, make_sessionmaker
from analytics.store.models import Conversation
from tests.e2e.stack import (
    ACTION_TOKEN,
    JWT_SECRET,
    NLG_ENDPOINT,
    action_server,
    base_env,
    identity,
    ingest_worker,
    rasa_server,
    rasa_server_with,
    say,
    seed_store,
    start,
    wait_for,
)
from tests.e2e.stack import free_port as any_port
from web.console.takeover import RasaBridge

pytestmark = pytest.mark.e2e

CUSTOMERS = 30
STORE_TIMEOUT_S = 60.0
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class Stack:
    """The running product as this test sees it."""

    rasa_url: str
    web_url: str
    shop_url: str
    password: str
    secret: str
    workdir: Path
    actions_url: str
    env: dict[str, str]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Seeded store, action server, Rasa, ingest worker and the web app."""
    workdir = tmp_path_factory.mktemp("takeover_rest")
    url = f"sqlite:///{workdir / 'shop.db'}"
    secret, password = secrets.token_hex(16), secrets.token_hex(8)
    env = base_env(url, secret)
    env.update(
        SESSION_SECRET=secrets.token_hex(16),
        CONSOLE_USER="founder",
        CONSOLE_PASSWORD=password,
        CONSOLE_WORK_DIR=str(workdir / "console"),
    )
    seed_store(url, CUSTOMERS, env)
    with (
        action_server(env, workdir) as actions,
        rasa_server(env, workdir, actions.url) as rasa,
        ingest_worker(env, workdir, "--source", "sql", "--events-db", str(workdir / "events.db")),
    ):
        port = any_port()
        web = start(
            "web",
            [
                sys.executable, "-m", "uvicorn", "web.app:create_app",
                "--factory", "--host", "127.0.0.1", "--port", str(port),
            ],
            dict(env, RASA_URL=rasa.url, RASA_PUBLIC_URL=rasa.url),
            workdir,
            f"http://127.0.0.1:{port}/health",
        )  # fmt: skip
        try:
            yield Stack(rasa.url, web.url, url, password, secret, workdir, actions.url, env)
        finally:
            web.stop()


def conversation_id(stack: Stack, sender: str) -> int:
    """Waits until the ingest worker has stored the REST conversation."""
    engine = make_engine(stack.shop_url)

    def stored() -> int | None:
        with make_sessionmaker(engine)() as db:
            return db.scalar(select(Conversation.id).where(Conversation.sender_id == sender))

    try:
        return int(wait_for(stored, STORE_TIMEOUT_S, f"conversation {sender} in the store"))
    finally:
        engine.dispose()


@dataclass
class Console:
    """The founder's console over HTTP, on one conversation."""

    client: httpx.Client
    headers: dict[str, str]
    conversation: int

    def post(self, what: str, **data: str) -> httpx.Response:
        url = f"/console/conversations/{self.conversation}/{what}"
        reply = self.client.post(url, data=data, headers=self.headers)
        assert reply.status_code < 400, reply.text[:500]
        return reply


def console(stack: Stack, conversation: int) -> Console:
    """Signs the founder in and opens the conversation page (for its CSRF token)."""
    client = httpx.Client(base_url=stack.web_url, timeout=30)
    token = CSRF_RE.search(client.get("/console/login").text)
    assert token
    data = {"username": "founder", "password": stack.password, "csrf_token": token.group(1)}
    client.post("/console/login", data=data)
    page = client.get(f"/console/conversations/{conversation}").text
    csrf = CSRF_RE.search(page)
    assert csrf, page[:500]
    return Console(
        client, {"X-CSRF-Token": csrf.group(1), "Accept": "application/json"}, conversation
    )


def claim_headers(metadata: dict[str, Any] | None) -> dict[str, str]:
    if not metadata:
        return {}
    return {
        "X-Customer-Id": str(metadata["customer_id"]),
        "X-Customer-Expires-At": str(metadata["expires_at"]),
        "X-Customer-Token": str(metadata["customer_token"]),
    }


def pending(stack: Stack, sender: str, claim: dict[str, Any] | None = None) -> list[dict]:
    reply = httpx.get(
        f"{stack.rasa_url}/webhooks/rest/pending",
        params={"sender": sender},
        headers=claim_headers(claim),
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    return list(reply.json())


def founder_texts(replies: list[dict]) -> list[str]:
    return [r["text"] for r in replies if r.get("author") == "founder"]


def test_a_console_takeover_reply_reaches_the_rest_customer_once(stack: Stack) -> None:
    customer = f"rest-{secrets.token_hex(5)}"
    bystander = f"rest-{secrets.token_hex(5)}"
    claim = identity(DEMO_ZH, stack.secret)
    assert say(stack.rasa_url, customer, "你好", claim)
    assert say(stack.rasa_url, bystander, "你好")
    founder = console(stack, conversation_id(stack, customer))
    founder.post("takeover")

    # Paused: the customer's message is recorded, the bot stays silent.
    assert say(stack.rasa_url, customer, "有人吗？", claim) == []
    reply = f"您好，我是店主小叶 #{secrets.token_hex(2)}"
    assert founder.post("say", text=reply).json()["ok"] is True

    # Nobody else sees it: another sender, no identity, a forged, expired or other identity.
    assert pending(stack, bystander) == []
    assert founder_texts(say(stack.rasa_url, bystander, "hello")) == []
    forged = {**claim, "customer_token": secrets.token_hex(32)}
    past = int(time.time()) - 10
    expired = {
        **claim,
        "expires_at": past,
        "customer_token": sign_token(DEMO_ZH, past, stack.secret),
    }
    someone_else = identity(DEMO_EN, stack.secret)
    for wrong in (None, forged, expired, someone_else):
        assert pending(stack, customer, wrong) == []
    assert say(stack.rasa_url, customer, "在吗", forged) == []  # paused, and not for them

    # The customer fetches it, once.
    got = pending(stack, customer, claim)
    assert [(m["author"], m["text"], m["recipient_id"]) for m in got] == [
        ("founder", reply, customer)
    ]
    assert pending(stack, customer, claim) == []

    # The next reply comes with the customer's next message, before any bot reply.
    second = f"退款已经给您办好了 #{secrets.token_hex(2)}"
    founder.post("say", text=second)
    assert founder_texts(say(stack.rasa_url, customer, "好的", claim)) == [second]
    founder.post("handback")
    answer = say(stack.rasa_url, customer, "你们有什么推荐的茶吗", claim)
    assert answer and founder_texts(answer) == []  # the bot again, nothing repeated
    assert pending(stack, customer, claim) == []


def test_the_bridge_without_the_widget_channel_reaches_rest_too(
    stack: Stack, tmp_path: Path
) -> None:
    """RasaBridge's other path (Rasa's events API) records the same founder event."""
    customer = f"rest-{secrets.token_hex(5)}"
    assert say(stack.rasa_url, customer, "hello")
    bridge = RasaBridge(stack.rasa_url, JWT_SECRET, widget_file=tmp_path / "no-widget.py")
    assert not bridge.via_widget
    bridge.pause(customer)
    assert say(stack.rasa_url, customer, "anyone there?") == []
    bridge.say(customer, "Hi, it's the founder")
    assert founder_texts(pending(stack, customer)) == ["Hi, it's the founder"]
    bridge.say(customer, "Your parcel left today")
    assert founder_texts(say(stack.rasa_url, customer, "thanks")) == ["Your parcel left today"]
    bridge.resume(customer)
    assert founder_texts(say(stack.rasa_url, customer, "where is my order?")) == []


def test_hostile_fetches_are_refused_and_leak_nothing(stack: Stack) -> None:
    customer = f"rest-{secrets.token_hex(5)}"
    assert say(stack.rasa_url, customer, "你好")
    RasaBridge(stack.rasa_url, JWT_SECRET).say(customer, "只给这位顾客")
    url = f"{stack.rasa_url}/webhooks/rest/pending"
    for query, error in [
        ("", "bad_sender"),
        (f"sender={customer}&sender={customer}", "bad_sender"),
        ("sender=%ff", "bad_encoding"),
        ("sender=a%0Ab", "bad_sender"),
        (f"sender={secrets.token_hex(16)}", "reserved_sender"),  # a widget session id
    ]:
        reply = httpx.get(f"{url}?{query}", timeout=30)
        assert (reply.status_code, reply.json()["error"]) == (400, error), query
        assert " / " in reply.json()["message"]
    flood = [httpx.get(url, params={"sender": "x" * 129}, timeout=30) for _ in range(5)]
    assert {r.status_code for r in flood} == {400}
    started = time.monotonic()
    assert founder_texts(pending(stack, customer)) == ["只给这位顾客"]  # still there, once
    assert time.monotonic() - started < 10


@pytest.mark.postgres
@pytest.mark.redis
def test_two_rasa_servers_deliver_each_founder_message_once(stack: Stack, tmp_path: Path) -> None:
    """No process memory: two servers on one PostgreSQL tracker store and Redis lock store."""
    suffix = secrets.token_hex(4)
    tracker_db = f"rasa_takeover_{suffix}"
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{tracker_db}"')
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text(
        f"action_endpoint:\n  url: {stack.actions_url}/webhook\n  token: {ACTION_TOKEN}\n"
        "tracker_store:\n  type: SQL\n  dialect: postgresql\n  url: 127.0.0.1\n  port: 5432\n"
        f"  db: {tracker_db}\n  username: postgres\n  password: ''\n"
        "lock_store:\n  type: redis\n  url: 127.0.0.1\n  port: 6379\n  db: 4\n"
        f"  key_prefix: takeover{suffix}\n" + NLG_ENDPOINT,
        encoding="utf-8",
    )
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    try:
        with (
            rasa_server_with(stack.env, tmp_path / "a", endpoints) as a,
            rasa_server_with(stack.env, tmp_path / "b", endpoints) as b,
        ):
            customer = f"rest-{suffix}"
            assert say(a.url, customer, "hello")
            bridge = RasaBridge(a.url, JWT_SECRET)
            bridge.pause(customer)
            bridge.say(customer, "one")
            fetched = [pending_at(url, customer) for url in (b.url, a.url, b.url)]
            assert fetched == [["one"], [], []]
            bridge.say(customer, "two")
            assert founder_texts(say(b.url, customer, "ok")) == ["two"]
            RasaBridge(b.url, JWT_SECRET).say(customer, "three")
            with ThreadPoolExecutor(max_workers=6) as pool:
                urls = [a.url, b.url] * 3
                got = [
                    t for texts in pool.map(lambda u: pending_at(u, customer), urls) for t in texts
                ]
            assert got == ["three"]
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{tracker_db}" WITH (FORCE)')


def pending_at(rasa_url: str, sender: str) -> list[str]:
    reply = httpx.get(f"{rasa_url}/webhooks/rest/pending", params={"sender": sender}, timeout=60)
    assert reply.status_code == 200, reply.text
    return founder_texts(reply.json())
