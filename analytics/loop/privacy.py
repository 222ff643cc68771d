"""Redaction of personal data before anything is stored in the customer-success store.

What is found and replaced by a placeholder (``[PHONE]``, ``[EMAIL]``, ``[ID]``, ``[CARD]``,
``[ADDRESS]``, ``[WECHAT]``, ``[QQ]``):

* phone numbers in any format Google's ``phonenumbers`` recognises as a valid number (region
  CN, and any international ``+xx`` / ``00xx`` number): ``13812345678``, ``138 0013 8000``,
  ``138-0013-8000``, ``021-62345678``, ``+44 20 7946 0958``, ``+1 (415) 555-2671``;
* e-mail addresses, ASCII or Unicode (``josé@exämple.com``, ``张三@例子.公司``);
* Chinese resident ID numbers (18 characters, grouped or not) **only when the GB 11643
  check character (MOD 11-2, incl. ``X``) and the birth date are valid**;
* payment card numbers (13 to 19 digits, plain or grouped by spaces, dashes or dots)
  **only when the Luhn checksum is valid**;
* street addresses: Chinese (``…省/市/区/县 …路/街 N号``, ``…小区 N栋``, ``3号楼2单元501室``)
  and English (``221B Baker Street``, ``12 Nathan Rd, Flat 3``, ``Apt 4B``);
* WeChat ids after 微信/WeChat/vx/wx (``微信: wxid_abc123`` -> ``微信: [WECHAT]``) and QQ
  numbers after QQ.

Matching runs on the NFKC form of the text (full-width digits, ``＠`` and ``：`` become
ASCII) folded to Simplified Chinese (:func:`fold`: OpenCC ``t2s``, so ``臺北市信義區松仁路
100號`` is found as ``台北市信义区松仁路100号``), and the *original* characters of each
match are replaced: text around a match keeps its script. Taiwan and Hong Kong phone and
identity card numbers (checked) and their street forms (``…路四段100巷5弄3號``, ``10樓之3``,
``彌敦道100號``) are found too. Every detector runs in
time linear in the text (see :mod:`analytics.loop.privacy_patterns` and
``bench/privacy/redact.py``), so a long or hostile message cannot keep a worker busy.
Order numbers (``LB100234``), tracking numbers (letters before the digits), prices, dates
and quantities are left alone. The raw text only ever stays in Rasa's tracker store, and
:mod:`analytics.loop.retention` prunes it there once ingested.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass
from typing import Any

from analytics.core.language import to_simplified
from analytics.loop.privacy_patterns import (
    DETECTORS,
    KIND_ADDRESS,
    KIND_CARD,
    KIND_EMAIL,
    KIND_ID,
    KIND_PHONE,
    KIND_QQ,
    KIND_WECHAT,
    KINDS,
    cn_id_valid,
    luhn_valid,
)

logger = logging.getLogger(__name__)

__all__ = [
    "KINDS",
    "KIND_ADDRESS",
    "KIND_CARD",
    "KIND_EMAIL",
    "KIND_ID",
    "KIND_PHONE",
    "KIND_QQ",
    "KIND_WECHAT",
    "PiiSpan",
    "cn_id_valid",
    "find_pii",
    "fold",
    "luhn_valid",
    "normalise",
    "redact",
    "redact_entities",
    "redact_value",
]

_PRIORITY = {kind: i for i, kind in enumerate(KINDS)}
_ASCII_END = "\x80"
FOLD_CONFIG = "t2s"
"""OpenCC configuration folding Traditional Chinese to the Simplified the patterns are
written in (character for character for nearly every text)."""


@dataclass(frozen=True)
class PiiSpan:
    """One piece of personal data found in a text.

    Attributes:
        kind: One of :data:`KINDS` (``PHONE``, ``EMAIL``, ``ID``, ``CARD``, ...).
        start: Start offset in the text.
        end: End offset (exclusive).
        text: The matched text.
    """

    kind: str
    start: int
    end: int
    text: str


def normalise(text: str) -> tuple[str, list[int] | None]:
    """The NFKC form of a text, character by character, with a map back to the original.

    Args:
        text: Any text.

    Returns:
        ``(normalised, origin)``: ``origin[i]`` is the offset in ``text`` of the character
        that produced ``normalised[i]``; ``None`` when the text is unchanged (ASCII).
    """
    if text.isascii():
        return text, None
    parts: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        if ch < _ASCII_END:
            parts.append(ch)
            origin.append(i)
            continue
        norm = unicodedata.normalize("NFKC", ch)
        parts.append(norm)
        origin.extend([i] * len(norm))
    return "".join(parts), origin


def fold(text: str) -> str:
    """The text with Traditional Chinese folded to Simplified (OpenCC ``t2s``).

    Text without Han characters is returned as is (no OpenCC call); a lone surrogate
    becomes U+FFFD; if OpenCC fails, the text is returned unchanged.

    Args:
        text: Any text.

    Returns:
        The folded text (usually of the same length, character for character).
    """
    if text.isascii():
        return text
    return to_simplified(text, FOLD_CONFIG)


def _detect(norm: str) -> list[tuple[str, int, int]]:
    """Non-overlapping ``(kind, start, end)`` hits in a normalised text, in text order."""
    found = {hit for detect in DETECTORS for hit in detect(norm)}
    taken = bytearray(len(norm))
    kept: list[tuple[str, int, int]] = []
    for kind, start, end in sorted(found, key=lambda f: (_PRIORITY[f[0]], f[1] - f[2], f[1])):
        if end > start and taken.find(1, start, end) == -1:
            taken[start:end] = b"\x01" * (end - start)
            kept.append((kind, start, end))
    return sorted(kept, key=lambda k: k[1])


def _scan(text: str) -> tuple[str, list[PiiSpan]]:
    """The text the spans point into, and the spans.

    The detectors see the NFKC form folded to Simplified (:func:`fold`). When the fold
    keeps the length (nearly always) its offsets are the NFKC form's, so the spans point
    into ``text`` itself; otherwise they point into the folded NFKC form, which is then
    the text to redact (nothing is stored unredacted for want of a mapping).
    """
    if not text:
        return text, []
    norm, origin = normalise(text)
    folded = fold(norm)
    if len(folded) != len(norm):
        logger.info("Folding changed the length of a %d-character text", len(text))
        return folded, [PiiSpan(k, s, e, folded[s:e]) for k, s, e in _detect(folded)]
    spans = []
    for kind, start, end in _detect(folded):
        if origin is not None:
            start, end = origin[start], origin[end - 1] + 1
        spans.append(PiiSpan(kind, start, end, text[start:end]))
    return text, spans


def find_pii(text: str) -> list[PiiSpan]:
    """Find personal data in a text, in Simplified or Traditional Chinese, English or both.

    Overlapping candidates are resolved by priority (ID, card, e-mail, phone, WeChat, QQ,
    address) and then by length, so a valid ID number is never half-redacted as a phone.

    Args:
        text: Any text in Chinese, English or both.

    Returns:
        Non-overlapping spans, in text order: offsets into ``text``, or in the rare case
        that folding it to Simplified changes its length, into its folded NFKC form (the
        text :func:`redact` then returns, redacted).
    """
    return _scan(text)[1]


def redact(text: str) -> str:
    """Replace personal data in a text by ``[KIND]`` placeholders.

    Args:
        text: The raw text.

    Returns:
        The redacted text (unchanged if nothing was found). Text outside the placeholders
        keeps its script, except in the rare case described in :func:`find_pii`.
    """
    text, spans = _scan(text)
    if not spans:
        return text
    out: list[str] = []
    pos = 0
    for span in spans:
        out.append(text[pos : span.start])
        out.append(f"[{span.kind}]")
        pos = span.end
    out.append(text[pos:])
    return "".join(out)


def redact_value(value: Any) -> Any:
    """Redact strings inside a JSON-like value (dicts, lists, strings), recursively.

    Args:
        value: Any JSON-like value.

    Returns:
        A copy with every string redacted.
    """
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [redact_value(v) for v in value]
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    return value


def redact_entities(entities: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """Keep the useful part of extracted entities, with redacted values.

    Only ``entity``, ``value``, ``role``, ``group``, ``confidence`` and ``extractor`` are
    kept (no character offsets into the raw text).

    Args:
        entities: Rasa's ``parse_data["entities"]``.

    Returns:
        The cleaned list, or ``None`` if there were none.
    """
    if not entities:
        return None
    keep = ("entity", "value", "role", "group", "confidence_entity", "extractor")
    cleaned = []
    for ent in entities:
        if not isinstance(ent, dict):
            continue
        cleaned.append({k: redact_value(ent[k]) for k in keep if k in ent})
    return cleaned or None
