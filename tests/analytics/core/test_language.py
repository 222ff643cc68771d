"""The main environment's one language rule."""

from __future__ import annotations

import pytest

from analytics.core.language import cjk_count, detect_language, latin_letter_count


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("我的订单到哪了", "zh"),
        ("where is my order LB100234", "en"),
        ("我的order到哪了", "zh"),
        ("㐀", "zh"),  # Extension A
        ("", "en"),
        (None, "en"),
        ("12345 !!", "en"),
        ("\ud800 lone surrogate", "en"),
        ("\x00\x1b[2J", "en"),
    ],
)
def test_detect_language(text: str | None, language: str) -> None:
    assert detect_language(text) == language


def test_counts() -> None:
    assert cjk_count("我想买 Kenya AA") == 3
    assert latin_letter_count("我想买 Kenya AA") == 7
    assert cjk_count(None) == 0 and latin_letter_count(None) == 0
