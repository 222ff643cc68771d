"""The console's "Requests" queue: refund requests decided by the founder, changes listed.

Real web app and real seeded store (SQLite and PostgreSQL); Rasa is a small recording
HTTP server (:class:`tests.web.servers.FakeRasa`), so what the customer would receive is
checked byte for byte. The end-to-end version against the real Rasa is
``tests/e2e/test_follow_through.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from analytics.store import repositories as repo
from analytics.store.models import ROLE_FOUNDER, ChangeRequest, Message, RefundRequest
from tests.web.conftest import Console, csrf_of
from tests.web.console_data import HTML, add_conversation, store_session
from tests.web.servers import FakeRasa, fake_rasa
from web import settings as web_settings

SENDER = "refund-conv-1"


def file_request(
    console: Console, customer: str = "cus_0002", *, sender: str | None = SENDER, reason: str = "x"
) -> int:
    """Files a refund request the way the bot does (for the customer's latest order)."""
    engine, db = store_session(console)
    try:
        found = repo.get_customer(db, customer)
        assert found is not None
        order = repo.latest_order(db, found.id)
        request = repo.create_refund_request(
            db,
            found.id,
            order_id=order.id if order else None,
            reason=reason,
            at=datetime.now(UTC),
            sender_id=sender,
            language="en" if customer == "cus_0002" else "zh",
        )
        db.commit()
        return request.id
    finally:
        db.close()
        engine.dispose()


def stored(console: Console, request_id: int) -> RefundRequest:
    engine, db = store_session(console)
    try:
        request = db.get(RefundRequest, request_id)
        assert request is not None
        db.expunge(request)
        return request
    finally:
        db.close()
        engine.dispose()


@pytest.fixture()
def rasa(console_env: Console, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRasa]:
    with fake_rasa() as fake:
        monkeypatch.setenv("RASA_URL", fake.url)
        web_settings.get_settings.cache_clear()
        yield fake


def decide(
    client: TestClient, request_id: int, decision: str, note: str = "", **extra: str
) -> Response:
    data = {"csrf_token": csrf_of(client), "decision": decision, "note": note, **extra}
    return client.post(
        f"/console/requests/refunds/{request_id}/decide", data=data, follow_redirects=False
    )


def test_the_queue_needs_a_login(anon: TestClient) -> None:
    response = anon.get("/console/requests", follow_redirects=False)
    assert response.status_code == 303 and "/console/login" in response.headers["location"]
    posted = anon.post("/console/requests/refunds/1/decide", data={"decision": "approve"})
    assert posted.status_code in (401, 403) or "/console/login" in str(posted.url)


def test_round_trip_open_then_approved_and_the_customer_is_told(
    client: TestClient, console_env: Console, rasa: FakeRasa
) -> None:
    add_conversation(console_env, [("user", "refund please", "refund_request")], sender=SENDER,
                     customer="cus_0002")  # fmt: skip
    request_id = file_request(console_env, reason=HTML)
    page = client.get("/console/requests")
    assert page.status_code == 200 and f'data-id="{request_id}"' in page.text
    assert "<script>alert" not in page.text and "&lt;script&gt;" in page.text  # escaped
    response = decide(client, request_id, "approve", "Refunded to your card <b>today</b>")
    assert response.status_code == 303
    request = stored(console_env, request_id)
    assert request.status == "approved" and request.decided_by == "founder"
    assert request.decision_note == "Refunded to your card <b>today</b>"
    assert request.decided_at is not None and request.notified_at is not None
    # the customer got the bot's own words, in English, with the stored values
    [call] = [c for c in rasa.received if c.method == "POST"]
    assert SENDER in call.path
    body = call.body if isinstance(call.body, dict) else call.body[0]
    text = body["text"]
    assert text.startswith("Good news: your refund request #")
    assert f"#{request_id}" in text and request.decided_at.strftime("%Y-%m-%d") in text
    assert 'The founder\'s note: "Refunded to your card <b>today</b>"' in text
    # the message is in the conversation, as the founder's
    engine, db = store_session(console_env)
    try:
        said = db.scalars(select(Message.text).where(Message.role == ROLE_FOUNDER)).all()
    finally:
        db.close()
        engine.dispose()
    assert text in said
    # the queue moved it: not open any more, listed as approved, escaped note
    assert f'data-id="{request_id}"' not in client.get("/console/requests").text
    approved = client.get("/console/requests?status=approved").text
    assert f'data-id="{request_id}"' in approved and "&lt;b&gt;today&lt;/b&gt;" in approved
    # deciding twice changes nothing
    again = decide(client, request_id, "refuse")
    assert again.status_code == 303 and "err=" in again.headers["location"]
    assert stored(console_env, request_id).status == "approved"


def test_a_refusal_is_sent_in_chinese_to_a_chinese_customer(
    client: TestClient, console_env: Console, rasa: FakeRasa
) -> None:
    request_id = file_request(console_env, "cus_0001", sender="zh-conv")
    assert decide(client, request_id, "refuse", "包装已拆").status_code == 303
    assert stored(console_env, request_id).status == "rejected"
    [call] = [c for c in rasa.received if c.method == "POST"]
    body = call.body if isinstance(call.body, dict) else call.body[0]
    assert (
        body["text"].startswith("抱歉，你的退款申请 #") and "店主留言：「包装已拆」" in body["text"]
    )
    refused = client.get("/console/requests?status=rejected").text
    assert f'data-id="{request_id}"' in refused


def test_when_rasa_is_down_the_decision_stays_and_can_be_sent_again(
    client: TestClient, console_env: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    request_id = file_request(console_env)  # RASA_URL points at nothing
    response = decide(client, request_id, "approve")
    assert response.status_code == 303 and "err=" in response.headers["location"]
    request = stored(console_env, request_id)
    assert request.status == "approved" and request.notified_at is None
    page = client.get("/console/requests?status=approved").text
    assert f"/console/requests/refunds/{request_id}/notify" in page
    with fake_rasa() as fake:
        monkeypatch.setenv("RASA_URL", fake.url)
        web_settings.get_settings.cache_clear()
        sent = client.post(
            f"/console/requests/refunds/{request_id}/notify",
            data={"csrf_token": csrf_of(client)},
            follow_redirects=False,
        )
    assert sent.status_code == 303 and "msg=" in sent.headers["location"]
    assert stored(console_env, request_id).notified_at is not None
    assert len([c for c in fake.received if c.method == "POST"]) == 1


def test_without_csrf_nothing_is_decided(
    client: TestClient, console_env: Console, rasa: FakeRasa
) -> None:
    request_id = file_request(console_env)
    for token in ("", "forged-token", "ünïcode"):
        response = client.post(
            f"/console/requests/refunds/{request_id}/decide",
            data={"csrf_token": token, "decision": "approve"},
            follow_redirects=False,
        )
        assert response.status_code == 403
    assert stored(console_env, request_id).status == "open" and not rasa.received


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/console/requests/refunds/999999/decide", 404),
        ("/console/requests/refunds/-1/decide", 422),
        ("/console/requests/refunds/0/decide", 422),
        ("/console/requests/refunds/abc/decide", 422),
        ("/console/requests/refunds/1e9/decide", 422),
        ("/console/requests/refunds/99999999999999999999999/decide", 422),
    ],
)
def test_forged_ids_are_refused(
    client: TestClient, console_env: Console, rasa: FakeRasa, path: str, status: int
) -> None:
    response = client.post(
        path, data={"csrf_token": csrf_of(client), "decision": "approve"}, follow_redirects=False
    )
    assert response.status_code == status
    assert not rasa.received


def test_hostile_notes_and_decisions(
    client: TestClient, console_env: Console, rasa: FakeRasa
) -> None:
    request_id = file_request(console_env)
    csrf = csrf_of(client)
    url = f"/console/requests/refunds/{request_id}/decide"
    # an unknown decision, a note over the limit, a huge body: nothing changes
    assert "err=" in decide(client, request_id, "delete").headers["location"]
    assert "err=" in decide(client, request_id, "approve", "x" * 2001).headers["location"]
    huge = client.post(url, data={"csrf_token": csrf, "decision": "approve", "note": "x" * 200_000})
    assert huge.status_code == 413
    # invalid UTF-8 and binary in the raw form body
    raw = b"csrf_token=" + csrf.encode() + b"&decision=approve&note=%FF%FE%00%C3%28bin"
    broken = client.post(
        url,
        content=raw,
        headers={"content-type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert broken.status_code in (303, 400)
    request = stored(console_env, request_id)
    if broken.status_code == 303:  # decoded with replacement characters, NUL dropped
        assert request.status == "approved"
        assert request.decision_note is not None and "\x00" not in request.decision_note
    else:
        assert request.status == "open"
    assert all(c.method == "POST" for c in rasa.received)


def test_another_customers_request_is_never_sent_to_this_conversation(
    client: TestClient, console_env: Console, rasa: FakeRasa
) -> None:
    mine = file_request(console_env, "cus_0002", sender="conv-a")
    theirs = file_request(console_env, "cus_0001", sender="conv-b")
    decide(client, mine, "approve", "ok")
    paths = [c.path for c in rasa.received if c.method == "POST"]
    assert paths and all("conv-a" in p for p in paths)
    assert stored(console_env, theirs).status == "open"


def test_changes_made_in_chat_are_listed_escaped(client: TestClient, console_env: Console) -> None:
    engine, db = store_session(console_env)
    try:
        customer = repo.get_customer(db, "cus_0002")
        assert customer is not None
        change = repo.record_change(
            db, customer.id, kind="pause_subscription", detail=HTML, at=datetime.now(UTC)
        )
        db.commit()
        change_id = change.id
    finally:
        db.close()
        engine.dispose()
    page = client.get("/console/requests?status=approved").text
    assert f'data-id="{change_id}" data-kind="pause_subscription"' in page
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    # a change the bot made is a record: it cannot be decided (again) nor "resent"
    for action in ("decide", "notify"):
        response = client.post(
            f"/console/requests/changes/{change_id}/{action}",
            data={"csrf_token": csrf_of(client), "decision": "refuse"},
            follow_redirects=False,
        )
        assert response.status_code == 303 and "err=" in response.headers["location"]
    engine, db = store_session(console_env)
    try:
        change_row = db.get(ChangeRequest, change_id)
        assert change_row is not None and change_row.status == "approved"
    finally:
        db.close()
        engine.dispose()


def test_an_account_change_is_decided_and_the_customer_told(
    client: TestClient, console_env: Console, rasa: FakeRasa
) -> None:
    engine, db = store_session(console_env)
    try:
        customer = repo.get_customer(db, "cus_0001")
        assert customer is not None
        change = repo.record_change(
            db,
            customer.id,
            kind="account_details",
            detail="请把地址改成 [ADDRESS]",
            at=datetime.now(UTC),
            sender_id="zh-account",
            language="zh",
            done=False,
        )
        db.commit()
        change_id = change.id
    finally:
        db.close()
        engine.dispose()
    page = client.get("/console/requests").text
    assert f"/console/requests/changes/{change_id}/decide" in page
    response = client.post(
        f"/console/requests/changes/{change_id}/decide",
        data={"csrf_token": csrf_of(client), "decision": "approve", "note": "已改好"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and "msg=" in response.headers["location"]
    [call] = [c for c in rasa.received if c.method == "POST"]
    assert "zh-account" in call.path
    body = call.body if isinstance(call.body, dict) else call.body[0]
    assert body["text"].startswith(f"你的账户修改请求 #{change_id} 已于 ")
    assert "店主留言：「已改好」" in body["text"]
    engine, db = store_session(console_env)
    try:
        stored_change = db.get(ChangeRequest, change_id)
        assert stored_change is not None and stored_change.status == "approved"
        assert stored_change.decided_by == "founder" and stored_change.notified_at is not None
    finally:
        db.close()
        engine.dispose()


def test_an_unknown_queue_is_404(client: TestClient, console_env: Console) -> None:
    for path in ("/console/requests/orders/1/decide", "/console/requests/../1/decide"):
        response = client.post(path, data={"csrf_token": csrf_of(client), "decision": "approve"})
        assert response.status_code in (404, 405)


def test_an_unknown_status_shows_the_open_tab(client: TestClient, console_env: Console) -> None:
    page = client.get("/console/requests?status=<script>")
    assert page.status_code == 200 and "<script>" not in page.text.split("<main>")[1][:2000]


def test_a_request_made_outside_a_conversation_is_decided_without_a_message(
    client: TestClient, console_env: Console, rasa: FakeRasa
) -> None:
    request_id = file_request(console_env, sender=None)  # e.g. by e-mail, or seeded history
    response = decide(client, request_id, "refuse", "see e-mail")
    assert response.status_code == 303 and "msg=" in response.headers["location"]
    request = stored(console_env, request_id)
    assert request.status == "rejected" and request.notified_at is None
    assert not rasa.received
    page = client.get("/console/requests?status=rejected").text
    assert f"/console/requests/refunds/{request_id}/notify" not in page
