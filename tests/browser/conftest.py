"""Fixtures of the browser tests: the real stack plus the web app, and Debian Chromium.

The stack (seeded SQLite store, action server, Rasa server with the widget channel, web app
serving the demo shop and the built widget) lives for the ``tests/browser`` package and is
stopped before the next package starts.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.browser.chromium import CHROMIUM, CHROMIUM_ARGS, require_browser
from tests.e2e.stack import REPO, Process, action_server, base_env, free_port, rasa_server, start

SCREENSHOTS = REPO / "artifacts" / "screenshots"
BROWSER_CUSTOMERS = 60
# Low enough that a test can reach it (no test sends this many in one conversation).
SENDER_PER_MINUTE = 15
DESKTOP = {"width": 1280, "height": 800}
MOBILE = {"width": 390, "height": 844}


@dataclass(frozen=True)
class Stack:
    """The running product as the browser tests see it."""

    rasa_url: str
    web_url: str
    shop_url: str
    secret: str
    jwt_secret: str
    workdir: Path


def _check_prerequisites() -> None:
    require_browser()


@pytest.fixture(scope="package")
def browser_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for this package's databases and logs."""
    return tmp_path_factory.mktemp("browser_stack")


@pytest.fixture(scope="package")
def browser_env(browser_workdir: Path) -> dict[str, str]:
    """Environment of the stack: a seeded store, fresh secrets."""
    _check_prerequisites()
    secret = secrets.token_hex(16)
    url = f"sqlite:///{browser_workdir / 'shop.db'}"
    env = base_env(url, secret)
    web_port = free_port()
    env.update(
        SESSION_SECRET=secrets.token_hex(16),
        CONSOLE_PASSWORD=secrets.token_hex(8),
        WEB_PORT=str(web_port),
        # The widget runs on the web app's pages: the only origin the channel accepts.
        SITE_ORIGINS=f"http://127.0.0.1:{web_port}",
        CHAT_SENDER_PER_MINUTE=str(SENDER_PER_MINUTE),
        # The demo shop signs its customers with the demo secret; Rasa verifies with it too.
        DEMO_MODE="on",
        DEMO_IDENTITY_SECRET=secrets.token_hex(16),
        UPLOAD_DIR=str(browser_workdir / "uploads"),  # photos from the widget
    )
    env.pop("RASA_AUTH_TOKEN", None)
    subprocess.run(
        [sys.executable, "-m", "analytics", "seed", "--customers", str(BROWSER_CUSTOMERS)],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
    )
    return env


@pytest.fixture(scope="package")
def stack(browser_env: dict[str, str], browser_workdir: Path) -> Iterator[Stack]:
    """Action server, Rasa server (REST and widget doors) and the web app."""
    with (
        action_server(browser_env, browser_workdir) as actions,
        rasa_server(browser_env, browser_workdir, actions.url) as rasa,
    ):
        web_env = dict(browser_env, RASA_URL=rasa.url, RASA_PUBLIC_URL=rasa.url)
        port = int(browser_env["WEB_PORT"])
        web: Process = start(
            "web",
            [
                sys.executable, "-m", "uvicorn", "web.app:create_app", "--factory",
                "--host", "127.0.0.1", "--port", str(port),
            ],
            web_env,
            browser_workdir,
            f"http://127.0.0.1:{port}/health",
        )  # fmt: skip
        try:
            yield Stack(
                rasa_url=rasa.url,
                web_url=web.url,
                shop_url=browser_env["SHOP_DATABASE_URL"],
                secret=browser_env["IDENTITY_SECRET"],
                jwt_secret=browser_env["RASA_JWT_SECRET"],
                workdir=browser_workdir,
            )
        finally:
            web.stop()


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    """Playwright's driver."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright, stack: Stack) -> Iterator[Browser]:
    """Debian Chromium, headless."""
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


def new_context(browser: Browser, *, locale: str = "zh-CN", mobile: bool = False) -> BrowserContext:
    """A fresh browser profile (own storage) with a language and a screen size."""
    context = browser.new_context(
        locale=locale,
        viewport=MOBILE if mobile else DESKTOP,
        is_mobile=mobile,
        has_touch=mobile,
        extra_http_headers={"Accept-Language": locale},
    )
    context.set_default_timeout(30_000)
    return context


@pytest.fixture()
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh Chinese-language browser profile for one test."""
    context = new_context(browser)
    yield context
    context.close()


@pytest.fixture()
def page(context: BrowserContext) -> Page:
    """A tab of that profile."""
    return context.new_page()
