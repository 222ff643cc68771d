"""HTTP-level tests of the founder's console on a real seeded store: signing in, sessions,
CSRF, and the inbox."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from analytics.store.models import Conversation
from analytics.store.models.console import ConsoleUser, ConversationFacts, ConversationTag
from tests.web.conftest import Console, csrf_of, login
from tests.web.console_data import add_conversation, row_ids, store_session

# --- login, sessions, CSRF -----------------------------------------------------------------


def test_no_session_redirects_every_page_and_api_rejects(anon: TestClient) -> None:
    for path in (
        "/console/inbox",
        "/console/customers",
        "/console/conversations/1",
        "/console/insights",
        "/console/teach",
        "/console/customers/cus_0001",
    ):
        response = anon.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/console/login?next=")
    for path in ("/console/api/handoffs", "/console/api/retrain", "/console/inbox?format=csv"):
        assert anon.get(path, follow_redirects=False).status_code == 401, path


def test_login_ok_creates_hashed_founder_and_session(
    anon: TestClient, console_env: Console
) -> None:
    response = login(anon)
    assert response.status_code == 303
    assert response.headers["location"] == "/console/inbox"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "Path=/console" in cookie and "samesite=lax" in cookie.lower()
    assert anon.get("/console/inbox").status_code == 200
    engine, db = store_session(console_env)
    try:
        user = db.scalar(select(ConsoleUser))
        assert user is not None and user.username == "founder"
        assert user.password_hash.startswith("$argon2id$")
        assert "correct horse" not in user.password_hash
    finally:
        db.close()
        engine.dispose()


def test_wrong_password_is_rejected(anon: TestClient) -> None:
    response = login(anon, password="wrong")
    assert response.status_code == 401
    assert "lb_console=" not in response.headers.get("set-cookie", "")
    assert anon.get("/console/inbox", follow_redirects=False).status_code == 303
    assert login(anon, username="nobody").status_code == 401


def test_too_many_failures_are_throttled(anon: TestClient) -> None:
    codes = [login(anon, password=f"guess{i}").status_code for i in range(6)]
    assert codes[:5] == [401] * 5 and codes[5] == 429


def test_forged_session_cookie_is_rejected(anon: TestClient) -> None:
    anon.cookies.set("lb_console", "eyJ1IjoxLCJuIjoiZm91bmRlciJ9.forged.sig", path="/console")
    assert anon.get("/console/inbox", follow_redirects=False).status_code == 303


def test_login_form_needs_its_csrf_token(anon: TestClient) -> None:
    anon.get("/console/login")
    response = anon.post(
        "/console/login",
        data={"username": "founder", "password": "correct horse battery staple", "csrf_token": "x"},
        follow_redirects=False,
    )
    assert response.status_code == 403


def test_post_without_or_with_wrong_csrf_is_rejected(
    client: TestClient, console_env: Console
) -> None:
    cid = add_conversation(console_env, [("user", "hello", "greet")])
    assert client.post(f"/console/conversations/{cid}/tags", data={"tag": "vip"}).status_code == 403
    bad = {"tag": "vip", "csrf_token": "not-the-token"}
    assert client.post(f"/console/conversations/{cid}/tags", data=bad).status_code == 403
    assert client.post("/console/logout").status_code == 403
    good = {"tag": "vip", "csrf_token": csrf_of(client)}
    assert client.post(f"/console/conversations/{cid}/tags", data=good).status_code == 200
    engine, db = store_session(console_env)
    try:
        assert db.scalars(
            select(ConversationTag.tag).where(ConversationTag.conversation_id == cid)
        ).all() == ["vip"]
    finally:
        db.close()
        engine.dispose()


def test_logout_ends_the_session(client: TestClient) -> None:
    response = client.post(
        "/console/logout", data={"csrf_token": csrf_of(client)}, follow_redirects=False
    )
    assert response.status_code == 303
    assert client.get("/console/inbox", follow_redirects=False).status_code == 303


def test_interface_language_switch(client: TestClient) -> None:
    assert "收件箱" in client.get("/console/inbox").text
    client.post(
        "/console/lang",
        data={"csrf_token": csrf_of(client), "lang": "en", "back": "/console/inbox"},
    )
    page = client.get("/console/inbox").text
    assert "Inbox" in page and "Revenue at risk" in page
    assert "Sign in" in client.get("/console/login?lang=en").text


# --- inbox ---------------------------------------------------------------------------------


def test_inbox_orders_by_revenue_at_risk(client: TestClient, console_env: Console) -> None:
    client.get("/console/inbox")
    rows = list(
        csv.DictReader(io.StringIO(client.get("/console/inbox?format=csv").text.lstrip("\ufeff")))
    )
    risks = [float(r["risk_cents"]) for r in rows]
    assert len(rows) > 50
    assert risks == sorted(risks, reverse=True)
    assert risks[0] > 0
    page = client.get("/console/inbox").text
    assert row_ids(page)[:5] == [int(r["id"]) for r in rows[:5]]


def test_inbox_filters(client: TestClient, console_env: Console) -> None:
    cid = add_conversation(
        console_env,
        [("user", "asdf qwerty zxcv", "nlu_fallback"), ("bot", "Sorry, I did not get that.", None)],
        sender="fallback-1",
        needs_handoff=True,
    )
    client.get("/console/inbox")
    ids = row_ids(client.get("/console/inbox?fallback=1").text)
    assert cid in ids
    assert all(cid2 == cid for cid2 in ids)  # the seeded shop has no fallbacks
    assert cid in row_ids(client.get("/console/inbox?intent=nlu_fallback").text)
    complain = row_ids(client.get("/console/inbox?intent=complain").text)
    assert complain and cid not in complain
    engine, db = store_session(console_env)
    try:
        for conv_id in complain:
            intents = db.scalar(
                select(ConversationFacts.intents).where(
                    ConversationFacts.conversation_id == conv_id
                )
            )
            assert " complain " in intents
        handoff_total = db.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(
                (Conversation.needs_handoff.is_(True)) | (Conversation.handoff_reason.is_not(None))
            )
        )
    finally:
        db.close()
        engine.dispose()
    csv_rows = list(
        csv.DictReader(
            io.StringIO(client.get("/console/inbox?handoff=1&format=csv").text.lstrip("\ufeff"))
        )
    )
    assert len(csv_rows) == handoff_total
    assert cid not in row_ids(client.get("/console/inbox?language=zh").text)
    assert cid in row_ids(client.get("/console/inbox?reviewed=0&status=open&sort=recent").text)
    assert cid not in row_ids(client.get("/console/inbox?reviewed=1").text)
    today = datetime.now(UTC).date().isoformat()
    assert cid in row_ids(client.get(f"/console/inbox?date_from={today}").text)
    assert cid in row_ids(client.get("/console/inbox?customer=cus_0003").text)


def test_inbox_full_text_search_and_pagination(client: TestClient, console_env: Console) -> None:
    cid = add_conversation(
        console_env,
        [("user", "My Kenya AA beans smell like 薄荷巧克力 today", "complain")],
        sender="s-1",
    )
    client.get("/console/inbox")
    assert row_ids(client.get("/console/inbox?q=smell like").text) == [cid]
    assert row_ids(client.get("/console/inbox?q=SMELL").text) == [cid]  # case-insensitive
    assert row_ids(client.get("/console/inbox?q=薄荷").text) == [cid]  # 2 Chinese characters
    assert row_ids(client.get("/console/inbox?q=薄荷巧克力").text) == [cid]
    assert "no-results" in client.get("/console/inbox?q=nothing-like-this-anywhere").text
    page1 = row_ids(client.get("/console/inbox").text)
    page2 = row_ids(client.get("/console/inbox?page=2").text)
    assert len(page1) == 50 and page2 and not set(page1) & set(page2)


def test_new_messages_are_picked_up_incrementally(client: TestClient, console_env: Console) -> None:
    client.get("/console/inbox")
    cid = add_conversation(
        console_env, [("user", "zebra crossing question", "pricing")], sender="inc-1"
    )
    from web.console.facts import FACTS

    FACTS.reset()
    assert row_ids(client.get("/console/inbox?q=zebra").text) == [cid]


def test_handoff_requests_on_top_and_polled(client: TestClient, console_env: Console) -> None:
    cid = add_conversation(
        console_env,
        [("user", "I want a person now", "human_handoff")],
        sender="handoff-1",
        needs_handoff=True,
    )
    page = client.get("/console/inbox").text
    top = page.split('id="handoffs"', 1)[1].split("</section>", 1)[0]
    assert f"/console/conversations/{cid}" in top
    data = client.get("/console/api/handoffs").json()
    assert data["count"] >= 1 and data["latest_id"] == cid
    assert data["items"][0]["id"] == cid
