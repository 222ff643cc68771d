"""Text helpers shared by the NLU components (script classes, Traditional to Simplified).

Everything here keeps character offsets: a normalised string always has the same
length as its input, so spans found on the normalised text are valid on the original.
"""

from __future__ import annotations

import functools
import logging
import re

logger = logging.getLogger(__name__)

# CJK Unified Ideographs, Extension A and Compatibility Ideographs.
HAN_CLASS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
HAN_RE = re.compile(f"[{HAN_CLASS}]")
HAN_RUN_RE = re.compile(f"[{HAN_CLASS}]+")
LATIN_WORD_RE = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)*")
ORDER_ID_PATTERN = r"(?<![A-Za-z0-9])[Ll][Bb]\d{6}(?![0-9])"
ORDER_ID_RE = re.compile(ORDER_ID_PATTERN)


@functools.lru_cache(maxsize=8192)
def _char_to_simplified(char: str) -> str:
    """Converts one character to Simplified Chinese (identity when not convertible)."""
    import zhconv

    converted = zhconv.convert(char, "zh-cn")
    return converted if len(converted) == 1 else char


def to_simplified(text: str) -> str:
    """Converts Traditional Chinese characters to Simplified, keeping the length.

    Han runs are converted as phrases with ``zhconv`` (which knows phrase-level
    mappings); when a phrase conversion would change the length, the run is
    converted character by character instead so that offsets stay valid.

    Args:
        text: Any text.

    Returns:
        A string of the same length as ``text``.
    """
    if not HAN_RE.search(text):
        return text
    import zhconv

    parts: list[str] = []
    last = 0
    for match in HAN_RUN_RE.finditer(text):
        parts.append(text[last : match.start()])
        run = match.group()
        converted = zhconv.convert(run, "zh-cn")
        if len(converted) != len(run):
            converted = "".join(_char_to_simplified(c) for c in run)
        parts.append(converted)
        last = match.end()
    parts.append(text[last:])
    result = "".join(parts)
    if len(result) != len(text):  # pragma: no cover - defensive, zhconv is 1:1 per char
        logger.warning("Simplified conversion changed the length of %r; using original", text)
        return text
    return result


def normalize(text: str) -> str:
    """Lowercases and converts to Simplified Chinese, keeping the length.

    Args:
        text: Any text.

    Returns:
        The normalised text, same length as the input.
    """
    simplified = to_simplified(text)
    lowered = simplified.lower()
    # ``str.lower`` can change the length for a few characters (e.g. "İ").
    return lowered if len(lowered) == len(simplified) else simplified


_ENGLISH_WORD_RE = re.compile(r"[a-z]+")


@functools.lru_cache(maxsize=1)
def _english_stemmer() -> object:
    import snowballstemmer

    return snowballstemmer.stemmer("english")


@functools.lru_cache(maxsize=65536)
def english_stem(word: str) -> str:
    """Returns the Snowball (Porter 2) stem of a lower-case English word.

    Anything that is not a plain lower-case Latin word (Chinese, numbers, order ids,
    contractions such as ``i'm``) is returned unchanged.
    """
    if not _ENGLISH_WORD_RE.fullmatch(word):
        return word
    return str(_english_stemmer().stemWord(word))  # type: ignore[attr-defined]


def stem_english_words(words: str) -> str:
    """Stems every English word of a space-joined token string (see :func:`english_stem`).

    Example: ``"why was my card charged 两次"`` gives ``"whi was my card charg 两次"``.
    """
    return " ".join(english_stem(w) for w in words.split(" "))
