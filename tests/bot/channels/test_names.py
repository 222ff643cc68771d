"""One list of messaging channels: the doors' reserved senders, the credentials, the domain."""

from __future__ import annotations

import importlib
from pathlib import Path

import yaml
from rasa.shared.core.domain import Domain

from bot.channels.messaging.base import MessagingInput
from bot.channels.messaging.conversation import collector_for
from bot.channels.names import MESSAGING_CHANNELS, is_messaging_sender

REPO = Path(__file__).resolve().parents[3]


def messaging_classes() -> list[type[MessagingInput]]:
    entries = yaml.safe_load((REPO / "bot" / "credentials.yml").read_text(encoding="utf-8"))
    classes = []
    for path in entries:
        module, _, name = str(path).rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        if issubclass(cls, MessagingInput):
            classes.append(cls)
    return classes


def test_every_messaging_channel_in_the_credentials_is_reserved_at_the_doors() -> None:
    names = sorted(cls.name() for cls in messaging_classes())
    assert names == sorted(MESSAGING_CHANNELS)
    for name in names:
        assert is_messaging_sender(f"{name}:1")


def test_the_collector_carries_the_channel_name_for_response_variations() -> None:
    assert collector_for("telegram").name() == "telegram"
    assert collector_for("telegram") is collector_for("telegram")
    assert collector_for("wecom").name() == "wecom"


def test_every_messaging_channel_asks_for_a_link_code_not_a_website_login() -> None:
    domain = Domain.load(str(REPO / "bot" / "domain"))
    variations = domain.responses["utter_ask_sign_in"]
    for name in MESSAGING_CHANNELS:
        texts = [v["text"] for v in variations if v.get("channel") == name]
        assert len(texts) == 2, name  # zh and en
        assert any("绑定码" in text for text in texts) and any("link code" in t for t in texts)
    general = [v["text"] for v in variations if not v.get("channel")]
    assert general and not any("link code" in text for text in general)
