"""Fixtures of the founder-hook tests: the real web app on a private copy of a seeded SQLite
store, two alerts filed in it, fake alert apps (Telegram, WeCom) and a recording stand-in
for Rasa's founder routes (:class:`tests.web.servers.FakeRasa`).

The alerts are filed with the real repository (:mod:`analytics.store.repositories.alerts`)
as the dispatcher leaves them: sent on Telegram (with the alert message's ``message_id``)
and on WeCom.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from analytics.store.db import make_engine, make_sessionmaker
from analytics.store.models import ROLE_FOUNDER, Conversation, Message
from analytics.store.models.console import Takeover
from analytics.store.repositories import alerts as alert_repo
from tests.channels.fakes.founder_apps import FounderTelegram, FounderWeCom
from tests.web import conftest as web_conftest
from tests.web.servers import FakeRasa, Received, fake_rasa
from web import settings as web_settings
from web.console import facts, routes
from web.founder_hooks import door
from web.founder_hooks import routes as hook_routes
from web.founder_hooks import wecom as wecom_module
from web.founder_hooks.config import get_hook_settings

JWT_SECRET = "founder-hooks-test-jwt-" + "y" * 16
TELEGRAM_ALERT_MESSAGE_ID = 9001
SECOND_TELEGRAM_MESSAGE_ID = 9002
BASE = "http://localhost"


@dataclass(frozen=True)
class FiledAlert:
    """An alert in the store."""

    ref: str
    conversation_id: int
    sender_id: str
    telegram_message_id: int


@dataclass
class Hooks:
    """One test's web app, store, fakes and alerts."""

    client: TestClient
    rasa: FakeRasa
    telegram: FounderTelegram
    wecom: FounderWeCom
    store_url: str
    first: FiledAlert
    second: FiledAlert

    # -- requests -------------------------------------------------------------------------
    def post_telegram(
        self, update: dict[str, Any] | bytes | str, *, secret: str | None = None,
        headers: dict[str, str | bytes] | None = None,
    ) -> httpx.Response:  # fmt: skip
        """POSTs an update to ``/founder/hooks/telegram`` (the fake's secret unless given)."""
        sent: dict[str, str | bytes] = {"Content-Type": "application/json"}
        token = self.telegram.secret if secret is None else secret
        if token:
            sent["X-Telegram-Bot-Api-Secret-Token"] = token
        sent.update(headers or {})
        body = update if isinstance(update, bytes | str) else json.dumps(update)
        return self.client.post("/founder/hooks/telegram", content=body, headers=sent)

    def post_wecom(
        self, plaintext: str, *, params: dict[str, str] | None = None,
        envelope: str | None = None,
    ) -> httpx.Response:  # fmt: skip
        """Encrypts, signs and POSTs one callback to ``/founder/hooks/wecom``."""
        encrypted = self.wecom.encrypt(plaintext)
        query = self.wecom.signed_params(encrypted)
        query.update(params or {})
        body = envelope if envelope is not None else self.wecom.envelope(encrypted)
        return self.client.post(
            "/founder/hooks/wecom",
            content=body.encode("utf-8"),
            params=query,
            headers={"Content-Type": "text/xml"},
        )

    # -- what happened ----------------------------------------------------------------------
    def founder_calls(self, action: str | None = None) -> list[Received]:
        """The calls to Rasa's founder routes (of one action, if given)."""
        return [
            r
            for r in self.rasa.received
            if r.path.startswith("/webhooks/widget/founder/")
            and (action is None or r.path.endswith(f"/{action}"))
        ]

    def founder_messages(self) -> list[Message]:
        """The founder messages in the store."""
        engine = make_engine(self.store_url)
        try:
            with make_sessionmaker(engine)() as db:
                return list(
                    db.scalars(
                        select(Message).where(Message.role == ROLE_FOUNDER).order_by(Message.id)
                    )
                )
        finally:
            engine.dispose()

    def counts(self) -> tuple[int, int]:
        """(messages, takeovers) in the store: unchanged by a refused request."""
        engine = make_engine(self.store_url)
        try:
            with make_sessionmaker(engine)() as db:
                return (
                    int(db.scalar(select(func.count(Message.id))) or 0),
                    int(db.scalar(select(func.count(Takeover.id))) or 0),
                )
        finally:
            engine.dispose()

    def active_takeover(self, conversation_id: int) -> Takeover | None:
        """The conversation's active take-over, if any."""
        engine = make_engine(self.store_url)
        try:
            with make_sessionmaker(engine)() as db:
                return db.scalar(
                    select(Takeover).where(
                        Takeover.conversation_id == conversation_id, Takeover.active.is_(True)
                    )
                )
        finally:
            engine.dispose()

    def nothing_happened(self, before: tuple[int, int]) -> None:
        """Asserts no Rasa call, no answer to the founder and no store change."""
        assert self.rasa.received == []
        assert self.telegram.founder_texts() == []
        assert self.wecom.founder_texts() == []
        assert self.counts() == before


def assert_founder_jwt(received: Received) -> None:
    """The call carried a valid founder JWT signed with ``RASA_JWT_SECRET``."""
    header = received.headers.get("authorization", "")
    assert header.startswith("Bearer "), received.headers
    claims = jwt.decode(header.removeprefix("Bearer "), JWT_SECRET, algorithms=["HS256"])
    assert claims["user"]["username"] == "founder"


def _file_alerts(url: str) -> tuple[FiledAlert, FiledAlert]:
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as db:
            conversations = list(
                db.scalars(
                    select(Conversation)
                    .where(Conversation.customer_id.is_not(None))
                    .order_by(Conversation.id)
                    .limit(2)
                )
            )
            assert len(conversations) == 2, "the seeded shop has conversations"
            now = datetime.now(UTC)
            filed = []
            for conversation, message_id in zip(
                conversations, (TELEGRAM_ALERT_MESSAGE_ID, SECOND_TELEGRAM_MESSAGE_ID), strict=True
            ):
                alert = alert_repo.create_alert(
                    db,
                    conversation_id=conversation.id,
                    sender_id=conversation.sender_id,
                    customer_id=int(conversation.customer_id or 0),
                    reasons=["cancel_intent"],
                    channels=["telegram", "wecom"],
                    at=now - timedelta(minutes=5),
                )
                alert.link = f"http://console.test/console/conversations/{conversation.id}"
                for delivery in alert_repo.deliveries_of(db, [alert.id])[alert.id]:
                    alert_repo.record_sent(
                        db,
                        delivery.id,
                        at=now - timedelta(minutes=4),
                        platform_message_id=str(message_id)
                        if delivery.channel == "telegram"
                        else None,
                    )
                filed.append(
                    FiledAlert(alert.ref, conversation.id, conversation.sender_id, message_id)
                )
            db.commit()
            return filed[0], filed[1]
    finally:
        engine.dispose()


def reset_caches() -> None:
    """Forgets settings, engines, seen deliveries and WeCom tokens."""
    web_settings.get_settings.cache_clear()
    get_hook_settings.cache_clear()
    routes.dispose_engines()
    facts.SCORES.reset()
    hook_routes.SEEN.clear()
    door.REFUSALS.clear()
    wecom_module.TOKENS.clear()


@pytest.fixture(scope="module")
def founder_apps() -> Iterator[tuple[FounderTelegram, FounderWeCom]]:
    """The fake alert apps (started once per module; reset per test)."""
    with FounderTelegram() as telegram, FounderWeCom() as wecom:
        yield telegram, wecom  # type: ignore[misc]


@pytest.fixture()
def hooks(
    seeded_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    founder_apps: tuple[FounderTelegram, FounderWeCom],
) -> Iterator[Hooks]:
    """The web app with both hooks on, a fresh store copy with two sent alerts."""
    telegram, wecom = founder_apps
    telegram.reset()
    wecom.reset()
    db_path = tmp_path / "shop.db"
    shutil.copy(seeded_db, db_path)
    url = f"sqlite:///{db_path}"
    first, second = _file_alerts(url)
    with fake_rasa() as rasa:
        env = {
            "SHOP_DATABASE_URL": url,
            "SESSION_SECRET": web_conftest.SESSION_SECRET,
            "CONSOLE_USER": "founder",
            "CONSOLE_PASSWORD": web_conftest.PASSWORD,
            "CONSOLE_WORK_DIR": str(tmp_path / "work"),
            "RASA_URL": rasa.url,
            "RASA_JWT_SECRET": JWT_SECRET,
            "CONSOLE_PUBLIC_URL": "http://console.test",
            "ALERT_CONVERSATION_QUIET_MINUTES": "60",
            **telegram.env(),
            **wecom.env(),
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        for name in ("CONSOLE_RATE_PER_MINUTE", "CHAT_TRUSTED_PROXIES", "PROFILE"):
            monkeypatch.setenv(name, "")
        reset_caches()
        from web.app import create_app

        with TestClient(create_app(), base_url=BASE) as client:
            yield Hooks(client, rasa, telegram, wecom, url, first, second)
        reset_caches()
