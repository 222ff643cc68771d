"""Data helpers of the console's HTTP tests: conversations and live risk written to the store
the way the ingest worker and the conversation loop write them, and readers of the pages."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from analytics.store.db import make_engine, make_sessionmaker
from analytics.store.models import Conversation, Customer, LiveRisk, Message
from tests.web.conftest import Console

HTML = '<script>alert("pwned")</script><b>bold</b><img src=x onerror=alert(1)>'


def store_session(console: Console) -> tuple[Engine, Session]:
    """An engine and a session on the test's store (the caller closes both)."""
    engine = make_engine(console.url)
    return engine, make_sessionmaker(engine)()


def add_conversation(
    console: Console,
    texts: list[tuple[str, str, str | None]],
    *,
    sender: str = "live-1",
    customer: str | None = "cus_0003",
    needs_handoff: bool = False,
    status: str = "open",
) -> int:
    """Writes a conversation the way the ingest worker does; returns its id."""
    engine, db = store_session(console)
    try:
        customer_id = None
        if customer:
            customer_id = db.scalar(select(Customer.id).where(Customer.external_id == customer))
        now = datetime.now(UTC)
        conversation = Conversation(
            sender_id=sender,
            customer_id=customer_id,
            channel="web",
            language="en",
            started_at=now - timedelta(minutes=5),
            last_message_at=now,
            needs_handoff=needs_handoff,
            handoff_reason="complaint" if needs_handoff else None,
            status=status,
            reviewed=False,
        )
        db.add(conversation)
        db.flush()
        for i, (role, text, intent) in enumerate(texts):
            db.add(
                Message(
                    conversation_id=conversation.id,
                    event_key=f"{sender}:{i}",
                    role=role,
                    text=text,
                    language="en",
                    intent=intent,
                    confidence=0.42 if intent else None,
                    action=None if role == "user" else "utter_fallback",
                    created_at=now - timedelta(minutes=5) + timedelta(seconds=i),
                )
            )
        db.commit()
        return conversation.id
    finally:
        db.close()
        engine.dispose()


ROW_ID_RE = re.compile(r'<tr class="[^"]*" data-id="(\d+)"')


def row_ids(html: str) -> list[int]:
    """The conversation ids of an inbox page, in order."""
    return [int(x) for x in ROW_ID_RE.findall(html)]


def add_live_risk(
    console: Console,
    customer: str,
    score: float,
    reasons: list[dict[str, Any]],
    *,
    alert: bool = False,
) -> None:
    """Writes a customer's live risk row the way the conversation loop does."""
    engine, db = store_session(console)
    try:
        customer_id = db.scalar(select(Customer.id).where(Customer.external_id == customer))
        assert customer_id is not None
        db.merge(
            LiveRisk(
                customer_id=customer_id,
                score=score,
                base_score=score,
                level="",
                reasons=reasons,
                features={},
                sender_id=None,
                event_key=None,
                alert=alert,
                updated_at=datetime.now(UTC),
            )
        )
        db.commit()
    finally:
        db.close()
        engine.dispose()
