"""The one writer of conversations (and their messages), on SQLite and PostgreSQL.

One message at a time (the action server, the web app), the founder's console, and a batch
at a time (the ingest), including a batch that races another writer of the same sender.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from analytics.demo import customers as demo
from analytics.store import repositories as repo
from analytics.store.db import make_sessionmaker
from analytics.store.models import Conversation, Customer, Message
from analytics.store.repositories import ConversationActivity
from tests.analytics.conftest import REFERENCE

NOW = REFERENCE + timedelta(hours=10)


def _customer(session: Session, external_id: str) -> Customer:
    customer = repo.get_customer(session, external_id)
    assert customer is not None
    return customer


def test_upsert_conversation(session: Session) -> None:
    wang = _customer(session, demo.DEMO_ZH)
    conv = repo.upsert_conversation(
        session, "sender-1", customer_id=None, channel="web", language="zh", at=NOW
    )
    assert conv.id is not None and conv.started_at == NOW and conv.status == "open"
    assert conv.customer_id is None and conv.needs_handoff is False
    later = NOW + timedelta(minutes=5)
    same = repo.upsert_conversation(
        session, "sender-1", customer_id=wang.id, channel="web", language="en", at=later
    )
    assert same.id == conv.id
    assert same.customer_id == wang.id and same.language == "en"
    assert same.last_message_at == later and same.started_at == NOW
    repo.upsert_conversation(
        session, "sender-1", customer_id=None, channel="web", language="en", at=NOW
    )
    assert same.last_message_at == later  # never moves backwards
    assert same.customer_id == wang.id  # an anonymous message keeps the known customer
    count = session.scalars(
        select(func.count()).select_from(Conversation).where(Conversation.sender_id == "sender-1")
    ).one()
    assert count == 1
    with pytest.raises(ValueError, match="language"):
        repo.upsert_conversation(
            session, "sender-2", customer_id=None, channel="web", language="fr", at=NOW
        )
    with pytest.raises(ValueError, match="sender_id"):
        repo.upsert_conversation(
            session, "", customer_id=None, channel="web", language="zh", at=NOW
        )


def test_mark_handoff(session: Session) -> None:
    emily = _customer(session, demo.DEMO_EN)
    conv = repo.mark_handoff(session, "sender-h", customer_id=emily.id, reason="complaint", at=NOW)
    assert conv.needs_handoff and conv.handoff_reason == "complaint"
    assert conv.language == "en" and conv.customer_id == emily.id and conv.status == "open"
    existing = repo.upsert_conversation(
        session, "sender-z", customer_id=None, channel="web", language="zh", at=NOW
    )
    flagged = repo.mark_handoff(
        session, "sender-z", customer_id=None, reason="vip", at=NOW + timedelta(minutes=1)
    )
    assert flagged.id == existing.id and flagged.needs_handoff
    assert flagged.last_message_at == NOW + timedelta(minutes=1)
    with pytest.raises(ValueError, match="reason"):
        repo.mark_handoff(session, "sender-z", customer_id=None, reason="", at=NOW)


def test_add_message_is_idempotent(session: Session) -> None:
    conv = repo.upsert_conversation(
        session, "sender-m", customer_id=None, channel="web", language="zh", at=NOW
    )
    entities = [{"entity": "order_id", "value": "LB100001"}]
    first = repo.add_message(
        session, conv, event_key="sender-m:1", role="user", text="我的订单到哪了", at=NOW,
        intent="order_status", confidence=0.9, entities=entities, sentiment=-0.1,
    )  # fmt: skip
    again = repo.add_message(session, conv, event_key="sender-m:1", role="user", text="x", at=NOW)
    assert again.id == first.id
    session.expire_all()
    stored = session.scalars(select(Message).where(Message.event_key == "sender-m:1")).one()
    assert stored.entities == entities and stored.text == "我的订单到哪了"
    with pytest.raises(ValueError, match="role"):
        repo.add_message(session, conv, event_key="k", role="robot", text="x", at=NOW)


def test_console_takeover_status_and_review(session: Session) -> None:
    conv = repo.mark_handoff(session, "sender-c", customer_id=None, reason="complaint", at=NOW)
    assert repo.take_over(session, conv).needs_handoff is False and conv.status == "open"
    repo.mark_handoff(session, "sender-c", customer_id=None, reason="again", at=NOW)
    resolved = repo.set_status(session, conv, "resolved")
    assert resolved.status == "resolved" and resolved.needs_handoff is False
    repo.mark_handoff(session, "sender-c", customer_id=None, reason="third", at=NOW)
    reopened = repo.set_status(session, conv, "open")
    assert reopened.status == "open" and reopened.needs_handoff is True  # reopening keeps it
    assert repo.set_reviewed(session, conv, True).reviewed is True
    assert repo.set_reviewed(session, conv, False).reviewed is False
    with pytest.raises(ValueError, match="status"):
        repo.set_status(session, conv, "archived")


def test_batch_creates_with_the_language_rules(session: Session) -> None:
    emily = _customer(session, demo.DEMO_EN)
    later = NOW + timedelta(minutes=3)
    activities = [
        ConversationActivity("b-user", NOW, later, language="en", reply_language="zh"),
        ConversationActivity("b-customer", NOW, later, customer_id=emily.id, reply_language="zh"),
        ConversationActivity("b-reply", NOW, NOW, channel="rest", reply_language="en"),
        ConversationActivity("b-none", NOW, NOW),
    ]
    known = repo.find_conversations(session, [a.sender_id for a in activities])
    assert known == {}
    repo.record_activity(session, activities, known)
    assert {s: c.language for s, c in known.items()} == {
        "b-user": "en",  # the last user message's language
        "b-customer": "en",  # else the customer's
        "b-reply": "en",  # else the first reply's
        "b-none": "zh",  # else Chinese
    }
    assert known["b-customer"].customer_id == emily.id
    assert known["b-reply"].channel == "rest" and known["b-none"].channel == "web"
    user = known["b-user"]
    assert (user.started_at, user.last_message_at, user.status) == (NOW, later, "open")
    assert user.needs_handoff is False and user.reviewed is False
    assert repo.find_conversations(session, ["b-user", "b-none", "nobody"]).keys() == {
        "b-user",
        "b-none",
    }
    with pytest.raises(ValueError, match="language"):
        repo.record_activity(session, [ConversationActivity("b-x", NOW, NOW, language="mixed")], {})


def test_batch_updates_widen_and_set_the_customer_once(session: Session) -> None:
    wang = _customer(session, demo.DEMO_ZH)
    emily = _customer(session, demo.DEMO_EN)
    conv = repo.upsert_conversation(
        session, "b-upd", customer_id=None, channel="web", language="zh", at=NOW
    )
    repo.set_status(session, conv, "resolved")
    known = repo.find_conversations(session, ["b-upd"])
    earlier, later = NOW - timedelta(minutes=5), NOW + timedelta(minutes=5)
    batch = ConversationActivity("b-upd", earlier, later, customer_id=wang.id, reply_language="en")
    repo.record_activity(session, [batch], known)
    session.expire_all()
    stored = repo.find_conversations(session, ["b-upd"])["b-upd"]
    assert (stored.started_at, stored.last_message_at) == (earlier, later)
    assert stored.customer_id == wang.id and stored.status == "open"
    assert stored.language == "zh" and stored.channel == "web"  # kept: nothing new in the batch
    other = ConversationActivity("b-upd", NOW, NOW, customer_id=emily.id, language="en")
    repo.record_activity(session, [other], {"b-upd": stored})
    session.expire_all()
    stored = repo.find_conversations(session, ["b-upd"])["b-upd"]
    assert stored.customer_id == wang.id  # never moved to a later speaker
    assert stored.language == "en" and stored.last_message_at == later


def test_flag_handoffs_keeps_an_existing_flag_and_reason(session: Session) -> None:
    asked = repo.mark_handoff(session, "b-h1", customer_id=None, reason="complaint", at=NOW)
    asked.reviewed = True
    fresh = repo.upsert_conversation(
        session, "b-h2", customer_id=None, channel="web", language="zh", at=NOW
    )
    fresh.reviewed = True
    repo.flag_handoffs(session, [asked, fresh], "customer asked for a person")
    assert (asked.handoff_reason, asked.reviewed) == ("complaint", True)
    assert fresh.needs_handoff and fresh.handoff_reason == "customer asked for a person"
    assert fresh.reviewed is False


def test_batch_creation_racing_another_writer(empty_store: Engine) -> None:
    """PostgreSQL: the batch's creation yields to the winner and updates it. SQLite: the
    batch's transaction, which read before the other commit, may not write (the database
    is locked: the ingest treats that as the store being busy and retries the batch)."""
    factory = make_sessionmaker(empty_store)
    later = NOW + timedelta(minutes=1)
    activity = ConversationActivity("race", NOW, later, language="en", channel="rest")
    with factory() as batch, factory() as other:
        known = repo.find_conversations(batch, ["race"])
        assert known == {}
        repo.upsert_conversation(
            other, "race", customer_id=None, channel="web", language="zh", at=NOW
        )
        other.commit()
        if empty_store.dialect.name == "sqlite":
            with pytest.raises(OperationalError, match="locked"):
                repo.record_activity(batch, [activity], known)
            return
        repo.record_activity(batch, [activity], known)
        row = repo.MessageRow(
            conversation_id=known["race"].id, customer_id=None, event_key="race:1", role="user",
            text="hi", language="en", intent=None, confidence=None, entities=None, action=None,
            sentiment=None, created_at=later,
        )  # fmt: skip
        assert repo.insert_messages(batch, [row]) == 1
        repo.insert_messages(batch, [row])  # the same event again: no second row
        batch.commit()
    with factory() as check:
        stored = check.scalars(select(Conversation).where(Conversation.sender_id == "race")).one()
        assert (stored.language, stored.channel, stored.last_message_at) == ("en", "rest", later)
        assert stored.started_at == NOW
        count = check.scalars(select(func.count()).select_from(Message)).one()
        assert count == 1


def test_rating_keeps_the_state_and_creates_only_when_asked(session: Session) -> None:
    conv = repo.upsert_conversation(
        session, "b-rate", customer_id=None, channel="web", language="zh", at=NOW
    )
    repo.set_status(session, conv, "resolved")
    rated = repo.rate_conversation(session, "b-rate", 4, create=False, language="en", at=NOW)
    assert rated is conv and conv.rating == 4
    assert conv.status == "resolved" and conv.language == "zh"  # not re-opened by its rating
    assert repo.rate_conversation(session, "b-new", 5, create=False, language="en", at=NOW) is None
    created = repo.rate_conversation(session, "b-new", 5, create=True, language="en", at=NOW)
    assert created is not None and created.rating == 5 and created.customer_id is None
    assert (created.language, created.channel, created.status) == ("en", "web", "open")
    for bad in (0, 6):
        with pytest.raises(ValueError, match="rating"):
            repo.rate_conversation(session, "b-rate", bad, create=False, language="en", at=NOW)
