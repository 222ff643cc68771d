"""How the console keeps its lists fast: the stored sort key, its trigger, the background
build of the summaries, capped counts and short-needle search (on the real seeded store)."""

from __future__ import annotations

import csv
import io
import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from analytics.store.db import make_engine, make_sessionmaker
from analytics.store.models import Conversation, Customer, CustomerScore, Message
from analytics.store.models.console import ConversationFacts, ConversationIntent
from tests.web.conftest import Console
from tests.web.console_data import add_conversation, row_ids
from web.console import facts
from web.console.facts import sync as facts_sync
from web.console.queries import inbox as inbox_queries

WEIGHTS = {"open": 100, "unreviewed": 25, "done": 5}


def _facts_row(console: Console, conversation_id: int) -> ConversationFacts:
    engine = make_engine(console.url)
    try:
        with make_sessionmaker(engine)() as db:
            row = db.get(ConversationFacts, conversation_id)
            assert row is not None
            db.expunge(row)
            return row
    finally:
        engine.dispose()


def _execute(console: Console, statement: object) -> None:
    """Writes to the store directly, like another process (ingest worker, action server)."""
    engine = make_engine(console.url)
    try:
        with make_sessionmaker(engine)() as db:
            db.execute(statement)  # type: ignore[call-overload]
            db.commit()
    finally:
        engine.dispose()


def _csv_ids(client: TestClient, query: str = "") -> list[int]:
    body = client.get(f"/console/inbox?format=csv{query}").text.lstrip("\ufeff")
    return [int(r["id"]) for r in csv.DictReader(io.StringIO(body))]


def test_sort_key_follows_changes_made_by_other_writers(
    client: TestClient, console_env: Console
) -> None:
    cid = add_conversation(
        console_env, [("user", "my tea never arrived", "complain")], sender="trigger-1"
    )
    client.get("/console/inbox")
    row = _facts_row(console_env, cid)
    assert row.risk_base_cents > 0
    assert row.risk_cents == row.risk_base_cents * WEIGHTS["open"] // 100
    # The action server resolves it (not through the console): the trigger re-weights it.
    _execute(
        console_env, update(Conversation).where(Conversation.id == cid).values(status="resolved")
    )
    assert (
        _facts_row(console_env, cid).risk_cents
        == row.risk_base_cents * WEIGHTS["unreviewed"] // 100
    )
    _execute(console_env, update(Conversation).where(Conversation.id == cid).values(reviewed=True))
    assert _facts_row(console_env, cid).risk_cents == row.risk_base_cents * WEIGHTS["done"] // 100
    # A new message moves last_message_at; the copy follows.
    later = datetime.now(UTC) + timedelta(minutes=1)
    _execute(
        console_env,
        update(Conversation).where(Conversation.id == cid).values(last_message_at=later),
    )
    assert _facts_row(console_env, cid).last_message_at == later
    # The inbox order is the stored key, and the CSV export has the same order.
    risks = [
        float(r["risk_cents"])
        for r in csv.DictReader(
            io.StringIO(client.get("/console/inbox?format=csv").text.lstrip("\ufeff"))
        )
    ]
    assert risks == sorted(risks, reverse=True)
    assert row_ids(client.get("/console/inbox").text)[:10] == _csv_ids(client)[:10]


def test_new_scores_re_rank_that_customers_conversations(
    client: TestClient, console_env: Console
) -> None:
    cid = add_conversation(
        console_env, [("user", "just browsing", "greet")], sender="score-1", customer="cus_0004"
    )
    client.get("/console/inbox")
    assert _csv_ids(client)[0] != cid
    engine = make_engine(console_env.url)
    try:
        with make_sessionmaker(engine)() as db:
            customer_id = db.scalar(select(Customer.id).where(Customer.external_id == "cus_0004"))
            assert customer_id is not None
            db.merge(  # what the brain's scoring run writes
                CustomerScore(
                    customer_id=customer_id,
                    segment="at_risk",
                    churn_risk=0.99,
                    churn_reasons=[{"code": "test", "text": "test"}],
                    clv_cents=900_000_000,
                    expected_purchases_90d=0.1,
                    p_alive=0.2,
                    health=10.0,
                    health_components={},
                    lifecycle_stage="lapsing",
                    recommendations=[],
                    model_version="test",
                    scored_at=datetime.now(UTC),
                )
            )
            db.commit()
    finally:
        engine.dispose()
    facts.SCORES.reset()
    facts.FACTS.reset()  # the next request re-checks customers at once (else within 30 s)
    client.get("/console/inbox")
    assert _csv_ids(client)[0] == cid
    assert _facts_row(console_env, cid).risk_cents == int(900_000_000 * 0.99)


def test_a_large_backlog_is_summarised_in_the_background(
    client: TestClient, console_env: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(facts_sync, "INLINE_LIMIT", 5)
    monkeypatch.setattr(facts_sync, "CHUNK", 40)
    facts.FACTS.reset()
    _execute(console_env, text("DELETE FROM console_state WHERE key = 'facts_message_id'"))
    # Hold the background worker until the page is back: the page must not wait for it.
    release = threading.Event()
    original = facts.FACTS._apply

    def held(db: Session, plan: Any, progress: facts.Progress | None = None) -> int:
        if threading.current_thread().name == "console-facts":
            release.wait(timeout=120)
        return original(db, plan, progress)

    monkeypatch.setattr(facts.FACTS, "_apply", held)
    try:
        page = client.get("/console/inbox")
        assert page.status_code == 200
        assert facts.FACTS.building, "the backlog went to the background worker"
        assert "Summarising conversations in the background" in page.text or "正在后台整理" in (
            page.text
        )
        status = client.get("/console/api/facts").json()
        assert set(status) >= {"building", "done", "total", "percent"}
        assert status["building"] is True
    finally:
        release.set()
    assert facts.FACTS.wait(timeout=120)
    assert client.get("/console/api/facts").json()["building"] is False
    engine = make_engine(console_env.url)
    try:
        with make_sessionmaker(engine)() as db:
            with_messages = db.scalar(select(func.count(func.distinct(Message.conversation_id))))
            assert db.scalar(select(func.count()).select_from(ConversationFacts)) == with_messages
            assert (db.scalar(select(func.count()).select_from(ConversationIntent)) or 0) > 0
            unsorted = db.scalar(
                select(func.count())
                .select_from(ConversationFacts)
                .where(ConversationFacts.last_message_at.is_(None))
            )
            assert unsorted == 0
    finally:
        engine.dispose()
    assert "building" not in client.get("/console/inbox").text


def test_filtered_counts_stop_at_the_cap_and_paging_goes_on(
    client: TestClient, console_env: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.get("/console/inbox")
    monkeypatch.setattr(inbox_queries, "COUNT_CAP", 60)
    monkeypatch.setattr(inbox_queries, "DENSE", 10)
    first = client.get("/console/inbox?fallback=0")
    assert re.search(r"\(60\+\)|（60\+ 条）", first.text), "capped count shown as 60+"
    assert 'rel="next"' in first.text
    page2 = row_ids(client.get("/console/inbox?fallback=0&page=2").text)
    page1 = row_ids(first.text)
    assert page1 and page2 and not set(page1) & set(page2)
    assert len(_csv_ids(client, "&fallback=0")) > 60  # the export is not capped
    # Pages walk the same order as the (uncapped) export.
    assert page1 + page2 == _csv_ids(client, "&fallback=0")[: len(page1) + len(page2)]


def test_one_and_two_character_needles_use_the_index(
    client: TestClient, console_env: Console
) -> None:
    a = add_conversation(console_env, [("user", "请帮我退款", "refund_request")], sender="s-a")
    b = add_conversation(console_env, [("user", "退", "deny")], sender="s-b")
    c = add_conversation(console_env, [("user", "退货可以吗", "refund_request")], sender="s-c")
    client.get("/console/inbox")
    found = row_ids(client.get("/console/inbox?q=退款&sort=recent").text)
    assert a in found and b not in found and c not in found
    one = set(row_ids(client.get("/console/inbox?q=退&sort=recent").text))
    assert {a, b, c} <= one
    assert "no-results" in client.get("/console/inbox?q=齉").text
