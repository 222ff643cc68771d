"""The console's knowledge page (web/console/routes/knowledge.py) on a real seeded store and a
private copy of knowledge/: listing, editing through the real forms, what was answered from
which passage, and every door's refusals (session, CSRF, hostile bodies, traversal, stale
forms, edits that break the format)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from analytics.loop.knowledge import KnowledgeBase
from analytics.store.knowledge import load_knowledge
from analytics.store.models.knowledge import KnowledgeAnswer
from tests.web.conftest import REPO, Console, csrf_of
from tests.web.console_data import HTML, add_conversation, store_session
from tests.web.test_security import _assert_headers, _assert_no_inline_script

DIGEST_RE = re.compile(r'name="digest" value="([0-9a-f]{64})"')
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture()
def kb(console_env: Console, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private copy of knowledge/ as KNOWLEDGE_DIR."""
    folder = tmp_path / "knowledge"
    shutil.copytree(REPO / "knowledge", folder)
    monkeypatch.setenv("KNOWLEDGE_DIR", str(folder))
    yield folder


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _edit_form(client: TestClient, topic: str, pid: str) -> dict[str, str]:
    page = client.get(f"/console/knowledge/edit?topic={topic}&id={pid}")
    assert page.status_code == 200, page.text
    match = DIGEST_RE.search(page.text)
    assert match
    passage = next(p for p in load_knowledge(REPO / "knowledge") if p.id == pid)
    return {
        "csrf_token": csrf_of(client),
        "topic": topic,
        "digest": match.group(1),
        "id": pid,
        "title_zh": passage.title_zh,
        "title_en": passage.title_en,
        "text_zh": passage.text_zh or "",
        "text_en": passage.text_en or "",
    }


def test_every_page_and_post_needs_a_session(anon: TestClient, kb: Path) -> None:
    before = _snapshot(kb)
    for path in (
        "/console/knowledge",
        "/console/knowledge/edit?topic=shipping&id=shipping-costs",
        "/console/knowledge/new?topic=shipping",
        "/console/knowledge/new-topic",
    ):
        response = anon.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/console/login?next=")
    for action in ("passage/update", "passage/add", "passage/delete", "topic/add", "topic/delete"):
        response = anon.post(
            f"/console/knowledge/{action}",
            data={"topic": "shipping", "id": "shipping-costs", "confirm": "yes"},
            follow_redirects=False,
        )
        assert response.status_code == 303, action
        assert "/console/login" in response.headers["location"]
    assert _snapshot(kb) == before


def test_every_post_needs_the_csrf_token(client: TestClient, kb: Path) -> None:
    before = _snapshot(kb)
    form = _edit_form(client, "shipping", "shipping-costs")
    for action in ("passage/update", "passage/add", "passage/delete", "topic/add", "topic/delete"):
        for token in (None, "forged", "伪造"):
            data = dict(form, text_en="changed", confirm="yes")
            data.pop("csrf_token")
            if token is not None:
                data["csrf_token"] = token
            response = client.post(f"/console/knowledge/{action}", data=data)
            assert response.status_code == 403, (action, token)
    assert _snapshot(kb) == before


def test_topics_and_passages_are_listed_with_their_languages(client: TestClient, kb: Path) -> None:
    passages = load_knowledge(kb)
    page = client.get("/console/knowledge")
    assert page.status_code == 200
    assert page.text.count('class="card kb-topic"') == 8
    assert page.text.count('<tr id="p-') == len(passages)
    assert "知识库" in page.text and 'id="knowledge-link"' in page.text
    row = re.compile(r'<tr id="p-([a-z0-9-]+)".*?<td class="kb-langs">(.*?)</td>', re.S)
    languages = {pid: cell for pid, cell in row.findall(page.text)}
    for passage in passages:
        cell = languages[passage.id]
        assert ("中文" in cell) == (passage.text_zh is not None), passage.id
        assert ("EN" in cell) == (passage.text_en is not None), passage.id
    assert any(p.text_en is None for p in passages) and any(p.text_zh is None for p in passages)
    client.post(
        "/console/lang",
        data={"lang": "en", "back": "/console/knowledge", "csrf_token": csrf_of(client)},
    )
    english = client.get("/console/knowledge").text
    assert "Knowledge" in english and "Add a passage" in english


def test_an_edit_is_written_to_the_file_and_shown(client: TestClient, kb: Path) -> None:
    before = _snapshot(kb)
    form = _edit_form(client, "shipping", "shipping-costs")
    new_text = "满 88 元包邮。\n\n- 偏远地区另计"
    response = client.post(
        "/console/knowledge/passage/update",
        data=dict(form, text_zh=new_text),
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/console/knowledge?msg=")
    assert response.headers["location"].endswith("#p-shipping-costs")
    edited = next(p for p in load_knowledge(kb) if p.id == "shipping-costs")
    assert edited.text_zh == new_text and edited.text_en == form["text_en"]
    after = _snapshot(kb)
    assert {name for name in after if after[name] != before[name]} == {"shipping.md"}
    old = before["shipping.md"].decode()
    assert after["shipping.md"].decode() == old.replace(form["text_zh"], new_text)
    assert "满 88 元包邮。" in client.get("/console/knowledge").text


def test_a_stale_form_is_refused_and_keeps_the_founders_text(client: TestClient, kb: Path) -> None:
    form = _edit_form(client, "shipping", "shipping-costs")
    other = _edit_form(client, "shipping", "shipping-times")
    first = client.post(
        "/console/knowledge/passage/update",
        data=dict(other, text_en="Another window's edit."),
        follow_redirects=False,
    )
    assert first.status_code == 303
    after_first = (kb / "shipping.md").read_bytes()
    mine = "My careful rewrite of the shipping costs, two hours of work."
    response = client.post("/console/knowledge/passage/update", data=dict(form, text_en=mine))
    assert response.status_code == 409
    assert 'data-code="stale"' in response.text and "被改过" in response.text
    assert mine in response.text and 'id="kb-reload"' in response.text
    assert (kb / "shipping.md").read_bytes() == after_first
    for action, extra in (("passage/delete", {"id": "shipping-costs"}), ("topic/delete", {})):
        refused = client.post(
            f"/console/knowledge/{action}",
            data={"csrf_token": form["csrf_token"], "topic": "shipping", "digest": form["digest"], "confirm": "yes", **extra},
        )  # fmt: skip
        assert "Not deleted" in refused.text or "没有删除" in refused.text, action
    assert (kb / "shipping.md").read_bytes() == after_first


@pytest.mark.parametrize(
    ("text_zh", "message"),
    [
        ("运费\n## 不是标题", "heading is not"),
        ("运费\n# 大标题", "top-level"),
        ("运费\n<!-- en -->\nsneaky", "marker"),
    ],
)
def test_an_edit_that_breaks_the_format_is_refused_with_the_parsers_message(
    client: TestClient, kb: Path, text_zh: str, message: str
) -> None:
    before = _snapshot(kb)
    form = _edit_form(client, "shipping", "shipping-costs")
    response = client.post(
        "/console/knowledge/passage/update", data=dict(form, text_zh=text_zh, text_en="")
    )
    assert response.status_code == 400
    assert 'data-code="format"' in response.text and message in response.text
    assert "解析器说" in response.text
    assert _snapshot(kb) == before


def test_markup_in_passages_and_questions_is_shown_as_text(
    client: TestClient, kb: Path, console_env: Console
) -> None:
    page = client.get("/console/knowledge/new?topic=payment")
    digest = DIGEST_RE.search(page.text)
    assert digest
    response = client.post(
        "/console/knowledge/passage/add",
        data={
            "csrf_token": csrf_of(client),
            "topic": "payment",
            "digest": digest.group(1),
            "id": "payment-xss",
            "title_zh": "脚本<b>粗体</b>",
            "title_en": '<img src=x onerror=alert("t")>',
            "text_zh": "",
            "text_en": HTML + "\n**bold** [link](javascript:alert(1))",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    stored = next(p for p in load_knowledge(kb) if p.id == "payment-xss").text_en
    assert stored is not None and stored.startswith(HTML)
    _record_answers(console_env, [("payment-xss", HTML), (None, "<script>refused()</script>")])
    for path in (
        "/console/knowledge",
        "/console/knowledge?refused=1",
        "/console/knowledge/edit?topic=payment&id=payment-xss",
    ):
        text = client.get(path).text
        assert "<script>alert" not in text and "<img src=x" not in text, path
        assert "<b>粗体</b>" not in text and "<script>refused" not in text, path
        assert 'href="javascript:' not in text, path
    listing = client.get("/console/knowledge").text
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in listing


def _record_answers(console: Console, rows: list[tuple[str | None, str]]) -> int:
    """Writes knowledge_answers rows the way the bot's action does; returns the chat's id."""
    cid = add_conversation(console, [("user", "question", "ask_faq")], sender="kb-chat")
    engine, db = store_session(console)
    try:
        now = datetime.now(UTC)
        for i, (pid, question) in enumerate(rows):
            db.add(
                KnowledgeAnswer(
                    sender_id="kb-chat",
                    customer_id=None,
                    question=question,
                    passage_id=pid,
                    score=0.8 if pid else 0.1,
                    language="en",
                    mode="direct" if pid else "refused",
                    intent="ask_faq",
                    created_at=now - timedelta(minutes=i),
                )
            )
        db.commit()
    finally:
        db.close()
        engine.dispose()
    return cid


def test_questions_answered_from_each_passage_and_refusals(
    client: TestClient, kb: Path, console_env: Console
) -> None:
    cid = _record_answers(
        console_env,
        [
            ("shipping-costs", "how much is shipping"),
            ("shipping-costs", "运费多少"),
            ("payment-methods", "can I pay with alipay"),
            (None, "what is the weather in Hangzhou"),
        ],
    )
    page = client.get("/console/knowledge").text
    row = re.search(r'<tr id="p-shipping-costs".*?</tr>', page, re.S)
    assert row and ">2</a>" in row.group(0)
    assert "what is the weather in Hangzhou" in page and f"/console/conversations/{cid}" in page
    only = client.get("/console/knowledge?passage=shipping-costs").text
    assert "运费多少" in only and "can I pay with alipay" not in only
    refused = client.get("/console/knowledge?refused=1").text
    assert "what is the weather in Hangzhou" in refused and "运费多少" not in refused
    assert "没能回答 1 次" in refused
    edit = client.get("/console/knowledge/edit?topic=shipping&id=shipping-costs").text
    assert "how much is shipping" in edit and "can I pay with alipay" not in edit
    assert client.get("/console/knowledge?passage=../../x").status_code == 200


def test_add_a_topic_then_delete_a_passage_and_the_topic(client: TestClient, kb: Path) -> None:
    before = _snapshot(kb)
    base = {
        "csrf_token": csrf_of(client),
        "topic": "gift-cards",
        "topic_title_zh": "礼品卡",
        "topic_title_en": "Gift cards",
        "title_zh": "有效期",
        "title_en": "Expiry",
        "text_zh": "礼品卡三年内有效。",
        "text_en": "Gift cards are valid for three years.",
    }
    created = client.post(
        "/console/knowledge/topic/add",
        data=dict(base, id="gift-cards-expiry"),
        follow_redirects=False,
    )
    assert created.status_code == 303
    assert "gift-cards-expiry" in {p.id for p in load_knowledge(kb)}
    digest = DIGEST_RE.search(client.get("/console/knowledge/new?topic=gift-cards").text)
    assert digest
    added = client.post(
        "/console/knowledge/passage/add",
        data=dict(base, id="gift-cards-balance", digest=digest.group(1), text_zh=""),
        follow_redirects=False,
    )
    assert added.status_code == 303
    form = _digest_of(client, "gift-cards", "gift-cards-balance")
    no_box = client.post(
        "/console/knowledge/passage/delete",
        data={
            "csrf_token": base["csrf_token"],
            "topic": "gift-cards",
            "id": "gift-cards-balance",
            "digest": form,
        },
        follow_redirects=False,
    )
    assert no_box.status_code == 303 and "err=" in no_box.headers["location"]
    deleted = client.post(
        "/console/knowledge/passage/delete",
        data={"csrf_token": base["csrf_token"], "topic": "gift-cards", "id": "gift-cards-balance", "digest": form, "confirm": "yes"},
        follow_redirects=False,
    )  # fmt: skip
    assert deleted.status_code == 303 and "msg=" in deleted.headers["location"]
    assert "gift-cards-balance" not in {p.id for p in load_knowledge(kb)}
    page = client.get("/console/knowledge").text
    topic_digest = re.search(
        r'name="topic" value="gift-cards">\s*<input type="hidden" name="digest" value="(\w+)"', page
    )
    assert topic_digest
    gone = client.post(
        "/console/knowledge/topic/delete",
        data={"csrf_token": base["csrf_token"], "topic": "gift-cards", "digest": topic_digest.group(1), "confirm": "yes"},
        follow_redirects=False,
    )  # fmt: skip
    assert gone.status_code == 303 and _snapshot(kb) == before


def _digest_of(client: TestClient, topic: str, pid: str) -> str:
    match = DIGEST_RE.search(client.get(f"/console/knowledge/edit?topic={topic}&id={pid}").text)
    assert match
    return match.group(1)


def test_hostile_bodies_are_refused_and_nothing_changes(client: TestClient, kb: Path) -> None:
    before = _snapshot(kb)
    form = _edit_form(client, "shipping", "shipping-costs")
    url = "/console/knowledge/passage/update"
    encoded = "&".join(f"{k}={quote(v)}" for k, v in form.items() if k != "text_en")
    huge = client.post(url, data=dict(form, text_en="a" * 600_000))
    assert huge.status_code == 413
    for bad in ("%ff%fe", "%ED%A0%80", "%C3"):  # invalid UTF-8; a lone surrogate; truncated
        response = client.post(url, content=f"{encoded}&text_en={bad}".encode(), headers=FORM)
        assert response.status_code == 400, bad
        assert "UTF-8" in response.json()["detail"]
    binary = client.post(url, content=bytes(range(256)) * 4, headers=FORM)
    assert binary.status_code in (400, 403)
    with_nul = client.post(
        url, content=f"{encoded}&text_en=a%00b%01".encode(), headers=FORM, follow_redirects=False
    )
    assert with_nul.status_code == 303  # control characters are dropped (next test)
    form = _edit_form(client, "shipping", "shipping-costs")
    encoded = "&".join(f"{k}={quote(v)}" for k, v in form.items() if k != "text_en")
    raw = client.post(
        url, content=f"{encoded}&text_en=raw ünïcode".encode(), headers=FORM, follow_redirects=False
    )
    assert raw.status_code == 303  # UTF-8 that was not percent-encoded is still UTF-8
    before = _snapshot(kb)
    flood = "&".join(f"f{i}=1" for i in range(50))
    many = client.post(url, content=f"{encoded}&{flood}".encode(), headers=FORM)
    assert many.status_code == 400 and "too many fields" in many.json()["detail"]
    multipart = client.post(
        url, data=form, files={"f": ("x.bin", b"\x00\x01", "application/octet-stream")}
    )
    assert multipart.status_code == 415
    long_text = client.post(url, data=dict(form, text_en="a" * 20_001))
    assert long_text.status_code == 400 and 'data-code="text_too_long"' in long_text.text
    assert _snapshot(kb) == before


def test_control_characters_are_dropped_and_the_file_stays_valid(
    client: TestClient, kb: Path
) -> None:
    form = _edit_form(client, "shipping", "shipping-costs")
    response = client.post(
        "/console/knowledge/passage/update",
        data=dict(form, text_en="Free over \x00\x07\x1b99\r\nper order\u200b."),
        follow_redirects=False,
    )
    assert response.status_code == 303
    edited = next(p for p in load_knowledge(kb) if p.id == "shipping-costs")
    assert edited.text_en == "Free over 99\nper order\u200b."


@pytest.mark.parametrize(
    "topic",
    ["../README", "../../etc/passwd", "..", "shipping/../payment", "/tmp/x", "README", "a%2Fb"],
)
def test_topic_traversal_is_refused(client: TestClient, kb: Path, topic: str) -> None:
    before = _snapshot(kb)
    outside = sorted(p.name for p in kb.parent.iterdir())
    assert client.get(f"/console/knowledge/edit?topic={quote(topic)}&id=x").status_code == 404
    assert client.get(f"/console/knowledge/new?topic={quote(topic)}").status_code == 404
    token = csrf_of(client)
    passage = {"id": "x-y", "title_zh": "标题", "title_en": "Title", "text_zh": "内容"}
    for action in ("passage/add", "passage/update", "topic/add"):
        data = dict(passage, csrf_token=token, topic=topic, digest="0" * 64)
        data |= {"topic_title_zh": "主题", "topic_title_en": "Topic"}
        response = client.post(f"/console/knowledge/{action}", data=data)
        assert response.status_code in (400, 404), (action, response.status_code)
        assert 'data-code="bad_topic"' in response.text or 'data-code="not_found"' in response.text
    response = client.post(
        "/console/knowledge/topic/delete",
        data={"csrf_token": token, "topic": topic, "digest": "0" * 64, "confirm": "yes"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and "err=" in response.headers["location"]
    assert _snapshot(kb) == before
    assert sorted(p.name for p in kb.parent.iterdir()) == outside


def test_passage_id_traversal_is_refused(client: TestClient, kb: Path) -> None:
    before = _snapshot(kb)
    page = client.get("/console/knowledge/new?topic=shipping")
    digest = DIGEST_RE.search(page.text)
    assert digest
    for pid in ("../../etc/passwd", "shipping-../x", "shipping-<b>", "shipping-A"):
        response = client.post(
            "/console/knowledge/passage/add",
            data={"csrf_token": csrf_of(client), "topic": "shipping", "digest": digest.group(1), "id": pid, "title_zh": "标题", "title_en": "Title", "text_zh": "内容"},
        )  # fmt: skip
        assert response.status_code == 400 and 'data-code="bad_id"' in response.text, pid
        assert "<b>" not in response.text.split('id="kb-error"')[1].split("</p>")[0]
    assert client.get("/console/knowledge/edit?topic=shipping&id=../x").status_code == 404
    assert _snapshot(kb) == before


def test_pages_and_refusals_carry_the_security_headers(client: TestClient, kb: Path) -> None:
    form = _edit_form(client, "shipping", "shipping-costs")
    responses = {
        path: client.get(path)
        for path in (
            "/console/knowledge",
            "/console/knowledge?refused=1",
            "/console/knowledge/edit?topic=shipping&id=shipping-costs",
            "/console/knowledge/new?topic=shipping",
            "/console/knowledge/new-topic",
        )
    }
    responses["format refusal"] = client.post(
        "/console/knowledge/passage/update", data=dict(form, text_zh="运费\n## x")
    )
    responses["stale refusal"] = client.post(
        "/console/knowledge/passage/update", data=dict(form, digest="0" * 64)
    )
    responses["413"] = client.post(
        "/console/knowledge/passage/update", data=dict(form, text_en="a" * 600_000)
    )
    for where, response in responses.items():
        csp = _assert_headers(response, where)
        assert "'unsafe-inline'" not in csp, where
        if response.headers["content-type"].startswith("text/html"):
            _assert_no_inline_script(response.text, csp, where)
    assert [r.status_code for r in responses.values()][-3:] == [400, 409, 413]


def test_the_bots_knowledge_base_picks_up_console_edits(client: TestClient, kb: Path) -> None:
    now = [0.0]
    base = KnowledgeBase(kb, reload_seconds=10, clock=lambda: now[0])
    assert base.current().passage("gift-cards-expiry") is None
    created = client.post(
        "/console/knowledge/topic/add",
        data={
            "csrf_token": csrf_of(client),
            "topic": "gift-cards",
            "topic_title_zh": "礼品卡",
            "topic_title_en": "Gift cards",
            "id": "gift-cards-expiry",
            "title_zh": "礼品卡有效期",
            "title_en": "Gift card expiry",
            "text_zh": "礼品卡自购买之日起三年内有效，可以多次使用。",
            "text_en": "Gift cards are valid for three years from purchase and can be used several times.",
        },
        follow_redirects=False,
    )
    assert created.status_code == 303
    now[0] += 10  # the next look at the folder (KNOWLEDGE_RELOAD_SECONDS, at most 60)
    snapshot = base.current()
    assert snapshot.passage("gift-cards-expiry") is not None and snapshot.problems == ()
    assert snapshot.retriever is not None
    for question in ("how long is a gift card valid", "礼品卡有效期多久"):
        assert snapshot.retriever.retrieve(question, 1)[0].passage_id == "gift-cards-expiry"
    form = _edit_form(client, "shipping", "shipping-costs")
    client.post("/console/knowledge/passage/update", data=dict(form, text_en="Free over 88."))
    now[0] += 10
    edited = base.current().passage("shipping-costs")
    assert edited is not None and edited.text_en == "Free over 88."
