"""Browser tests of the console: Playwright driving Debian Chromium against a real uvicorn.

Every page is watched for Content-Security-Policy violations (the app sends a strict CSP,
web/security.py): a blocked script, style or connection fails the test. The demo shop (demo
mode on) is checked the same way with the real widget embedded.

Set ``CONSOLE_SCREENSHOTS=1`` to also write ``docs/img/console-inbox.png`` and
``docs/img/console-customer.png`` (the README's screenshots).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.chromium import CHROMIUM, CHROMIUM_ARGS, require_browser
from tests.web.conftest import REPO, Console
from tests.web.console_data import HTML, add_conversation

pytestmark = pytest.mark.browser

PASSWORD = "browser-" + secrets.token_hex(8)

playwright_api = pytest.importorskip("playwright.sync_api")


@dataclass
class Server:
    """The running console."""

    base: str
    url: str
    db_path: Path
    nlu_dir: Path
    nlu_dir_name: str = "nlu_data"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(seeded_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """uvicorn serving the web app on a private copy of the seeded store."""
    work = tmp_path_factory.mktemp("browser")
    db_path = work / "shop.db"
    shutil.copy(seeded_db, db_path)
    nlu_dir = work / "nlu_data"
    shutil.copytree(REPO / "nlu_data", nlu_dir)
    port = _free_port()
    url = f"sqlite:///{db_path}"
    env = dict(
        os.environ,
        SHOP_DATABASE_URL=url,
        CONSOLE_PASSWORD=PASSWORD,
        CONSOLE_USER="founder",
        SESSION_SECRET=secrets.token_hex(16),
        CONSOLE_NLU_DIR=str(nlu_dir),
        CONSOLE_TEST_CONVERSATIONS_DIR=str(work / "conversations"),
        CONSOLE_WORK_DIR=str(work / "w"),
        RASA_URL="http://127.0.0.1:9",
        PYTHONPATH=str(REPO),
        DEMO_MODE="on",
        DEMO_IDENTITY_SECRET=secrets.token_hex(16),
    )
    log = (work / "uvicorn.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "web.app:create_app", "--factory", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        else:
            raise RuntimeError((work / "uvicorn.log").read_text())
        yield Server(base, url, db_path, nlu_dir)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Headless Debian Chromium."""
    require_browser()
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture()
def page(browser: object) -> Iterator[object]:
    """A fresh browser context and page (no cookies)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")  # type: ignore[attr-defined]
    pg = context.new_page()
    dialogs: list[str] = []
    violations: list[str] = []

    def on_dialog(dialog: Any) -> None:  # noqa: ANN401 - Playwright's Dialog
        dialogs.append(dialog.message)
        dialog.dismiss()

    def on_console(message: Any) -> None:  # noqa: ANN401 - Playwright's ConsoleMessage
        if "Content Security Policy" in message.text:
            violations.append(message.text)

    pg.on("dialog", on_dialog)
    pg.on("console", on_console)
    pg.dialogs = dialogs  # type: ignore[attr-defined]
    yield pg
    context.close()
    assert violations == [], violations


def _login(page: object, base: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/console/login")  # type: ignore[attr-defined]
    page.fill("input[name=username]", "founder")  # type: ignore[attr-defined]
    page.fill("input[name=password]", password)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]


def test_no_page_without_session_and_wrong_password_fails(page: object, server: Server) -> None:
    page.goto(f"{server.base}/console/inbox")  # type: ignore[attr-defined]
    assert "/console/login" in page.url  # type: ignore[attr-defined]
    assert page.locator("#inbox").count() == 0  # type: ignore[attr-defined]
    _login(page, server.base, password="not-the-password")
    assert page.locator("#login-error").is_visible()  # type: ignore[attr-defined]
    assert "/console/login" in page.url  # type: ignore[attr-defined]


def test_login_and_inbox_filter_and_search(page: object, server: Server) -> None:
    console = _as_console(server)
    cid = add_conversation(
        console,
        [("user", "the Kenya AA grinder squeaks loudly", "report_problem")],
        sender="browser-1",
    )
    _login(page, server.base)
    page.wait_for_selector("#inbox")  # type: ignore[attr-defined]
    assert page.url.endswith("/console/inbox")  # type: ignore[attr-defined]
    rows = page.locator("#inbox tbody tr")  # type: ignore[attr-defined]
    assert rows.count() == 50
    page.select_option("select[name=intent]", "report_problem")  # type: ignore[attr-defined]
    page.click("#inbox-filters button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_load_state()  # type: ignore[attr-defined]
    assert "intent=report_problem" in page.url  # type: ignore[attr-defined]
    assert page.locator(f'#inbox tr[data-id="{cid}"]').count() == 1  # type: ignore[attr-defined]
    page.fill("input[name=q]", "squeaks loudly")  # type: ignore[attr-defined]
    page.click("#inbox-filters button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_load_state()  # type: ignore[attr-defined]
    assert page.locator("#inbox tbody tr").count() == 1  # type: ignore[attr-defined]
    page.click(f'#inbox tr[data-id="{cid}"] a.conv-link')  # type: ignore[attr-defined]
    page.wait_for_selector("#transcript")  # type: ignore[attr-defined]
    assert "squeaks loudly" in page.inner_text("#transcript")  # type: ignore[attr-defined]


def test_html_transcript_shows_as_text(page: object, server: Server) -> None:
    cid = add_conversation(_as_console(server), [("user", HTML, "complain")], sender="browser-xss")
    _login(page, server.base)
    page.goto(f"{server.base}/console/conversations/{cid}")  # type: ignore[attr-defined]
    text = page.inner_text("#transcript .turn.user .text")  # type: ignore[attr-defined]
    assert text == HTML
    assert page.locator("#transcript b").count() == 0  # type: ignore[attr-defined]
    assert page.locator("#transcript img").count() == 0  # type: ignore[attr-defined]
    assert page.dialogs == []  # type: ignore[attr-defined]


def test_correct_an_intent_and_see_nlu_data_change(page: object, server: Server) -> None:
    cid = add_conversation(
        _as_console(server),
        [("user", "can i freeze my box until june", "cancel_subscription")],
        sender="browser-teach",
    )
    target = server.nlu_dir / "en" / "corrections.yml"
    assert not target.exists()
    _login(page, server.base)
    page.goto(f"{server.base}/console/conversations/{cid}")  # type: ignore[attr-defined]
    form = page.locator("#transcript .turn.user form.teach-form")  # type: ignore[attr-defined]
    form.locator("select[name=intent]").select_option("pause_subscription")
    form.locator("button.correct").click()
    page.wait_for_selector("#correction-diff")  # type: ignore[attr-defined]
    assert "+    - can i freeze my box until june" in page.inner_text("#correction-diff")  # type: ignore[attr-defined]
    body = target.read_text(encoding="utf-8")
    assert (
        "- intent: pause_subscription\n  examples: |\n    - can i freeze my box until june\n"
        in body
    )


def test_screenshots_for_the_readme(page: object, server: Server) -> None:
    if not os.environ.get("CONSOLE_SCREENSHOTS"):
        pytest.skip("set CONSOLE_SCREENSHOTS=1 to refresh docs/img/")
    out = REPO / "docs" / "img"
    out.mkdir(parents=True, exist_ok=True)
    _login(page, server.base)
    page.wait_for_selector("#inbox")  # type: ignore[attr-defined]
    page.screenshot(path=str(out / "console-inbox.png"))  # type: ignore[attr-defined]
    page.goto(f"{server.base}/console/customers/cus_0003")  # type: ignore[attr-defined]
    page.wait_for_selector("#customer-panel")  # type: ignore[attr-defined]
    page.screenshot(path=str(out / "console-customer.png"), full_page=True)  # type: ignore[attr-defined]


def test_demo_shop_with_the_widget_under_the_csp(page: object, server: Server) -> None:
    page.goto(f"{server.base}/shop?customer=cus_0001&lang=zh")  # type: ignore[attr-defined]
    page.wait_for_selector(".lb-launcher")  # type: ignore[attr-defined]
    assert page.locator(".lb-launcher").is_visible()  # type: ignore[attr-defined]
    page.goto(f"{server.base}/?lang=en")  # type: ignore[attr-defined]
    frame = page.frame_locator("iframe").nth(1)  # type: ignore[attr-defined]
    frame.locator(".lb-launcher").wait_for()


def _as_console(server: Server) -> Console:
    return Console(
        server.url, server.db_path, server.nlu_dir, server.nlu_dir.parent / "conversations"
    )
