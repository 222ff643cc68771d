"""The console's dead-letter page and badge (web/console/routes/dead_letters.py and
routes/inbox.py): events the ingest worker could not store, listed with their errors, always
as text.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from analytics.loop.ingest import dead_letter
from analytics.store.db import make_engine, make_sessionmaker
from tests.web.conftest import Console, csrf_of

SCRIPT = '<script>alert("dead")</script><img src=x onerror=alert(2)>'


def _record(console: Console, count: int) -> None:
    """Records dead letters the way the ingest worker does."""
    engine = make_engine(console.url)
    try:
        with make_sessionmaker(engine)() as db:
            for i in range(count):
                row = dead_letter.record(
                    db,
                    source="sql:events",
                    position=1000 + i,
                    event_key=f"key-{i}",
                    sender_id=f"sender-{i}",
                    error=f"IntegrityError: {SCRIPT}",
                    payload={"event": "user", "text": f"{SCRIPT} #{i}"},
                )
                assert "<script>" in row.payload and "<script>" in row.error  # stored as is
            db.commit()
    finally:
        engine.dispose()


def test_no_dead_letters(client: TestClient) -> None:
    page = client.get("/console/dead-letters")
    assert page.status_code == 200 and 'id="no-dead-letters"' in page.text
    assert client.get("/console/api/handoffs").json()["dead_letters"] == 0
    assert "dead-letters-notice" not in client.get("/console/inbox").text


def test_dead_letters_are_listed_escaped_with_a_count(
    client: TestClient, console_env: Console
) -> None:
    _record(console_env, 3)
    page = client.get("/console/dead-letters")
    assert page.status_code == 200
    assert page.text.count("<tr data-id=") == 3
    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;alert(&#34;dead&#34;)&lt;/script&gt;" in page.text
    assert "sql:events" in page.text and "sender-2" in page.text and "1002" in page.text
    assert page.text.index("sender-2") < page.text.index("sender-0")  # newest first
    assert client.get("/console/api/handoffs").json()["dead_letters"] == 3
    inbox = client.get("/console/inbox").text
    assert 'id="dead-letters-notice"' in inbox and "3" in inbox
    assert 'id="dead-letter-badge"' in inbox  # the nav badge the poll fills in


def test_labels_follow_the_interface_language(client: TestClient, console_env: Console) -> None:
    _record(console_env, 1)
    assert "入库失败" in client.get("/console/dead-letters").text
    client.post(
        "/console/lang",
        data={"lang": "en", "back": "/console/dead-letters", "csrf_token": csrf_of(client)},
    )
    page = client.get("/console/dead-letters").text
    assert "Dead letters" in page and "could not be stored" in page


def test_dead_letters_need_a_session(anon: TestClient) -> None:
    response = anon.get("/console/dead-letters", follow_redirects=False)
    assert response.status_code == 303 and "/console/login" in response.headers["location"]
