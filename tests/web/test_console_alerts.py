"""A conversation's founder alerts on its console page (issue 16): ref, reasons, channels
and their states, escaped."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import select

from analytics.store.models import AlertDelivery, Conversation
from analytics.store.repositories.alerts import create_alert, record_failure, record_sent
from tests.web.conftest import Console
from tests.web.console_data import add_conversation, store_session


def test_the_conversation_page_lists_its_alerts(client: TestClient, console_env: Console) -> None:
    cid = add_conversation(console_env, [("user", "cancel", "cancel_subscription")], sender="al-1")
    other = add_conversation(console_env, [("user", "hello", "greet")], sender="al-2")
    engine, db = store_session(console_env)
    try:
        conversation = db.get(Conversation, cid)
        assert conversation is not None and conversation.customer_id is not None
        now = datetime.now(UTC)
        alert = create_alert(
            db, conversation_id=cid, sender_id="al-1", customer_id=conversation.customer_id,
            reasons=["cancel_intent", "angry"], channels=["telegram", "wecom"], at=now,
        )  # fmt: skip
        alert.title, alert.text, alert.link = "t", "x", "http://c"
        ids = {d.channel: d.id for d in db.scalars(select(AlertDelivery))}
        record_sent(db, ids["telegram"], at=now, platform_message_id="77")
        record_failure(db, ids["wecom"], error="wecom: <script>x</script>", retry_at=None)
        db.commit()
        ref = alert.ref
    finally:
        db.close()
        engine.dispose()
    page = client.get(f"/console/conversations/{cid}").text
    assert f'id="alert-{ref}"' in page
    assert ("想取消订阅" in page and "telegram: 已发送" in page) or (
        "wants to cancel" in page and "telegram: sent" in page
    )
    assert "<script>x</script>" not in page and "&lt;script&gt;" in page
    assert 'id="alerts"' not in client.get(f"/console/conversations/{other}").text
