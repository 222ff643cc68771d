"""Fixtures of the console tests: a real seeded SQLite store and the real web app.

The store is seeded once per session by the real CLI (``python -m analytics seed``, which
also applies every migration, the console's included); each test gets a private copy, on
SQLite (a file copy) and on PostgreSQL (``CREATE DATABASE ... TEMPLATE`` of a seeded
database on the local server, ``TEST_POSTGRES_ADMIN_URL``; marker ``postgres``).
NLU data and test conversations are written into temporary copies (``CONSOLE_NLU_DIR``,
``CONSOLE_TEST_CONVERSATIONS_DIR``), never into the repository.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.services import fail_without_postgres
from web import settings as web_settings
from web.console import facts, routes

REPO = Path(__file__).resolve().parents[2]
SEED_CUSTOMERS = 150
PASSWORD = "correct horse battery staple"
SESSION_SECRET = "test-session-secret-" + "x" * 20
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
PG_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
SQLITE = "sqlite"
LOCAL_BASE = (
    "http://localhost"  # a local host: cookies without Secure (CONSOLE_SECURE_COOKIES=auto)
)
POSTGRES = "postgres"


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


def _pg_admin_execute(statement: str) -> None:
    admin = create_engine(
        PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    try:
        with admin.connect() as conn:
            conn.execute(text(statement))
    finally:
        admin.dispose()


def _pg_url(name: str) -> str:
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def seeded_pg() -> Iterator[str]:
    """A demo shop seeded once per session on the local PostgreSQL; yields its name."""
    name = f"console_seed_{uuid.uuid4().hex[:10]}"
    try:
        _pg_admin_execute(f'CREATE DATABASE "{name}"')
    except Exception as error:  # noqa: BLE001  (any failure means: no server here)
        fail_without_postgres(error)
    try:
        env = {
            "SHOP_DATABASE_URL": _pg_url(name),
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
        yield name
    finally:
        _pg_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=[SQLITE, pytest.param(POSTGRES, marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A private copy of the seeded store, on SQLite and on PostgreSQL."""
    if request.param == SQLITE:
        db_path = tmp_path / "shop.db"
        shutil.copy(request.getfixturevalue("seeded_db"), db_path)
        yield f"sqlite:///{db_path}"
        return
    template = request.getfixturevalue("seeded_pg")
    name = f"console_test_{uuid.uuid4().hex[:10]}"
    _pg_admin_execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield _pg_url(name)
    finally:
        _reset_caches()
        _pg_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Console]:
    """A private store copy, NLU copy and settings for one test."""
    db_path = tmp_path / "shop.db"
    nlu_dir = tmp_path / "nlu_data"
    shutil.copytree(REPO / "nlu_data", nlu_dir)
    tests_dir = tmp_path / "conversations"
    url = store_url
    monkeypatch.setenv("SHOP_DATABASE_URL", url)
    monkeypatch.setenv("CONSOLE_PASSWORD", PASSWORD)
    monkeypatch.setenv("CONSOLE_USER", "founder")
    monkeypatch.setenv("SESSION_SECRET", SESSION_SECRET)
    monkeypatch.setenv("CONSOLE_NLU_DIR", str(nlu_dir))
    monkeypatch.setenv("CONSOLE_TEST_CONVERSATIONS_DIR", str(tests_dir))
    monkeypatch.setenv("CONSOLE_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.setenv("RASA_URL", "http://127.0.0.1:9")  # nothing listens there
    # Empty, not deleted: a blank variable takes the default, a deleted one the .env value.
    for name in (
        "RASA_JWT_SECRET",
        "CONSOLE_SECURE_COOKIES",
        "CONSOLE_LOGIN_PER_MINUTE",
        "CONSOLE_RATE_PER_MINUTE",
        "CHAT_TRUSTED_PROXIES",
        "PROFILE",
    ):
        monkeypatch.setenv(name, "")
    _reset_caches()
    yield Console(url, db_path, nlu_dir, tests_dir)
    _reset_caches()


@pytest.fixture()
def anon(console_env: Console) -> Iterator[TestClient]:
    """A client without a session."""
    from web.app import create_app

    with TestClient(create_app(), base_url=LOCAL_BASE) as client:
        yield client


def login(client: TestClient, password: str = PASSWORD, username: str = "founder") -> Response:
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
    assert response.status_code == 303
    return anon


def csrf_of(client: TestClient, path: str = "/console/inbox") -> str:
    """The session's CSRF token, read from a page like a browser would."""
    match = CSRF_RE.search(client.get(path).text)
    assert match
    return match.group(1)
