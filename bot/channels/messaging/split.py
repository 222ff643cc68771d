"""Splitting a long reply into platform messages of at most ``limit`` characters.

A reply longer than the platform allows (Telegram 4,096, WeCom 2,048 bytes...) is cut at the
best boundary that keeps each part within the limit, in this order: a paragraph (blank line),
a line, the end of a sentence (``。！？!?…；`` or ``.;:`` before a space), a space, and only
then anywhere: never between the two halves of a UTF-16 surrogate pair and, where avoidable,
not inside a grapheme (before a combining mark, a variation selector, a skin-tone modifier or
around a zero-width joiner). Each part of a split reply ends with `` (i/n)``, counted within
the limit. Lengths are measured by a function (default: UTF-16 code units, what Telegram
counts; a byte-limited platform passes ``lambda s: len(s.encode())``), so an emoji is never
counted short.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

#: A cut at a boundary closer to the start than this share of the window is not worth it.
MIN_SHARE = 0.3
PARAGRAPH_RE = re.compile(r"\n[ \t]*\n")
LINE_RE = re.compile(r"\n")
SENTENCE_RE = re.compile(r"[。！？!?…；]+[\"'”’」』）)]*|[.;:][\"'”’)]*(?=\s)")
SPACE_RE = re.compile(r"\s")
ZWJ = "\u200d"

Length = Callable[[str], int]


def utf16_length(text: str) -> int:
    """The length of ``text`` in UTF-16 code units (an astral character counts 2)."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def _joins_previous(char: str) -> bool:
    """Whether ``char`` belongs to the grapheme before it (a cut before it splits one)."""
    code = ord(char)
    return (
        unicodedata.combining(char) != 0
        or char == ZWJ
        or 0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0x1F3FB <= code <= 0x1F3FF  # skin tones
        or 0xE0020 <= code <= 0xE007F  # tag characters (flags)
        or unicodedata.category(char) in ("Mn", "Me")
    )


def _safe_cut(text: str, cut: int) -> int:
    """Moves a hard cut back so it does not split a grapheme (if that leaves something)."""
    position = cut
    while 0 < position < len(text) and (
        _joins_previous(text[position]) or text[position - 1] == ZWJ
    ):
        position -= 1
    return position if position > 0 else cut


def _fit(text: str, budget: int, length: Length) -> int:
    """How many characters of ``text`` fit in ``budget`` units (at least one)."""
    if length(text) <= budget:
        return len(text)
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if length(text[:middle]) <= budget:
            low = middle
        else:
            high = middle - 1
    return max(low, 1)


def _last_boundary(pattern: re.Pattern[str], window: str, floor: int) -> int | None:
    """The end of the last ``pattern`` match in ``window`` past ``floor``, or None."""
    best = None
    for match in pattern.finditer(window):
        end = match.end()
        if floor <= end <= len(window):
            best = end
    return best


def _cut(text: str, budget: int, length: Length) -> tuple[str, str]:
    """The first part of ``text`` within ``budget`` units, and the rest."""
    fit = _fit(text, budget, length)
    if fit >= len(text):
        return text, ""
    window = text[:fit]
    floor = max(1, int(fit * MIN_SHARE))
    for pattern in (PARAGRAPH_RE, LINE_RE, SENTENCE_RE, SPACE_RE):
        cut = _last_boundary(pattern, window, floor)
        if cut is not None:
            break
    else:
        cut = _safe_cut(text, fit)
    head, tail = text[:cut].rstrip(), text[cut:].lstrip()
    if not head:  # only blanks before the boundary: cut hard instead
        head, tail = text[:fit], text[fit:]
    return head, tail


def suffix(index: int, total: int) -> str:
    """The numbering of a part: `` (2/3)``."""
    return f" ({index}/{total})"


def split_text(text: str, limit: int, length: Length = utf16_length) -> list[str]:
    """Splits ``text`` into parts of at most ``limit`` units, numbered when there are several.

    Args:
        text: The reply.
        limit: The most units (see ``length``) of one platform message.
        length: How the platform measures text (default :func:`utf16_length`).

    Returns:
        ``[text]`` when it fits (also an empty text), else the parts, each ending with
        `` (i/n)`` and within ``limit``.

    Raises:
        ValueError: If ``limit`` is not positive.
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    if length(text) <= limit:
        return [text]
    total = 2
    while True:
        reserve = length(suffix(total, total))
        budget = limit - reserve
        if budget < max(1, reserve):
            # Too small a limit for numbering: plain parts.
            return _chunks(text, limit, length)
        parts = _chunks(text, budget, length)
        if len(str(len(parts))) <= len(str(total)):
            count = len(parts)
            if count == 1:
                return parts
            return [part + suffix(i, count) for i, part in enumerate(parts, start=1)]
        total = len(parts)


def _chunks(text: str, budget: int, length: Length) -> list[str]:
    parts = []
    rest = text
    while rest:
        head, rest = _cut(rest, budget, length)
        if head:
            parts.append(head.rstrip() or head)
    return parts
