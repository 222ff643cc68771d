"""Action tests: real actions against a real seeded SQLite store.

Trackers are built by hand and replies collected with a ``CollectingDispatcher``
(as in Rasa's own examples); nothing is mocked. A signed-in customer's message
carries what a door leaves after checking the host website's token:
``{"verified_customer_id": <id>}``.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions import settings as action_settings
from actions import store as action_store
from actions.pending import SLOT_PENDING_AT, SLOT_PENDING_CUSTOMER
from analytics.core import settings as analytics_settings
from analytics.core.identity import VERIFIED_KEY, identity_metadata, legacy_hash
from tests.e2e.stack import seed_store

REPO = Path(__file__).resolve().parents[2]
SEED_CUSTOMERS = 80


def _clear_caches() -> None:
    action_settings.get_settings.cache_clear()
    action_store.get_sessionmaker.cache_clear()
    cache_clear = getattr(analytics_settings.get_settings, "cache_clear", None)
    if cache_clear is not None:
        cache_clear()


@pytest.fixture(scope="session")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo shop seeded once per session by the real CLI."""
    path = tmp_path_factory.mktemp("shop") / "shop.db"
    seed_store(f"sqlite:///{path}", SEED_CUSTOMERS)
    return path


@pytest.fixture()
def store(seeded_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A private copy of the seeded store, wired into the action server's settings."""
    copy = tmp_path / "shop.db"
    shutil.copy(seeded_db, copy)
    url = f"sqlite:///{copy}"
    monkeypatch.setenv("SHOP_DATABASE_URL", url)
    _clear_caches()
    yield url
    _clear_caches()


@pytest.fixture()
def session(store: str) -> Iterator[Session]:
    """A session on the test's store, for checking what the actions wrote."""
    with action_store.get_sessionmaker()() as session:
        yield session


MakeTracker = Callable[..., Tracker]


CLAIM_SECRET = "the host website's secret, which the action server never sees"


def claims_only(customer: str) -> dict[str, Any]:
    """Metadata with the host website's identity claims but no door's verdict.

    Whatever they say (here even a correctly signed token and legacy hash), the action
    server must treat such a message as anonymous: only a door may verify them.
    """
    return {
        **identity_metadata(customer, CLAIM_SECRET),
        "customer_hash": legacy_hash(customer, CLAIM_SECRET),
    }


def pending_slots(kind: str, customer: str, *, age_seconds: float = 0.0) -> dict[str, Any]:
    """The slots of a confirmation asked to ``customer`` ``age_seconds`` ago."""
    return {
        "pending_action": kind,
        SLOT_PENDING_CUSTOMER: customer,
        SLOT_PENDING_AT: time.time() - age_seconds,
    }


def slot_values(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The slots an action's events set (the last value of each)."""
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}


@pytest.fixture()
def make_tracker() -> MakeTracker:
    """Builds a tracker whose latest message comes from ``customer`` (or nobody).

    ``forged=True`` sends only the customer's identity claims (no door verdict).
    """

    def build(
        text: str = "",
        *,
        intent: str = "order_status",
        customer: str | None = None,
        forged: bool = False,
        entities: list[dict[str, Any]] | None = None,
        slots: dict[str, Any] | None = None,
        language: str | None = None,
        sender: str = "test-sender",
    ) -> Tracker:
        metadata: dict[str, Any] = {}
        if customer is not None:
            metadata = claims_only(customer) if forged else {VERIFIED_KEY: customer}
        latest: dict[str, Any] = {
            "text": text,
            "intent": {"name": intent, "confidence": 0.99},
            "entities": entities or [],
            "metadata": metadata,
        }
        if language is not None:
            latest["language"] = language
        return Tracker(
            sender_id=sender,
            slots={"language": "zh", "pending_action": None, **(slots or {})},
            latest_message=latest,
            events=[{"event": "user", "text": text, "input_channel": "rest", "metadata": metadata}],
            paused=False,
            followup_action=None,
            active_loop={},
            latest_action_name="action_listen",
        )

    return build


@pytest.fixture()
def dispatcher() -> CollectingDispatcher:
    """Collects what the action says."""
    return CollectingDispatcher()


def responses(dispatcher: CollectingDispatcher) -> list[str]:
    """The names of the responses an action sent."""
    return [m.get("response") for m in dispatcher.messages]


@pytest.fixture()
def broken_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A store URL whose database has no tables (as after a failed migration)."""
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    monkeypatch.setenv("SHOP_DATABASE_URL", url)
    _clear_caches()
    yield url
    _clear_caches()
