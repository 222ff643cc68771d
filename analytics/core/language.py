"""Language detection for the main environment: one rule, used by the loop, actions and console.

A text is Chinese when it contains a CJK ideograph (Unified Ideographs, Extension A or the
compatibility block), otherwise English. The bot itself decides the language of a turn in the
Rasa environment (``bot/nlu/language.py``: ``zh``, ``en`` or ``mixed``, after removing product
names and order ids), which cannot import this package; this rule is for text the main
environment handles without the bot's parse (stored messages, the console, teaching).
"""

from __future__ import annotations

import re

from analytics.core.vocabulary import LANG_EN, LANG_ZH

__all__ = [
    "CJK_RANGES",
    "CJK_RE",
    "LATIN_RE",
    "cjk_count",
    "detect_language",
    "latin_letter_count",
]

CJK_RANGES = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
"""The CJK ideograph ranges as regular-expression text, for use inside ``[...]``: Unified
Ideographs Extension A, Unified Ideographs, Compatibility Ideographs."""
CJK_RE = re.compile(f"[{CJK_RANGES}]")
"""One CJK ideograph."""
LATIN_RE = re.compile(r"[A-Za-z]")
"""One Latin letter."""


def detect_language(text: str | None) -> str:
    """The language a customer wrote in.

    Args:
        text: Any text; ``None`` and empty count as English.

    Returns:
        ``"zh"`` if the text contains a Chinese character, else ``"en"``.
    """
    return LANG_ZH if CJK_RE.search(text or "") else LANG_EN


def cjk_count(text: str | None) -> int:
    """How many CJK ideographs the text holds."""
    return len(CJK_RE.findall(text or ""))


def latin_letter_count(text: str | None) -> int:
    """How many Latin letters the text holds."""
    return len(LATIN_RE.findall(text or ""))
