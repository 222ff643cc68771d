"""Fixtures that run the real product: seeded store, action server, Rasa server."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.stack import Process, action_server, base_env, free_port, rasa_server, seed_store

E2E_CUSTOMERS = 120


@pytest.fixture(scope="session")
def stack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for this test session's databases and logs."""
    return tmp_path_factory.mktemp("stack")


@pytest.fixture(scope="session")
def secret() -> str:
    """A fresh identity secret for this test session."""
    return secrets.token_hex(16)


@pytest.fixture(scope="session")
def shop_url(stack_dir: Path, secret: str) -> str:
    """A seeded SQLite store (small demo shop, with the four demo customers)."""
    url = f"sqlite:///{stack_dir / 'shop.db'}"
    seed_store(url, E2E_CUSTOMERS, base_env(url, secret))
    return url


@pytest.fixture(scope="session")
def env(shop_url: str, secret: str) -> dict[str, str]:
    """The environment of this stack's processes."""
    return base_env(shop_url, secret)


@pytest.fixture(scope="session")
def actions_proc(env: dict[str, str], stack_dir: Path) -> Iterator[Process]:
    """The real action server."""
    with action_server(env, stack_dir) as process:
        yield process


@pytest.fixture(scope="session")
def rasa(env: dict[str, str], stack_dir: Path, actions_proc: Process) -> Iterator[Process]:
    """The real Rasa server talking to the real action server."""
    with rasa_server(env, stack_dir, actions_proc.url) as process:
        yield process


@pytest.fixture(scope="session")
def rasa_without_actions(
    env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Process]:
    """A Rasa server whose action server is down (nothing listens on its port)."""
    workdir = tmp_path_factory.mktemp("no_actions")
    with rasa_server(env, workdir, f"http://127.0.0.1:{free_port()}") as process:
        yield process
