"""Language detection for the main environment: one rule, used by the loop, actions and console.

A text is Chinese when it contains a CJK ideograph (Unified Ideographs, Extension A or the
compatibility block), otherwise English. The bot itself decides the language of a turn in the
Rasa environment (``bot/nlu/language.py``: ``zh``, ``en`` or ``mixed``, after removing product
names and order ids), which cannot import this package; this rule is for text the main
environment handles without the bot's parse (stored messages, the console, teaching).

Chinese script (Traditional or Simplified): :func:`detect_script`, :func:`conversation_script`
and :func:`to_traditional` are the main environment's twin of ``bot/channels/script.py`` (the
Rasa server converts the bot's replies to a Traditional writer; the console converts the
text it sends in the bot's words, e.g. a refund decision). The two are held to the same
cases by ``tests/fixtures/script_vectors.json`` (``tests/analytics/core/test_script_vectors.py``
and ``tests/bot/test_script_vectors.py``): change both together.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import Any

from analytics.core.vocabulary import LANG_EN, LANG_ZH

logger = logging.getLogger(__name__)

__all__ = [
    "CJK_RANGES",
    "CJK_RE",
    "HANS",
    "HANT",
    "LATIN_RE",
    "NEUTRAL",
    "SHARED_CHARS",
    "cjk_count",
    "conversation_script",
    "detect_language",
    "detect_script",
    "latin_letter_count",
    "script_evidence",
    "to_simplified",
    "to_traditional",
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


# --- Chinese script: the twin of bot/channels/script.py ------------------------------------

HANT = "hant"
"""Traditional Chinese (繁體)."""
HANS = "hans"
"""Simplified Chinese (简体)."""
NEUTRAL = "neutral"
"""No evidence of either script (好的, ``LB100234``, English), or as much of both."""
TRADITIONAL_VARIANT = "s2tw"
"""OpenCC configuration of :func:`to_traditional`, the bot's default (``bot/nlg.py``):
Traditional characters in Taiwan's standard forms (裡, 著, 臺), no change of vocabulary."""
MAX_DETECT_CHARS = 4000
"""Only this many leading characters of a text are looked at."""
MAX_SCANNED_MESSAGES = 50
"""Only this many of a conversation's newest customer messages decide its script."""

SHARED_CHARS = frozenset(
    "僵熏曲淀漓郁酸适雇雕面采里谷辟荐胄背胜胡苔苹虫跖腊腌范蒙蚝舍芸蔑蝎表耇藤蜡豆象膻致准凌几凶出厂"
    "厘划刮制千升卜占卷只台叶吁吃合吊同后向吣布帘席冢冬呆周哄岩岳庵克党具坐坯它家弦回困夫夸娘局咨咸"
    "咽尸彩唇奸志念干幸广喂巨征御借堤姜噪狸玩确硷私秋种筑筱症琅矩糊系焰皂穗璇累浚挂挨挽栗核涂涌杆杠"
    "杯杰松板沈沾扇才扎托扣极果泛注恤拐拿游折抵戚捆捍据搜斗斤斫旋昆溪愈愿札朱朴梁暗棱欲柜澄檗万丑丰"
    "伙了于云亘仆仇价仿俊修余佛佣㐹"
)
"""Characters Simplified-to-Traditional conversion may change that are also standard
Traditional characters (OpenCC's ``STCharacters`` lists them among their own Traditional
forms: 台, 了, 后, 里 ...); alone they are no evidence of Simplified Chinese. The same set as
``bot.channels.script.SHARED_CHARS`` (both are checked against the shared vectors)."""

_HAN_RE = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
# s2tw = s2t then t2tw, s2hk = s2t then t2hk (the same output as OpenCC's own configurations,
# with one copy of the s2t phrase dictionaries in memory, as in bot/channels/script.py).
_CHAINS = {
    "s2t": ("s2t",),
    "t2s": ("t2s",),
    "hk2s": ("hk2s",),
    "s2tw": ("s2t", "t2tw"),
    "s2hk": ("s2t", "t2hk"),
}
_converters: dict[str, Any] = {}
_converters_lock = threading.Lock()


def _converter(config: str) -> Any:
    """The OpenCC converter of one configuration, built once per process (on first use)."""
    found = _converters.get(config)
    if found is None:
        with _converters_lock:
            found = _converters.get(config)
            if found is None:
                import opencc

                found = _converters[config] = opencc.OpenCC(f"{config}.json")
    return found


def _convert(text: str, config: str) -> str:
    """``text`` converted with OpenCC's ``config``; unconvertible text is returned as is."""
    if not text or not _HAN_RE.search(text):
        return text
    safe = _SURROGATE_RE.sub("\ufffd", text)
    try:
        for step in _CHAINS[config]:
            safe = str(_converter(step).convert(safe))
        return safe
    except Exception:  # noqa: BLE001 - a conversion must never take a message away
        logger.exception("OpenCC %s failed on a text of %d characters", config, len(text))
        return text


def _changed_positions(text: str, config: str) -> list[int]:
    """Indexes of the characters of ``text`` that ``config`` changes (in context)."""
    converted = _convert(text, config)
    if len(converted) == len(text):
        return [i for i, (a, b) in enumerate(zip(text, converted, strict=True)) if a != b]
    return [
        i for i, char in enumerate(text) if _HAN_RE.match(char) and _convert(char, config) != char
    ]


def script_evidence(text: str | None) -> tuple[int, int]:
    """How many characters of ``text`` show Traditional and Simplified Chinese.

    A character OpenCC's ``t2s`` changes is Traditional evidence (訂, 單); one that every
    Simplified-to-Traditional standard (``s2t``, ``s2tw``, ``s2hk``) changes is Simplified
    evidence (订, 单), unless it is in :data:`SHARED_CHARS`.

    Args:
        text: Any text (anything that is not a string has no evidence).

    Returns:
        ``(traditional, simplified)`` character counts.
    """
    if not isinstance(text, str):
        return 0, 0
    text = _SURROGATE_RE.sub(" ", text[:MAX_DETECT_CHARS])
    if not _HAN_RE.search(text):
        return 0, 0
    traditional = len(_changed_positions(text, "t2s"))
    changed = set(_changed_positions(text, "s2t"))
    if changed:
        for variant in ("s2tw", "s2hk"):
            changed &= set(_changed_positions(text, variant))
    simplified = sum(1 for i in changed if text[i] not in SHARED_CHARS)
    return traditional, simplified


def detect_script(text: str | None) -> str:
    """The Chinese script a text is written in.

    Args:
        text: A customer's message (stored redacted texts work: redaction keeps the
            Chinese characters around its ``[PHONE]``-style placeholders).

    Returns:
        :data:`HANT` (more Traditional than Simplified evidence), :data:`HANS` (the other
        way round) or :data:`NEUTRAL` (no evidence, or a tie).
    """
    traditional, simplified = script_evidence(text)
    if traditional > simplified:
        return HANT
    if simplified > traditional:
        return HANS
    return NEUTRAL


def conversation_script(newest_first: Iterable[Any]) -> str:
    """A conversation's script: its newest detected script that is not neutral.

    Args:
        newest_first: The detected scripts of the customer's messages, newest first
            (anything that is not :data:`HANT` or :data:`HANS` counts as neutral).

    Returns:
        :data:`HANT` or :data:`HANS` (Simplified when every message was neutral).
    """
    for script in newest_first:
        if script in (HANT, HANS):
            return str(script)
    return HANS


def to_simplified(text: str, config: str = "t2s") -> str:
    """Traditional Chinese converted to Simplified with OpenCC, in context.

    Lone surrogates become U+FFFD, so the result has the input's length wherever OpenCC
    converts character for character (the redaction maps matches back by position).

    Args:
        text: Any text.
        config: ``t2s`` (standard forms) or ``hk2s`` (Hong Kong variants too).

    Returns:
        The converted text (the input itself when it has no Han characters).
    """
    return _convert(text, config)


def to_traditional(text: str) -> str:
    """Simplified Chinese converted to Traditional the way the bot does (OpenCC ``s2tw``).

    ASCII (placeholders, URLs, order numbers) and English are never changed.

    Args:
        text: The text.

    Returns:
        The converted text (the input itself if it is not a string or has no Han text).
    """
    if not isinstance(text, str):
        return text
    return _convert(text, TRADITIONAL_VARIANT)
