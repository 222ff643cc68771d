"""Redaction of personal data before anything is stored in the customer-success store.

What is found and replaced by a placeholder (``[PHONE]``, ``[EMAIL]``, ``[ID]``, ``[CARD]``,
``[ADDRESS]``):

* phone numbers: Chinese mobiles (``1[3-9]`` + 9 digits, optional ``+86``/``86`` and
  separators), Chinese landlines (``0XX-XXXXXXXX``) and international numbers written with a
  leading ``+`` (8 to 15 digits) or in the North-American ``(555) 123-4567`` form;
* e-mail addresses (ASCII and full-width ``＠``);
* Chinese resident ID numbers (18 characters) **only when the ISO 7064 MOD 11-2 check
  character and the birth date are valid**;
* payment card numbers (13 to 19 digits, optionally grouped by spaces or dashes) **only when
  the Luhn checksum is valid**;
* street addresses: Chinese (``…路/街/大道/巷/弄 + 号``, ``…小区/花园 + 栋/单元/室``) and English
  (``221B Baker Street``, ``12 Nathan Rd, Flat 3``).

Everything is regular expressions plus checksums (no model), so it is fast enough to run on
every message in the ingest worker and deterministic to test. Order numbers (``LB100234``),
tracking numbers (letters before the digits), prices and quantities are left alone.
The raw text only ever stays in Rasa's tracker store.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

logger = logging.getLogger(__name__)

KIND_PHONE = "PHONE"
KIND_EMAIL = "EMAIL"
KIND_ID = "ID"
KIND_CARD = "CARD"
KIND_ADDRESS = "ADDRESS"
KINDS = (KIND_ID, KIND_CARD, KIND_EMAIL, KIND_PHONE, KIND_ADDRESS)

_NOT_ALNUM_BEFORE = r"(?<![A-Za-z0-9])"
_NOT_DIGIT_AFTER = r"(?![0-9])"

_ID_RE = re.compile(_NOT_ALNUM_BEFORE + r"[1-9]\d{16}[0-9Xx]" + r"(?![0-9A-Za-z])")
_CARD_RE = re.compile(r"(?<![A-Za-z0-9+])" + r"\d(?:[ \-]?\d){12,18}" + _NOT_DIGIT_AFTER)
_EMAIL_RE = re.compile(r"[A-Za-z0-9._%+\-]+[@＠][A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_CN_MOBILE_RE = re.compile(
    _NOT_ALNUM_BEFORE + r"(?:(?:\+|00)?86[ \-]?)?1[3-9]\d[ \-]?\d{4}[ \-]?\d{4}" + _NOT_DIGIT_AFTER
)
_CN_LANDLINE_RE = re.compile(
    _NOT_ALNUM_BEFORE
    + r"\(?0\d{2,3}\)?[ \-]\d{7,8}"
    + r"(?:[ \-]?(?:转|ext\.?)\s?\d{1,5})?"
    + _NOT_DIGIT_AFTER
)
_INTL_RE = re.compile(r"(?<![A-Za-z0-9+])\+\d{1,3}(?:[ .\-]?\(?\d{1,5}\)?){2,5}" + _NOT_DIGIT_AFTER)
_NANP_RE = re.compile(_NOT_ALNUM_BEFORE + r"\(\d{3}\)\s?\d{3}[ .\-]\d{4}" + _NOT_DIGIT_AFTER)
_DASHED_PHONE_RE = re.compile(_NOT_ALNUM_BEFORE + r"\d{3}[.\-]\d{3,4}[.\-]\d{4}" + _NOT_DIGIT_AFTER)

# Chinese addresses. Administrative names may not contain words that usually precede an
# address in a sentence ("我的地址是…", "寄到…"), so the match starts at the place name.
_ZH_STOP = "的是在我你他她址到寄送住于和与了吗呢吧啊要请帮把改成为从往去来就还也都"
_ZH_CHAR = rf"(?:(?![{_ZH_STOP}])[\u4e00-\u9fff])"
_ZH_NUM = r"[0-9０-９一二三四五六七八九十百零〇]+"
_ZH_PREFIX = (
    rf"(?:{_ZH_CHAR}{{2,7}}?(?:省|自治区|特别行政区))?"
    rf"(?:{_ZH_CHAR}{{2,7}}?市)?"
    rf"(?:{_ZH_CHAR}{{1,7}}?(?:区|县|旗))?"
    rf"(?:{_ZH_CHAR}{{1,7}}?(?:镇|乡|街道))?"
)
_ZH_UNIT = rf"(?:[ \-]?{_ZH_NUM}(?:号楼|栋|幢|座|单元|楼|层|室|号|户))*"
_ZH_STREET_RE = re.compile(
    _ZH_PREFIX
    + rf"(?:{_ZH_CHAR}|[0-9A-Za-z]){{1,10}}?(?:大道|大街|路|街|巷|弄|胡同|里)"
    + rf"(?:{_ZH_NUM}(?:巷|弄))?"
    + rf"{_ZH_NUM}号(?:院)?"
    + _ZH_UNIT
)
_ZH_ESTATE_RE = re.compile(
    _ZH_PREFIX
    + rf"{_ZH_CHAR}{{2,10}}?(?:小区|花园|公寓|大厦|新村|家园|苑|广场)"
    + rf"[ \-]?{_ZH_NUM}(?:号楼|栋|幢|座|号)"
    + _ZH_UNIT
)
_EN_SUFFIX = (
    r"(?:Street|St|Road|Rd|Avenue|Ave|Boulevard|Blvd|Lane|Ln|Drive|Dr|Way|Court|Ct|Place|Pl|"
    r"Terrace|Crescent|Cres|Highway|Hwy|Parkway|Pkwy|Square|Sq)"
)
_EN_STREET_RE = re.compile(
    r"(?<![A-Za-z0-9])\d{1,5}[A-Za-z]?,?\s+"
    r"(?:(?!(?:and|or|the|of|for|to|in|on|at|more|days?|boxes?|bags?|cups?|items?)\b)"
    r"[A-Za-z][A-Za-z'\-]*\.?\s+){1,4}"
    + _EN_SUFFIX
    + r"\b\.?"
    + r"(?:,?\s*(?:Apt|Apartment|Unit|Suite|Flat|Room|Rm|#)\.?\s*[A-Za-z0-9\-]+)?",
    re.IGNORECASE,
)
_EN_UNIT_FIRST_RE = re.compile(
    r"\b(?:Flat|Apt|Apartment|Unit|Suite|Room)\s*[A-Za-z0-9\-]+,\s*"
    r"(?:\d{1,5}[A-Za-z]?\s+)?(?:[A-Za-z][A-Za-z'\-]*\s+){1,4}" + _EN_SUFFIX + r"\b\.?",
    re.IGNORECASE,
)

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


@dataclass(frozen=True)
class PiiSpan:
    """One piece of personal data found in a text.

    Attributes:
        kind: ``PHONE``, ``EMAIL``, ``ID``, ``CARD`` or ``ADDRESS``.
        start: Start offset in the text.
        end: End offset (exclusive).
        text: The matched text.
    """

    kind: str
    start: int
    end: int
    text: str


def luhn_valid(digits: str) -> bool:
    """Check a number with the Luhn (mod 10) algorithm used by payment cards.

    Args:
        digits: The number as a string of digits (no separators).

    Returns:
        Whether the checksum is valid.
    """
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def cn_id_valid(number: str) -> bool:
    """Check a Chinese resident ID number (GB 11643): birth date and MOD 11-2 check character.

    Args:
        number: 18 characters, the last may be ``X``.

    Returns:
        Whether the number is well-formed with a valid date and check character.
    """
    if len(number) != 18 or not number[:17].isdigit():
        return False
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    if not date(1880, 1, 1) <= born <= date.today():
        return False
    total = sum(int(c) * w for c, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17].upper()


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _candidates(text: str) -> Iterable[PiiSpan]:
    for m in _ID_RE.finditer(text):
        if cn_id_valid(m.group().upper()):
            yield PiiSpan(KIND_ID, m.start(), m.end(), m.group())
    for m in _CARD_RE.finditer(text):
        raw = m.group().rstrip(" -")
        digits = _digits(raw)
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            yield PiiSpan(KIND_CARD, m.start(), m.start() + len(raw), raw)
    for m in _EMAIL_RE.finditer(text):
        yield PiiSpan(KIND_EMAIL, m.start(), m.end(), m.group())
    for regex in (_CN_MOBILE_RE, _CN_LANDLINE_RE, _NANP_RE, _DASHED_PHONE_RE):
        for m in regex.finditer(text):
            yield PiiSpan(KIND_PHONE, m.start(), m.end(), m.group())
    for m in _INTL_RE.finditer(text):
        raw = m.group().rstrip(" .-")
        if 8 <= len(_digits(raw)) <= 15:
            yield PiiSpan(KIND_PHONE, m.start(), m.start() + len(raw), raw)
    for regex in (_ZH_STREET_RE, _ZH_ESTATE_RE, _EN_STREET_RE, _EN_UNIT_FIRST_RE):
        for m in regex.finditer(text):
            yield PiiSpan(KIND_ADDRESS, m.start(), m.end(), m.group())


def find_pii(text: str) -> list[PiiSpan]:
    """Find personal data in a text.

    Overlapping candidates are resolved by priority (ID, card, e-mail, phone, address) and
    then by length, so a valid ID number is never half-redacted as a phone.

    Args:
        text: Any text in Chinese, English or both.

    Returns:
        Non-overlapping spans, in text order.
    """
    if not text:
        return []
    priority = {kind: i for i, kind in enumerate(KINDS)}
    found = sorted(_candidates(text), key=lambda s: (priority[s.kind], -(s.end - s.start), s.start))
    kept: list[PiiSpan] = []
    for span in found:
        if all(span.end <= k.start or span.start >= k.end for k in kept):
            kept.append(span)
    return sorted(kept, key=lambda s: s.start)


def redact(text: str) -> str:
    """Replace personal data in a text by ``[KIND]`` placeholders.

    Args:
        text: The raw text.

    Returns:
        The redacted text (unchanged if nothing was found).
    """
    spans = find_pii(text)
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
