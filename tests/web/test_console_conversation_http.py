"""HTTP-level tests of the console's conversation page and of teaching the bot from it
(intent corrections into ``nlu_data/``, test stories), on a real seeded store."""

from __future__ import annotations

from fastapi.testclient import TestClient
from ruamel.yaml import YAML
from sqlalchemy import func, select

from analytics.store.models import Conversation, Customer, Message
from analytics.store.models.console import ConversationTag, IntentCorrection, Note
from tests.web.conftest import Console, csrf_of
from tests.web.console_data import HTML, add_conversation, row_ids, store_session

# --- conversation view ---------------------------------------------------------------------


def test_html_in_a_transcript_is_shown_as_text(client: TestClient, console_env: Console) -> None:
    cid = add_conversation(
        console_env,
        [("user", HTML, "complain"), ("bot", "<i>sorry</i> & more", None)],
        sender="xss-1",
    )
    for path in (
        f"/console/conversations/{cid}",
        "/console/inbox?sort=recent",
        "/console/customers/cus_0003",
    ):
        page = client.get(path).text
        assert "<script>alert" not in page, path
        assert "<img src=x" not in page, path
        assert "<b>bold</b>" not in page, path
    page = client.get(f"/console/conversations/{cid}").text
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;" in page
    assert "&lt;i&gt;sorry&lt;/i&gt; &amp; more" in page
    assert client.get(f"/console/api/conversations/{cid}/messages").json()[0]["text"] == HTML


def test_conversation_shows_every_turn_and_the_customer_panel(
    client: TestClient, console_env: Console
) -> None:
    engine, db = store_session(console_env)
    try:
        conversation = db.scalar(
            select(Conversation).join(Customer).where(Customer.external_id == "cus_0003").limit(1)
        )
        assert conversation is not None
        messages = db.scalars(
            select(Message).where(Message.conversation_id == conversation.id)
        ).all()
    finally:
        db.close()
        engine.dispose()
    page = client.get(f"/console/conversations/{conversation.id}").text
    assert page.count('class="turn ') == len(messages)
    for m in messages:
        assert f'id="m{m.id}"' in page
        if m.intent:
            assert m.intent in page
        if m.action:
            assert m.action in page
    assert 'id="customer-panel"' in page and "李娜" in page
    assert "LB" in page  # her orders
    assert client.get("/console/conversations/999999").status_code == 404


def test_tags_reviewed_and_notes(client: TestClient, console_env: Console) -> None:
    cid = add_conversation(console_env, [("user", "where is my tea", "order_status")], sender="t-1")
    token = csrf_of(client)
    client.post(
        f"/console/conversations/{cid}/tags", data={"tag": "late delivery", "csrf_token": token}
    )
    client.post(
        f"/console/conversations/{cid}/tags", data={"tag": "late delivery", "csrf_token": token}
    )
    client.post(
        f"/console/conversations/{cid}/reviewed", data={"reviewed": "1", "csrf_token": token}
    )
    client.post(
        f"/console/conversations/{cid}/notes",
        data={"text": "Call her <today>", "csrf_token": token},
    )
    page = client.get(f"/console/conversations/{cid}").text
    assert "late delivery" in page and "Call her &lt;today&gt;" in page
    assert cid in row_ids(client.get("/console/inbox?tag=late+delivery").text)
    assert cid in row_ids(client.get("/console/inbox?reviewed=1&sort=recent").text)
    client.post(
        f"/console/conversations/{cid}/tags/remove",
        data={"tag": "late delivery", "csrf_token": token},
    )
    engine, db = store_session(console_env)
    try:
        assert db.scalar(select(func.count()).select_from(ConversationTag)) == 0
        assert db.get(Conversation, cid).reviewed is True
        note = db.scalar(select(Note))
        assert note.text == "Call her <today>" and note.customer_id is not None
    finally:
        db.close()
        engine.dispose()


def test_resolving_clears_the_handoff_and_a_bad_status_is_refused(
    client: TestClient, console_env: Console
) -> None:
    cid = add_conversation(
        console_env,
        [("user", "I want a person", "human_handoff")],
        sender="st-1",
        needs_handoff=True,
    )
    token = csrf_of(client)
    bad = client.post(
        f"/console/conversations/{cid}/status", data={"status": "closed", "csrf_token": token}
    )
    assert bad.status_code == 400
    assert "open" in bad.json()["detail"] and "resolved" in bad.json()["detail"]
    assert "状态" in bad.json()["detail"]
    client.post(
        f"/console/conversations/{cid}/status", data={"status": "resolved", "csrf_token": token}
    )
    engine, db = store_session(console_env)
    try:
        row = db.get(Conversation, cid)
        assert (row.status, row.needs_handoff) == ("resolved", False)
    finally:
        db.close()
        engine.dispose()
    client.post(
        f"/console/conversations/{cid}/status", data={"status": "open", "csrf_token": token}
    )
    engine, db = store_session(console_env)
    try:
        row = db.get(Conversation, cid)
        assert (row.status, row.needs_handoff) == ("open", False)
    finally:
        db.close()
        engine.dispose()


# --- teach the bot -------------------------------------------------------------------------


def _corrections(console: Console, lang: str) -> dict[str, list[str]]:
    path = console.nlu_dir / lang / "corrections.yml"
    data = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    assert data["version"] == "3.1"
    return {
        item["intent"]: [ln[2:] for ln in item["examples"].splitlines() if ln]
        for item in data["nlu"]
    }


def test_correcting_an_intent_writes_nlu_data_once(
    client: TestClient, console_env: Console
) -> None:
    cid = add_conversation(
        console_env,
        [("user", "my LB100234 never came, give me my money back", "order_status")],
        sender="c-1",
    )
    engine, db = store_session(console_env)
    try:
        mid = db.scalar(select(Message.id).where(Message.conversation_id == cid))
    finally:
        db.close()
        engine.dispose()
    token = csrf_of(client)
    response = client.post(
        f"/console/messages/{mid}/intent", data={"intent": "refund_request", "csrf_token": token}
    )
    assert response.status_code == 200
    assert (
        "+    - my [LB100234](order_id) never came, give me my money back" in response.text
    )  # the diff
    assert _corrections(console_env, "en") == {
        "refund_request": ["my [LB100234](order_id) never came, give me my money back"]
    }
    client.post(
        f"/console/messages/{mid}/intent", data={"intent": "refund_request", "csrf_token": token}
    )
    assert _corrections(console_env, "en")["refund_request"] == [
        "my [LB100234](order_id) never came, give me my money back"
    ]  # no duplicate
    client.post(
        f"/console/messages/{mid}/intent", data={"intent": "report_problem", "csrf_token": token}
    )
    assert _corrections(console_env, "en") == {
        "report_problem": ["my [LB100234](order_id) never came, give me my money back"]
    }  # moved, not duplicated
    engine, db = store_session(console_env)
    try:
        correction = db.scalar(select(IntentCorrection).where(IntentCorrection.message_id == mid))
        assert (
            correction.predicted_intent == "order_status" and correction.intent == "report_problem"
        )
        assert correction.written_to == "nlu_data/en/corrections.yml"
    finally:
        db.close()
        engine.dispose()
    assert not (console_env.nlu_dir / "zh" / "corrections.yml").exists()
    teach = client.get("/console/teach").text
    assert "report_problem" in teach and "never came" in teach


def test_corrections_go_to_the_language_folder_and_annotate_products(
    client: TestClient, console_env: Console
) -> None:
    cid = add_conversation(
        console_env,
        [
            ("user", "西湖龙井还有货吗 多少钱", "ask_recommendation"),
            ("user", "这个 Kenya AA 的 price 是多少", "greet"),
        ],
        sender="c-2",
    )
    engine, db = store_session(console_env)
    try:
        zh_id, mixed_id = db.scalars(
            select(Message.id).where(Message.conversation_id == cid).order_by(Message.id)
        ).all()
    finally:
        db.close()
        engine.dispose()
    token = csrf_of(client)
    client.post(
        f"/console/messages/{zh_id}/intent", data={"intent": "pricing", "csrf_token": token}
    )
    client.post(
        f"/console/messages/{mixed_id}/intent", data={"intent": "pricing", "csrf_token": token}
    )
    assert _corrections(console_env, "zh") == {"pricing": ["[西湖龙井](product)还有货吗 多少钱"]}
    assert _corrections(console_env, "mixed") == {
        "pricing": ["这个 [Kenya AA](product) 的 price 是多少"]
    }


def test_a_correction_that_conflicts_with_the_topic_files_is_refused(
    client: TestClient, console_env: Console
) -> None:
    cid = add_conversation(console_env, [("user", "where is my order", "greet")], sender="c-3")
    engine, db = store_session(console_env)
    try:
        mid = db.scalar(select(Message.id).where(Message.conversation_id == cid))
    finally:
        db.close()
        engine.dispose()
    token = csrf_of(client)
    page = client.post(
        f"/console/messages/{mid}/intent", data={"intent": "pricing", "csrf_token": token}
    ).text
    assert "nlu_data/en/orders.yml" in page and "order_status" in page
    assert not (console_env.nlu_dir / "en" / "corrections.yml").exists()
    page = client.post(
        f"/console/messages/{mid}/intent", data={"intent": "order_status", "csrf_token": token}
    ).text
    assert "Already in the training data" in page or "训练数据中已有" in page
    assert not (console_env.nlu_dir / "en" / "corrections.yml").exists()
    assert (
        client.post(
            f"/console/messages/{mid}/intent",
            data={"intent": "no_such_intent", "csrf_token": token},
        ).status_code
        == 400
    )


def test_save_as_test_conversation(client: TestClient, console_env: Console) -> None:
    cid = add_conversation(
        console_env, [("user", "hi there", "greet"), ("bot", "Hello!", None)], sender="story-1"
    )
    response = client.post(
        f"/console/conversations/{cid}/save-test", data={"csrf_token": csrf_of(client)}
    )
    assert response.status_code == 200
    path = console_env.tests_dir / f"console_{cid}.yml"
    data = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    steps = data["stories"][0]["steps"]
    assert steps[0] == {"user": "hi there\n", "intent": "greet"}
    assert steps[1] == {"action": "utter_fallback"}
