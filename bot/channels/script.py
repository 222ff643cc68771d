"""Which Chinese script a customer writes (Traditional or Simplified) and conversion to it.

The bot's Chinese responses are written in Simplified Chinese (``bot/domain/*.yml``). A
customer who writes Traditional Chinese (繁體) gets them converted with OpenCC
(``opencc`` on PyPI, the reference converter, with its phrase dictionaries).

Detection (:func:`detect_script`) compares the message with its OpenCC conversions, in
context (so 頭髮 and 乾淨 are read as phrases):

* a character that OpenCC's Traditional-to-Simplified conversion changes is Traditional
  evidence (訂, 單, 嗎, 灣);
* a character that every Simplified-to-Traditional conversion (OpenCC's standard forms,
  Taiwan's and Hong Kong's) changes is Simplified evidence (订, 单, 吗), unless it is also a
  standard Traditional character (:data:`SHARED_CHARS`: 台, 了, 后, 里, 只, 干, 面, 价 ...
  which Traditional writers use as well: 台灣, 了解); 群, 峰, 着 (regional forms) are not;
* more Traditional evidence than Simplified is ``hant``, more Simplified is ``hans``,
  neither (好的, 你好, ``LB100234``, English, emoji) or a tie is ``neutral``.

The reply script of a conversation (:func:`reply_script`) is that of the customer's newest
message that is not neutral, so a neutral "好的" keeps Traditional. It is read back from the
conversation's own events (the tracker), so it holds on every Rasa server that shares the
tracker store and on every door; nothing is kept in process memory. ``bot.nlg`` converts
the responses; the founder's own messages never pass through it.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable
from typing import Any

logger = logging.getLogger(__name__)

HANT = "hant"
HANS = "hans"
NEUTRAL = "neutral"
SCRIPTS = (HANT, HANS, NEUTRAL)

#: The OpenCC configuration of the replies (``variant`` of the ``nlg`` endpoint).
#: ``s2tw``: Traditional characters with Taiwan's standard variants (裡, 著, 臺), no change of
#: vocabulary. ``s2t`` (OpenCC's standard forms) and ``s2hk`` (Hong Kong forms) may be chosen.
DEFAULT_VARIANT = "s2tw"
VARIANTS = ("s2t", "s2tw", "s2hk")

#: Only this many of a conversation's newest customer messages decide its reply script.
MAX_SCANNED_MESSAGES = 50
#: Only this many leading characters of a message are looked at (messages are capped far
#: lower by the door; this bounds the work for any caller).
MAX_DETECT_CHARS = 4000

#: Characters that Simplified-to-Traditional conversion may change but that are also
#: standard Traditional characters: in OpenCC's ``STCharacters`` dictionary their own
#: Traditional candidates include themselves (checked against the installed OpenCC by
#: ``tests/bot/test_script.py``). Alone they are no evidence of Simplified Chinese.
SHARED_CHARS = frozenset(
    "僵熏曲淀漓郁酸适雇雕面采里谷辟荐胄背胜胡苔苹虫跖腊腌范蒙蚝舍芸蔑蝎表耇藤蜡豆象膻致准凌几凶出厂"
    "厘划刮制千升卜占卷只台叶吁吃合吊同后向吣布帘席冢冬呆周哄岩岳庵克党具坐坯它家弦回困夫夸娘局咨咸"
    "咽尸彩唇奸志念干幸广喂巨征御借堤姜噪狸玩确硷私秋种筑筱症琅矩糊系焰皂穗璇累浚挂挨挽栗核涂涌杆杠"
    "杯杰松板沈沾扇才扎托扣极果泛注恤拐拿游折抵戚捆捍据搜斗斤斫旋昆溪愈愿札朱朴梁暗棱欲柜澄檗万丑丰"
    "伙了于云亘仆仇价仿俊修余佛佣㐹"
)

_HAN_RE = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
# Lone surrogates cannot be passed to OpenCC (the doors remove them; other callers may not).
_SURROGATE_RE = re.compile("[\ud800-\udfff]")


@functools.lru_cache(maxsize=8)
def _converter(config: str) -> Any:
    """The OpenCC converter of one configuration (``s2t``, ``t2s``, ...), built once."""
    import opencc

    return opencc.OpenCC(f"{config}.json")


#: Each configuration as a chain of small OpenCC configurations: ``s2tw`` is ``s2t`` then
#: ``t2tw`` (the same output; checked by tests/bot/test_script.py), and so the phrase
#: dictionaries of ``s2t`` are loaded once per process (about 30 MB) instead of three times.
_CHAINS = {
    "s2t": ("s2t",),
    "t2s": ("t2s",),
    "s2tw": ("s2t", "t2tw"),
    "s2hk": ("s2t", "t2hk"),
    "t2tw": ("t2tw",),
    "t2hk": ("t2hk",),
}


def _convert(text: str, config: str) -> str:
    """``text`` converted with OpenCC's ``config``; unconvertible text is returned as is."""
    if not text or not _HAN_RE.search(text):
        return text
    safe = _SURROGATE_RE.sub("\ufffd", text)
    try:
        for step in _CHAINS.get(config, (config,)):
            safe = str(_converter(step).convert(safe))
        return safe
    except Exception:  # noqa: BLE001 - conversion must never take a reply away
        logger.exception("OpenCC %s failed on a text of %d characters", config, len(text))
        return text


def warm_up() -> None:
    """Loads every OpenCC dictionary now (a server start), not on a customer's message."""
    for config in _CHAINS:
        _convert("预热", config)


def _changed_positions(text: str, config: str) -> list[int]:
    """Indexes of the characters of ``text`` that ``config`` changes (in context).

    OpenCC's ``s2t``/``t2s`` keep the length; should a phrase ever change it, each Han
    character is converted alone instead.
    """
    converted = _convert(text, config)
    if len(converted) == len(text):
        return [i for i, (a, b) in enumerate(zip(text, converted, strict=True)) if a != b]
    return [
        i for i, char in enumerate(text) if _HAN_RE.match(char) and _convert(char, config) != char
    ]


def script_evidence(text: str) -> tuple[int, int]:
    """How many characters of ``text`` show Traditional and Simplified Chinese.

    Args:
        text: Any text.

    Returns:
        ``(traditional, simplified)`` character counts (shared characters not counted).
    """
    if not isinstance(text, str):
        return 0, 0
    text = _SURROGATE_RE.sub(" ", text[:MAX_DETECT_CHARS])
    if not _HAN_RE.search(text):
        return 0, 0
    traditional = len(_changed_positions(text, "t2s"))
    # A character every Traditional standard replaces (OpenCC's, Taiwan's and Hong Kong's
    # forms) is Simplified; one that a regional standard keeps (群, 峰, 着) is not.
    changed = set(_changed_positions(text, "s2t"))
    if changed:
        for variant in ("s2tw", "s2hk"):
            changed &= set(_changed_positions(text, variant))
    simplified = sum(1 for i in changed if text[i] not in SHARED_CHARS)
    return traditional, simplified


def detect_script(text: str) -> str:
    """The script a message is written in.

    Args:
        text: The customer's message.

    Returns:
        :data:`HANT` (more Traditional than Simplified evidence), :data:`HANS` (the other
        way round) or :data:`NEUTRAL` (no evidence, or as much of both).
    """
    traditional, simplified = script_evidence(text)
    if traditional > simplified:
        return HANT
    if simplified > traditional:
        return HANS
    return NEUTRAL


def conversation_script(newest_first: Iterable[Any]) -> str:
    """The reply script: the newest detected script that is not neutral.

    Args:
        newest_first: The detected scripts of a conversation's customer messages, newest
            first (anything that is not :data:`HANT` or :data:`HANS` counts as neutral).

    Returns:
        :data:`HANT` or :data:`HANS` (Simplified when every message was neutral).
    """
    for script in newest_first:
        if script in (HANT, HANS):
            return str(script)
    return HANS


def reply_script(events: Iterable[Any], max_messages: int = MAX_SCANNED_MESSAGES) -> str:
    """The reply script of a conversation, read back from its events (newest last).

    Only the customer's messages count (``UserUttered`` events, or their dicts with
    ``"event": "user"``), never the bot's or the founder's. The newest one that is not
    neutral decides (:func:`conversation_script`); at most ``max_messages`` are looked at.

    Args:
        events: Rasa events (``rasa.shared.core.events.Event`` objects or their dicts).
        max_messages: How many customer messages, newest first, may be looked at.

    Returns:
        :data:`HANT` or :data:`HANS`.
    """

    def scripts() -> Iterable[str]:
        seen = 0
        for event in reversed(list(events)):
            if isinstance(event, dict):
                text = event.get("text") if event.get("event") == "user" else None
            elif type(event).__name__ == "UserUttered":
                text = getattr(event, "text", None)
            else:
                continue
            if not isinstance(text, str):
                continue
            seen += 1
            if seen > max_messages:
                return
            yield _detect_cached(text[:MAX_DETECT_CHARS])

    return conversation_script(scripts())


@functools.lru_cache(maxsize=4096)
def _detect_cached(text: str) -> str:
    return detect_script(text)


def to_traditional(text: str, variant: str = DEFAULT_VARIANT) -> str:
    """Converts Simplified Chinese text to Traditional (other text is unchanged).

    ASCII (placeholders such as ``{order_number}``, URLs, order ids) is never changed.

    Args:
        text: The text.
        variant: One of :data:`VARIANTS`.

    Returns:
        The converted text (the input itself if it is not a string or has no Han text).
    """
    if not isinstance(text, str):
        return text
    return _convert(text, variant if variant in VARIANTS else DEFAULT_VARIANT)


def to_simplified(text: str) -> str:
    """Converts Traditional Chinese text to Simplified (OpenCC ``t2s``)."""
    return _convert(text, "t2s") if isinstance(text, str) else text
