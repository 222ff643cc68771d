"""The founder's decision reaches a Traditional Chinese writer in Traditional (issue 15).

The console words a refund or account-change decision with the bot's own domain responses
(``web.console.queries.requests.decision_text``). Every bot reply to a customer who writes
Traditional Chinese is Traditional (``bot/nlg.py``); the decision must be too, with the
founder's note exactly as typed. The script is read from the customer's stored (redacted)
messages. Real web app and store (SQLite and PostgreSQL), Rasa a recording HTTP server.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from analytics.core.language import HANS, HANT, detect_script
from analytics.loop.privacy import redact
from analytics.store import repositories as repo
from analytics.store.models import ROLE_FOUNDER, Message
from tests.web.conftest import Console, csrf_of
from tests.web.console_data import add_conversation, store_session
from tests.web.servers import FakeRasa, fake_rasa
from tests.web.test_console_requests import decide, file_request
from web import settings as web_settings
from web.console.queries.requests import customer_script

# What a Traditional writer types; stored redacted the way the ingest worker stores it.
TRADITIONAL_RAW = "我想退款，訂單的茶葉包裝破了。電話 +886 912 345 678"
SIMPLIFIED_RAW = "我想退款，订单的茶叶包装破了。电话 13812345678"


@pytest.fixture()
def rasa(console_env: Console, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRasa]:
    with fake_rasa() as fake:
        monkeypatch.setenv("RASA_URL", fake.url)
        web_settings.get_settings.cache_clear()
        yield fake


def sent_text(rasa: FakeRasa) -> str:
    [call] = [c for c in rasa.received if c.method == "POST"]
    body = call.body if isinstance(call.body, dict) else call.body[0]
    return str(body["text"])


def founder_messages(console: Console) -> list[str]:
    engine, db = store_session(console)
    try:
        return list(db.scalars(select(Message.text).where(Message.role == ROLE_FOUNDER)))
    finally:
        db.close()
        engine.dispose()


def script_of(console: Console, sender: str | None) -> str:
    engine, db = store_session(console)
    try:
        return customer_script(db, sender)
    finally:
        db.close()
        engine.dispose()


def test_redaction_keeps_the_chinese_characters_that_tell_the_script() -> None:
    stored = redact(TRADITIONAL_RAW)
    assert "[PHONE]" in stored and "912" not in stored
    assert detect_script(stored) == HANT
    assert detect_script(redact(SIMPLIFIED_RAW)) == HANS


@pytest.mark.parametrize(
    ("decision", "start", "middle"),
    [
        ("refuse", "抱歉，你的退款申請 #", "被拒絕"),
        ("approve", "好消息：你的退款申請 #", "通過"),
    ],
)
def test_a_traditional_writer_gets_the_decision_in_traditional_with_the_note_as_typed(
    client: TestClient,
    console_env: Console,
    rasa: FakeRasa,
    decision: str,
    start: str,
    middle: str,
) -> None:
    sender = "zh-hant-refund"
    add_conversation(
        console_env,
        [
            ("user", redact(TRADITIONAL_RAW), "refund_request"),
            (
                "bot",
                "好的，我帮你提交退款申请",
                None,
            ),  # the bot's and the founder's words never count
            ("user", "好的", "affirm"),  # neutral: the conversation stays Traditional
        ],
        sender=sender,
        customer="cus_0001",
    )
    request_id = file_request(console_env, "cus_0001", sender=sender)
    note = "包装已拆，运费我们出"  # the founder types Simplified: it stays Simplified
    assert decide(client, request_id, decision, note).status_code == 303
    text = sent_text(rasa)
    assert text.startswith(start) and middle in text
    assert f"#{request_id}（訂單 " in text
    assert "店主留言：「包装已拆，运费我们出」。" in text  # the phrase converted, the note not
    assert detect_script(text.replace(note, "")) == HANT
    assert text in founder_messages(console_env)  # the conversation holds what was sent


def test_a_simplified_writer_gets_simplified_and_a_traditional_note_as_typed(
    client: TestClient, console_env: Console, rasa: FakeRasa
) -> None:
    sender = "zh-hans-refund"
    add_conversation(
        console_env,
        [("user", redact(SIMPLIFIED_RAW), "refund_request"), ("user", "好的", "affirm")],
        sender=sender,
        customer="cus_0001",
    )
    request_id = file_request(console_env, "cus_0001", sender=sender)
    assert decide(client, request_id, "refuse", "包裝已拆").status_code == 303
    text = sent_text(rasa)
    assert text.startswith(f"抱歉，你的退款申请 #{request_id}（订单 ")
    assert "被拒绝。店主留言：「包裝已拆」。如有疑问" in text
    assert text in founder_messages(console_env)


def test_an_account_change_decision_follows_the_script_too(
    client: TestClient, console_env: Console, rasa: FakeRasa
) -> None:
    sender = "zh-hant-account"
    add_conversation(
        console_env,
        [("user", "請幫我改地址", "update_account")],
        sender=sender,
        customer="cus_0001",
    )
    engine, db = store_session(console_env)
    try:
        customer = repo.get_customer(db, "cus_0001")
        assert customer is not None
        change = repo.record_change(
            db,
            customer.id,
            kind="account_details",
            detail="請幫我改地址",
            at=datetime.now(UTC),
            sender_id=sender,
            language="zh",
            done=False,
        )
        db.commit()
        change_id = change.id
    finally:
        db.close()
        engine.dispose()
    response = client.post(
        f"/console/requests/changes/{change_id}/decide",
        data={"csrf_token": csrf_of(client), "decision": "refuse", "note": "请来电"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and "msg=" in response.headers["location"]
    text = sent_text(rasa)
    assert text.startswith(f"抱歉，你的賬戶修改請求 #{change_id} 未能辦理")
    assert "店主留言：「请来电」。" in text and "「我的賬戶 > 設置」" in text


def test_the_newest_customer_message_that_is_not_neutral_decides(console_env: Console) -> None:
    add_conversation(
        console_env,
        [("user", "我的訂單到哪了", None), ("user", "我想退款，谢谢", None), ("user", "OK", None)],
        sender="turned-simplified",
        customer="cus_0001",
    )
    add_conversation(
        console_env,
        [("user", "我想退款，谢谢", None), ("user", "請問", None), ("user", "好的 👍", None)],
        sender="turned-traditional",
        customer="cus_0001",
    )
    add_conversation(
        console_env,
        [
            ("user", "好的", None),
            ("bot", "訂單已寄出", None),
            ("founder", "您好，訂單已寄出", None),
        ],
        sender="only-neutral",
        customer="cus_0001",
    )
    assert script_of(console_env, "turned-simplified") == HANS
    assert script_of(console_env, "turned-traditional") == HANT
    # the bot's and founder's Traditional words never count, nor another conversation's
    assert script_of(console_env, "only-neutral") == HANS
    assert script_of(console_env, "no-such-conversation") == HANS
    assert script_of(console_env, None) == HANS
    assert script_of(console_env, "") == HANS


def test_hostile_stored_texts_do_not_break_the_decision(
    client: TestClient, console_env: Console, rasa: FakeRasa
) -> None:
    sender = "zh-hant-hostile"
    add_conversation(
        console_env,
        [
            ("user", "訂單" * 50_000, None),  # huge: only its first characters are read
            ("user", "<script>alert('訂單')</script>'; DROP TABLE messages; --", None),
            ("user", "訂\x07單\u200b\ufeff", None),
        ],
        sender=sender,
        customer="cus_0001",
    )
    assert script_of(console_env, sender) == HANT
    request_id = file_request(console_env, "cus_0001", sender=sender)
    hostile_note = "<b>包装</b>\u202e已拆 {order_number} {note}"
    assert decide(client, request_id, "refuse", hostile_note).status_code == 303
    text = sent_text(rasa)
    assert text.startswith("抱歉，你的退款申請 #")
    # the note is sent as typed (a value is never read as a template) and not converted
    assert "店主留言：「<b>包装</b>\u202e已拆 {order_number} {note}」。" in text
