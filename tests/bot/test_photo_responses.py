"""Only a channel that carries photos is asked for one (issue 15).

The website widget (channel ``widget``) has a 📎 button, so ``utter_report_problem`` asks
for a photo there; on every other channel (REST, messaging apps) the default variation asks
for a description instead. Rendered with Rasa's own response generator from ``bot/domain``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

pytest.importorskip("rasa")

from rasa.core.nlg import TemplatedNaturalLanguageGenerator  # noqa: E402
from rasa.shared.core.domain import Domain  # noqa: E402
from rasa.shared.core.events import SlotSet  # noqa: E402
from rasa.shared.core.trackers import DialogueStateTracker  # noqa: E402

pytestmark = pytest.mark.rasa_env

DOMAIN_DIR = Path(__file__).resolve().parents[2] / "bot" / "domain"
PHOTO_WORDS = ("photo", "照片", "图片", "📎", "picture", "image")


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(DOMAIN_DIR))


def reply(domain: Domain, response: str, channel: str, language: str) -> str:
    tracker = DialogueStateTracker.from_events("photo-test", [SlotSet("language", language)])
    nlg = TemplatedNaturalLanguageGenerator(domain.responses)
    message = asyncio.run(nlg.generate(response, tracker, channel))
    assert message is not None
    return str(message["text"])


@pytest.mark.parametrize("language", ["zh", "en"])
@pytest.mark.parametrize("channel", ["rest", "telegram", "whatsapp", "socketio", "cmdline"])
def test_channels_without_photos_are_not_asked_for_one(
    domain: Domain, channel: str, language: str
) -> None:
    text = reply(domain, "utter_report_problem", channel, language)
    assert not any(word in text.lower() for word in PHOTO_WORDS), text
    assert ("order number" in text) if language == "en" else ("订单号" in text)


@pytest.mark.parametrize(("language", "word"), [("zh", "照片"), ("en", "photo")])
def test_the_widget_asks_for_a_photo_in_the_customers_language(
    domain: Domain, language: str, word: str
) -> None:
    text = reply(domain, "utter_report_problem", "widget", language)
    assert word in text and "📎" in text


@pytest.mark.parametrize(("language", "word"), [("zh", "照片"), ("en", "photo")])
def test_a_photo_is_acknowledged(domain: Domain, language: str, word: str) -> None:
    assert "send_photo" in domain.intents
    assert word in reply(domain, "utter_photo_received", "widget", language)
