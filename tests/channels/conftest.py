"""The messaging-channel test stack: every fake platform, the action server and ONE Rasa.

Every test under ``tests/channels`` is marked ``channels``; a test that uses
:func:`channel_stack` is also marked ``e2e`` (it starts the real servers).

:func:`channel_stack` (session scope) starts every ``tests/channels/fakes/<platform>.py``
module's ``make_fake()``, seeds a SQLite demo shop, starts the action server and one Rasa
server (``bot.serve`` with ``bot/credentials.yml``; every fake's :meth:`env` merged into its
environment, so each channel's API URL points at its fake), all with the helpers of
:mod:`tests.e2e.stack`.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.channels import fakes as fakes_package
from tests.channels.fakes.base import FakePlatform
from tests.e2e.stack import (
    Process,
    action_server,
    base_env,
    founder_jwt,
    rasa_server,
    seed_store,
    wait_for,
)

CHANNEL_CUSTOMERS = 30
#: Modules of the fakes package that are not platforms.
NOT_PLATFORMS = frozenset({"base"})
FOUNDER_TIMEOUT_S = 60.0


def fake_modules() -> list[str]:
    """Names of the modules under ``tests/channels/fakes`` that define ``make_fake``."""
    names = []
    for info in pkgutil.iter_modules(fakes_package.__path__):
        if info.name in NOT_PLATFORMS or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{fakes_package.__name__}.{info.name}")
        if callable(getattr(module, "make_fake", None)):
            names.append(info.name)
    return sorted(names)


@dataclass
class ChannelStack:
    """The running channel stack.

    Attributes:
        rasa_url: The Rasa server (``http://127.0.0.1:<port>``).
        fakes: The started fake platforms by channel name (``fakes["telegram"]``).
        secret: ``IDENTITY_SECRET`` of the stack (link codes, widget identity).
        tracker_db: The SQLite file of Rasa's tracker store.
        env: The environment the servers run with.
        workdir: The folder of the stack's databases and logs.
        rasa: The Rasa process (``.tail()`` shows its log).
        actions: The action server process.
    """

    rasa_url: str
    fakes: dict[str, FakePlatform]
    secret: str
    tracker_db: Path
    env: dict[str, str]
    workdir: Path
    rasa: Process
    actions: Process
    shop_url: str = field(default="")

    def events(self, sender_id: str, type_name: str | None = None) -> list[dict[str, Any]]:
        """The stored tracker events of a conversation (of one type, if given), oldest first."""
        if not self.tracker_db.exists():
            return []
        with sqlite3.connect(self.tracker_db) as db:
            try:
                rows = db.execute(
                    "SELECT type_name, data FROM events WHERE sender_id = ? ORDER BY id",
                    (sender_id,),
                ).fetchall()
            except sqlite3.OperationalError:  # no events table yet
                return []
        return [json.loads(data) for kind, data in rows if type_name in (None, kind)]

    def user_texts(self, sender_id: str) -> list[str]:
        """The customer's stored messages in a conversation."""
        return [e.get("text") or "" for e in self.events(sender_id, "user")]

    def bot_texts(self, sender_id: str) -> list[str]:
        """The bot's (and founder's) stored messages in a conversation."""
        return [e.get("text") or "" for e in self.events(sender_id, "bot")]

    def senders(self) -> set[str]:
        """Every conversation id in the tracker store."""
        if not self.tracker_db.exists():
            return set()
        with sqlite3.connect(self.tracker_db) as db:
            try:
                return {row[0] for row in db.execute("SELECT DISTINCT sender_id FROM events")}
            except sqlite3.OperationalError:
                return set()

    def wait_for_user_message(self, sender_id: str, timeout: float = 30.0) -> list[str]:
        """Waits until the conversation has a stored customer message; returns them all."""
        return list(
            wait_for(lambda: self.user_texts(sender_id), timeout, f"a message of {sender_id}")
        )

    def founder(self, sender_id: str, action: str, body: dict[str, Any] | None = None) -> Any:
        """Calls Rasa's founder route ``/webhooks/widget/founder/<sender_id>/<action>``.

        Args:
            sender_id: The conversation.
            action: ``message``, ``pause``, ``resume`` or ``typing``.
            body: The JSON body (``{"text": ...}`` for a message).

        Returns:
            The HTTP response (``httpx.Response``).
        """
        return httpx.post(
            f"{self.rasa_url}/webhooks/widget/founder/{sender_id}/{action}",
            json=body or {},
            headers={"Authorization": f"Bearer {founder_jwt()}"},
            timeout=FOUNDER_TIMEOUT_S,
        )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks every test of this folder ``channels``, and ``e2e`` when it uses the stack."""
    here = Path(__file__).parent
    for item in items:
        if here not in Path(str(item.fspath)).parents:
            continue
        item.add_marker(pytest.mark.channels)
        if "channel_stack" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def channel_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChannelStack]:
    """Every fake platform, a seeded shop, the action server and one Rasa server."""
    workdir = tmp_path_factory.mktemp("channels")
    secret = secrets.token_hex(16)
    shop_url = f"sqlite:///{workdir / 'shop.db'}"
    env = base_env(shop_url, secret)
    with ExitStack() as stack:
        fakes: dict[str, FakePlatform] = {}
        for name in fake_modules():
            module = importlib.import_module(f"{fakes_package.__name__}.{name}")
            fake = module.make_fake()
            stack.enter_context(fake)
            fakes[fake.name] = fake
            env.update(fake.env())
        try:
            seed_store(shop_url, CHANNEL_CUSTOMERS, env)
            actions = stack.enter_context(action_server(env, workdir))
            rasa = stack.enter_context(rasa_server(env, workdir, actions.url))
        except RuntimeError as error:
            pytest.fail(str(error))
        yield ChannelStack(
            rasa_url=rasa.url,
            fakes=fakes,
            secret=secret,
            tracker_db=workdir / "tracker.db",
            env=env,
            workdir=workdir,
            rasa=rasa,
            actions=actions,
            shop_url=shop_url,
        )
