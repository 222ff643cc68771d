"""The main environment's one language rule."""

from __future__ import annotations

import re

import pytest

from analytics.core.language import (
    CJK_RANGES,
    CJK_RE,
    cjk_count,
    detect_language,
    latin_letter_count,
)


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


def test_the_ranges_are_the_rule() -> None:
    assert CJK_RE.pattern == f"[{CJK_RANGES}]"
    edges = ["\u3400", "\u4dbf", "\u4e00", "\u9fff", "\uf900", "\ufaff"]
    outside = ["\u33ff", "\u4dc0", "\ua000", "\uf8ff", "\ufb00", "a", "。"]
    assert all(CJK_RE.fullmatch(ch) for ch in edges)
    assert not any(CJK_RE.fullmatch(ch) for ch in outside)
    # Usable inside a larger character class, as the privacy patterns do.
    digits_or_cjk = re.compile(rf"[0-9{CJK_RANGES}]+")
    assert digits_or_cjk.fullmatch("订单12")
    assert not digits_or_cjk.fullmatch("order12")
