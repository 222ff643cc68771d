"""Rasa reads the shipped endpoint files with every ${VAR} taken from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from rasa.core.utils import AvailableEndpoints

BOT = Path(__file__).resolve().parents[2] / "bot"


def test_embedded_endpoints_take_the_action_url_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ACTION_ENDPOINT_URL", "http://actions.test:5055/webhook")
    endpoints = AvailableEndpoints.read_endpoints(str(BOT / "endpoints.yml"))
    assert endpoints.action.url == "http://actions.test:5055/webhook"
    assert endpoints.tracker_store.type == "SQL"
    assert endpoints.event_broker.type == "SQL"


def test_production_endpoints_read_every_secret_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    values = {
        "ACTION_ENDPOINT_URL": "http://a:5055/webhook",
        "TRACKER_DB_HOST": "db.test",
        "TRACKER_DB_PORT": "5433",
        "TRACKER_DB_NAME": "rasa",
        "TRACKER_DB_USER": "rasa_user",
        "TRACKER_DB_PASSWORD": "s3cret",
        "REDIS_HOST": "redis.test",
        "REDIS_PORT": "6380",
        "REDIS_DB": "2",
        "RABBITMQ_HOST": "mq.test",
        "RABBITMQ_USER": "mq_user",
        "RABBITMQ_PASSWORD": "mq_pass",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    endpoints = AvailableEndpoints.read_endpoints(str(BOT / "endpoints.prod.yml"))
    assert endpoints.tracker_store.url == "db.test"
    assert endpoints.tracker_store.kwargs["password"] == "s3cret"
    assert endpoints.lock_store.type == "redis" and endpoints.lock_store.url == "redis.test"
    assert endpoints.event_broker.type == "pika"
    assert endpoints.event_broker.kwargs["password"] == "mq_pass"
    text = (BOT / "endpoints.prod.yml").read_text(encoding="utf-8")
    assert "s3cret" not in text and "guest" not in text
