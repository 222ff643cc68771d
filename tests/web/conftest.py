"""Fixtures of the console tests: a real seeded SQLite store and the real web app.

The store is seeded once per session by the real CLI (``python -m analytics seed``, which
also applies every migration, the console's included); each test gets a private copy.
NLU data and test conversations are written into temporary copies (``CONSOLE_NLU_DIR``,
``CONSOLE_TEST_CONVERSATIONS_DIR``), never into the repository.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from web import settings as web_settings
from web.console import facts, routes

REPO = Path(__file__).resolve().parents[2]
SEED_CUSTOMERS = 150
PASSWORD = "correct horse battery staple"
SESSION_SECRET = "test-session-secret-" + "x" * 20
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="session")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo shop seeded once per session by the real CLI."""
    path = tmp_path_factory.mktemp("console_shop") / "shop.db"
    env = {
        "SHOP_DATABASE_URL": f"sqlite:///{path}",
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO),
    }
    subprocess.run(
        [sys.executable, "-m", "analytics", "seed", "--customers", str(SEED_CUSTOMERS)],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
    )
    return path


def _reset_caches() -> None:
    web_settings.get_settings.cache_clear()
    routes.dispose_engines()
    facts.SCORES.reset()


@dataclass
class Console:
    """The environment of one test: store URL and the folders the console writes to."""

    url: str
    db_path: Path
    nlu_dir: Path
    tests_dir: Path


@pytest.fixture()
def console_env(
    seeded_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Console]:
    """A private store copy, NLU copy and settings for one test."""
    db_path = tmp_path / "shop.db"
    shutil.copy(seeded_db, db_path)
    nlu_dir = tmp_path / "nlu_data"
    shutil.copytree(REPO / "nlu_data", nlu_dir)
    tests_dir = tmp_path / "conversations"
    url = f"sqlite:///{db_path}"
    monkeypatch.setenv("SHOP_DATABASE_URL", url)
    monkeypatch.setenv("CONSOLE_PASSWORD", PASSWORD)
    monkeypatch.setenv("CONSOLE_USER", "founder")
    monkeypatch.setenv("SESSION_SECRET", SESSION_SECRET)
    monkeypatch.setenv("CONSOLE_NLU_DIR", str(nlu_dir))
    monkeypatch.setenv("CONSOLE_TEST_CONVERSATIONS_DIR", str(tests_dir))
    monkeypatch.setenv("CONSOLE_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.setenv("RASA_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("RASA_AUTH_TOKEN", raising=False)
    _reset_caches()
    yield Console(url, db_path, nlu_dir, tests_dir)
    _reset_caches()


@pytest.fixture()
def anon(console_env: Console) -> Iterator[TestClient]:
    """A client without a session."""
    from web.app import create_app

    with TestClient(create_app(), base_url="http://testserver") as client:
        yield client


def login(client: TestClient, password: str = PASSWORD, username: str = "founder") -> object:
    """Logs in through the real form (with its CSRF token)."""
    page = client.get("/console/login")
    token = CSRF_RE.search(page.text)
    assert token, page.text
    return client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf_token": token.group(1), "next": ""},
        follow_redirects=False,
    )


@pytest.fixture()
def client(anon: TestClient) -> TestClient:
    """A client with the founder's session."""
    response = login(anon)
    assert response.status_code == 303  # type: ignore[attr-defined]
    return anon


def csrf_of(client: TestClient, path: str = "/console/inbox") -> str:
    """The session's CSRF token, read from a page like a browser would."""
    match = CSRF_RE.search(client.get(path).text)
    assert match
    return match.group(1)
