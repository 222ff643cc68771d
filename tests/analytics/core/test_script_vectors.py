"""The main environment's Chinese script detection is the bot's twin (shared vectors).

``analytics.core.language`` (main environment: the console converts the decision messages
it words in the bot's name) and ``bot/channels/script.py`` (Rasa environment: the bot's
replies) cannot import each other; both are held to ``tests/fixtures/script_vectors.json``
(the bot's side: ``tests/bot/test_script_vectors.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from analytics.core.language import (
    HANS,
    HANT,
    NEUTRAL,
    SHARED_CHARS,
    TRADITIONAL_VARIANT,
    conversation_script,
    detect_script,
    script_evidence,
    to_traditional,
)

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[2] / "fixtures" / "script_vectors.json").read_text(
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
    assert to_traditional(case["text"]) == case["expect"]


@pytest.mark.parametrize("case", VECTORS["conversation_script"], ids=lambda c: c["name"])
def test_conversation_script_matches_the_shared_vectors(case: dict[str, Any]) -> None:
    assert conversation_script(case["newest_first"]) == case["expect"]


def test_constants_match_the_shared_vectors() -> None:
    assert set(VECTORS["shared_chars"]) == SHARED_CHARS
    assert VECTORS["variant"] == TRADITIONAL_VARIANT
    assert {c["expect"] for c in VECTORS["detect"]} == {HANT, HANS, NEUTRAL}


def test_bytes_and_other_types_are_neutral_and_not_converted() -> None:
    raw = "訂單".encode()
    assert detect_script(raw) == NEUTRAL  # type: ignore[arg-type]
    assert to_traditional(raw) is raw  # type: ignore[arg-type]
    assert detect_script(123) == NEUTRAL  # type: ignore[arg-type]
