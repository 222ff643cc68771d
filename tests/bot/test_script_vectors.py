"""The bot's Chinese script detection is held to the vectors its main-env twin shares.

``bot/channels/script.py`` (Rasa environment) and ``analytics.core.language`` (main
environment, used by the console for the decision messages it words in the bot's name)
cannot import each other; both are held to ``tests/fixtures/script_vectors.json`` (the
main side: ``tests/analytics/core/test_script_vectors.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("opencc")

from bot.channels.script import (  # noqa: E402
    DEFAULT_VARIANT,
    SHARED_CHARS,
    conversation_script,
    detect_script,
    script_evidence,
    to_traditional,
)

pytestmark = pytest.mark.rasa_env

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "script_vectors.json").read_text(
        encoding="utf-8"
    )
)


def _text(case: dict[str, Any]) -> Any:
    text = case["text"]
    return text * case["repeat"] if "repeat" in case else text


@pytest.mark.parametrize("case", VECTORS["detect"], ids=lambda c: c["name"])
def test_detection_matches_the_shared_vectors(case: dict[str, Any]) -> None:
    text = _text(case)
    assert detect_script(text) == case["expect"]
    assert list(script_evidence(text)) == case["evidence"]


@pytest.mark.parametrize("case", VECTORS["to_traditional"], ids=lambda c: c["name"])
def test_conversion_matches_the_shared_vectors(case: dict[str, Any]) -> None:
    assert to_traditional(case["text"], VECTORS["variant"]) == case["expect"]


@pytest.mark.parametrize("case", VECTORS["conversation_script"], ids=lambda c: c["name"])
def test_conversation_script_matches_the_shared_vectors(case: dict[str, Any]) -> None:
    assert conversation_script(case["newest_first"]) == case["expect"]


def test_constants_match_the_shared_vectors() -> None:
    assert set(VECTORS["shared_chars"]) == SHARED_CHARS
    assert VECTORS["variant"] == DEFAULT_VARIANT
