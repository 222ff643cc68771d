"""Browser test of the knowledge page: Playwright driving Debian Chromium against a real uvicorn
on a private copy of knowledge/ (KNOWLEDGE_DIR). The founder edits one passage through the
form; the file on disk changes, the parser reads the new text, markup stays text, and no
Content-Security-Policy violation happens on the way."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from analytics.store.knowledge import load_knowledge
from tests.browser.chromium import CHROMIUM, CHROMIUM_ARGS, require_browser
from tests.web.conftest import REPO
from tests.web.servers import serve_in_subprocess

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api")
PASSWORD = "browser-" + secrets.token_hex(8)


@dataclass
class Server:
    """The running console and its knowledge folder."""

    base: str
    knowledge: Path


@pytest.fixture(scope="module")
def server(seeded_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """uvicorn serving the web app on private copies of the seeded store and of knowledge/."""
    work = tmp_path_factory.mktemp("kb_browser")
    db_path = work / "shop.db"
    shutil.copy(seeded_db, db_path)
    knowledge = work / "knowledge"
    shutil.copytree(REPO / "knowledge", knowledge)
    env = {
        "SHOP_DATABASE_URL": f"sqlite:///{db_path}",
        "CONSOLE_PASSWORD": PASSWORD,
        "CONSOLE_USER": "founder",
        "SESSION_SECRET": secrets.token_hex(16),
        "CONSOLE_NLU_DIR": str(work / "nlu_data"),
        "CONSOLE_WORK_DIR": str(work / "w"),
        "KNOWLEDGE_DIR": str(knowledge),
        "RASA_URL": "http://127.0.0.1:9",
    }
    with serve_in_subprocess(env, work / "uvicorn.log") as base:
        yield Server(base, knowledge)


@pytest.fixture()
def page() -> Iterator[Any]:
    """A fresh Chromium page that records CSP violations and dialogs."""
    require_browser()
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1300, "height": 900}, locale="zh-CN")
        pg = context.new_page()
        violations: list[str] = []
        dialogs: list[str] = []

        def on_console(message: Any) -> None:  # noqa: ANN401 - Playwright's ConsoleMessage
            if "Content Security Policy" in message.text:
                violations.append(message.text)

        def on_dialog(dialog: Any) -> None:  # noqa: ANN401 - Playwright's Dialog
            dialogs.append(dialog.message)
            dialog.dismiss()

        pg.on("console", on_console)
        pg.on("dialog", on_dialog)
        pg.dialogs = dialogs
        yield pg
        browser.close()
        assert violations == [], violations


def test_the_founder_edits_a_passage_in_the_browser(page: Any, server: Server) -> None:
    path = server.knowledge / "returns-refunds.md"
    before = path.read_text(encoding="utf-8")
    target = next(p for p in load_knowledge(server.knowledge) if p.topic == "returns-refunds")
    page.goto(f"{server.base}/console/knowledge")
    assert "/console/login" in page.url
    page.fill("input[name=username]", "founder")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#knowledge")  # back where the login sent us from
    page.goto(f"{server.base}/console/inbox")
    page.click("#knowledge-link")
    page.wait_for_selector("#knowledge")
    row = page.locator(f'tr[data-id="{target.id}"]')
    assert "中文" in row.locator(".kb-langs").inner_text()
    row.locator("a.kb-edit").click()
    page.wait_for_selector("#kb-form")
    assert page.input_value("textarea[name=text_en]") == (target.text_en or "")
    new_text = "Returns are accepted within 7 days.\n<script>alert('kb')</script> **stay** text"
    page.fill("textarea[name=text_en]", new_text)
    page.click("#kb-save")
    page.wait_for_selector("#knowledge")
    assert page.url.split("#")[0].startswith(f"{server.base}/console/knowledge?msg=")
    assert "60" in page.inner_text(".flash.ok")
    edited = next(p for p in load_knowledge(server.knowledge) if p.id == target.id)
    assert edited.text_en == new_text and edited.text_zh == target.text_zh
    assert path.read_text(encoding="utf-8") == before.replace(target.text_en or "", new_text)
    shown = page.locator(f'tr[data-id="{target.id}"] details')
    shown.locator("summary").click()
    assert new_text in shown.locator('.kb-text[lang="en"]').inner_text()
    assert page.locator("#knowledge script, .kb-topic script").count() == 0
    assert page.dialogs == []
