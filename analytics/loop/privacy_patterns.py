"""Detectors behind :mod:`analytics.loop.privacy`: each one runs in time linear in the text.

Every detector takes the NFKC-normalised text (full-width digits and ``＠``/``：`` are
ASCII there) and yields ``(kind, start, end)`` offsets into it; :mod:`analytics.loop.privacy`
maps them back onto the original text. Linear time comes from three rules:

* no unbounded quantifier can be retried from many start positions: runs are matched
  possessively (``++``) and only from the start of a maximal run (look-behind on the same
  class), every other repetition is bounded;
* e-mail addresses are grown outward from each ``@`` over bounded windows (the local part
  is matched on the reversed window, so no start position is ever retried);
* the address patterns, which have many optional parts, run only inside small windows
  around an anchor (a number followed by 号/栋/室..., or an English street word).

Phone numbers are found by Google's ``phonenumbers`` (region CN, any ``+xx``), which is
linear in the text as well (see ``bench/privacy/redact.py``).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator
from datetime import date

import phonenumbers

from analytics.core.language import CJK_RANGES, CJK_RE

logger = logging.getLogger(__name__)

KIND_PHONE = "PHONE"
KIND_EMAIL = "EMAIL"
KIND_ID = "ID"
KIND_CARD = "CARD"
KIND_ADDRESS = "ADDRESS"
KIND_WECHAT = "WECHAT"
KIND_QQ = "QQ"
#: Detection priority: an overlap is resolved in favour of the earlier kind.
KINDS = (KIND_ID, KIND_CARD, KIND_EMAIL, KIND_PHONE, KIND_WECHAT, KIND_QQ, KIND_ADDRESS)

Found = tuple[str, int, int]

PHONE_REGION = "CN"
PHONE_LENIENCY = phonenumbers.Leniency.VALID
MIN_PHONE_DIGITS = 7
MAX_LOCAL_PART = 64
MAX_CJK_LOCAL_PART = 16
MAX_DOMAIN = 253
ZH_WINDOW_BEFORE = 60
ZH_WINDOW_AFTER = 40
EN_WINDOW_BEFORE = 90
EN_WINDOW_AFTER = 40

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_LENGTH = 18
_CARD_MIN, _CARD_MAX = 13, 19
_MIN_GROUP = 3

# --- checksums -------------------------------------------------------------------


def luhn_valid(digits: str) -> bool:
    """Check a number with the Luhn (mod 10) algorithm used by payment cards.

    Args:
        digits: The number as a string of digits (no separators).

    Returns:
        Whether the checksum is valid.
    """
    if not digits.isascii() or not digits.isdigit():
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
    if len(number) != _ID_LENGTH or not number.isascii() or not number[:17].isdigit():
        return False
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    if not date(1880, 1, 1) <= born <= date.today():
        return False
    total = sum(int(c) * w for c, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17].upper()


# --- ID and card numbers: runs of digit groups --------------------------------------

# A maximal run of digit groups separated by one space, dash or dot, optionally ending in
# the ID check character X. Starts only where no letter, digit or "+" precedes it.
_DIGIT_RUN_RE = re.compile(r"(?<![0-9A-Za-z+])[0-9]++(?:[ .\-][0-9]++)*+(?:[Xx](?![0-9A-Za-z]))?")
_GROUP_RE = re.compile(r"[0-9]++[Xx]?")


def find_numbers(text: str) -> Iterator[Found]:
    """Chinese ID numbers (checksum and birth date) and card numbers (Luhn), grouped or not.

    A grouped number has groups of at least three digits (the last one may be shorter for an
    ID, ``110105 19491231 002X``); a card number uses one kind of separator throughout.

    Args:
        text: Normalised text.

    Yields:
        ``(kind, start, end)`` of each valid number.
    """
    for run in _DIGIT_RUN_RE.finditer(text):
        groups = [(m.start(), m.end(), m.group()) for m in _GROUP_RE.finditer(text, *run.span())]
        for i, (start, _, _) in enumerate(groups):
            digits = ""
            separators: set[str] = set()
            for j in range(i, len(groups)):
                g_start, g_end, value = groups[j]
                if j > i:
                    if len(groups[j - 1][2]) < _MIN_GROUP:
                        break  # only the last group of a number may be short ("002X")
                    separators.add(text[g_start - 1])
                digits += value
                if len(digits) > _CARD_MAX:
                    break
                after = text[g_end : g_end + 1]
                if len(digits) == _ID_LENGTH and not (after.isascii() and after.isalnum()):
                    if cn_id_valid(digits.upper()):
                        yield KIND_ID, start, g_end
                        continue
                if (
                    _CARD_MIN <= len(digits) <= _CARD_MAX
                    and len(separators) <= 1
                    and (j == i or len(value) >= _MIN_GROUP)
                    and not after.isdigit()
                    and luhn_valid(digits)
                ):
                    yield KIND_CARD, start, g_end


# Taiwan (A123456789) and Hong Kong (A123456(7), AB987654(A)) identity card numbers.
_TW_ID_RE = re.compile(r"(?<![0-9A-Za-z])[A-Z][12][0-9]{8}(?![0-9A-Za-z])")
_HK_ID_RE = re.compile(r"(?<![0-9A-Za-z])[A-Z]{1,2}[0-9]{6}\s?\(?[0-9A]\)?(?![0-9A-Za-z])")
_TW_LETTERS = "ABCDEFGHJKLMNPQRSTUVXYWZIO"  # A=10 ... O=35


def tw_id_valid(number: str) -> bool:
    """Check a Taiwan national ID (a letter, 1 or 2, eight digits; weighted sum mod 10)."""
    if not _TW_ID_RE.fullmatch(number):
        return False
    code = _TW_LETTERS.index(number[0]) + 10
    digits = [code // 10, code % 10, *map(int, number[1:])]
    total = sum(d * w for d, w in zip(digits, (1, 9, 8, 7, 6, 5, 4, 3, 2, 1, 1), strict=True))
    return total % 10 == 0


def hk_id_valid(number: str) -> bool:
    """Check a Hong Kong identity card number (its check digit, mod 11; ``A`` is 10)."""
    plain = re.sub(r"[\s()]", "", number)
    if not re.fullmatch(r"[A-Z]{1,2}[0-9]{6}[0-9A]", plain):
        return False
    body = plain[:-1].rjust(8, " ")
    values = [36 if ch == " " else ord(ch) - 55 if ch.isalpha() else int(ch) for ch in body]
    total = sum(v * w for v, w in zip(values, range(9, 1, -1), strict=True))
    check = 10 if plain[-1] == "A" else int(plain[-1])
    return (total + check) % 11 == 0


def find_regional_ids(text: str) -> Iterator[Found]:
    """Taiwan and Hong Kong identity card numbers with a valid check character.

    Args:
        text: Normalised text.

    Yields:
        ``(kind, start, end)`` of each number.
    """
    for regex, valid in ((_TW_ID_RE, tw_id_valid), (_HK_ID_RE, hk_id_valid)):
        for m in regex.finditer(text):
            if valid(m.group()):
                yield KIND_ID, m.start(), m.end()


# --- e-mail addresses ---------------------------------------------------------------

_LATIN = "A-Za-z\u00c0-\u024f\u1e00-\u1eff"
_ZH_STOP = "的是在我你他她址到寄送住于和与了吗呢吧啊要请帮把改成为从往去来就还也都发给箱"
# Matched on the reversed text before "@": the local part read backwards.
_LOCAL_LATIN_RE = re.compile(rf"[0-9{_LATIN}._%+\-]{{1,{MAX_LOCAL_PART}}}+")
_LOCAL_CJK_RE = re.compile(rf"(?:(?![{_ZH_STOP}])[0-9{CJK_RANGES}]){{1,{MAX_CJK_LOCAL_PART}}}+")
_DOMAIN_RE = re.compile(r"[\w\-]{1,63}+(?:\.[\w\-]{1,63}+){1,8}+")
_IDN_TLDS = ("中国", "中國", "公司", "网络", "網絡", "在线", "网址", "集团", "商城", "网店", "香港")


_LATIN_CHAR_RE = re.compile(rf"[{_LATIN}]")


def _script(ch: str) -> str:
    """``latin``, ``cjk``, ``other``, or ``""`` for digits and ``-`` (neutral)."""
    if ch.isdigit() or ch == "-":
        return ""
    if _LATIN_CHAR_RE.match(ch):
        return "latin"
    if CJK_RE.match(ch):
        return "cjk"
    return "other"


def _cut_at_script_change(label: str) -> tuple[str, bool]:
    """The label up to the first character of another script, and whether it was cut."""
    first = ""
    for i, ch in enumerate(label):
        if ch == "_":
            return label[:i], True
        kind = _script(ch)
        if kind and first and kind != first:
            return label[:i], True
        first = first or kind
    return label, False


def _domain_length(text: str, start: int) -> int:
    """Length of the e-mail domain starting at ``start`` (0 if there is none)."""
    m = _DOMAIN_RE.match(text, start, min(len(text), start + MAX_DOMAIN))
    if m is None:
        return 0
    labels: list[str] = []
    for label in m.group().split("."):
        kept, cut = _cut_at_script_change(label)
        labels.append(kept)
        if cut:
            break
    while labels and not (len(labels[-1]) >= 2 and labels[-1].isalpha()):
        labels.pop()
    if len(labels) < 2 or not all(labels):
        return 0
    last = labels[-1]
    if _script(last[0]) == "cjk":
        labels[-1] = next((t for t in _IDN_TLDS if last.startswith(t)), last)
    return len(".".join(labels))


def find_emails(text: str) -> Iterator[Found]:
    """E-mail addresses, ASCII or Unicode (``josé@exämple.com``, ``张三@例子.公司``).

    Args:
        text: Normalised text (``＠`` is already ``@``).

    Yields:
        ``(kind, start, end)`` of each address.
    """
    at = text.find("@")
    while at != -1:
        domain = _domain_length(text, at + 1)
        if domain and at > 0:
            window = text[max(0, at - MAX_LOCAL_PART) : at][::-1]
            local = _LOCAL_LATIN_RE.match(window) or _LOCAL_CJK_RE.match(window)
            if local is not None:
                length = len(local.group().rstrip("."))  # no leading dot in the local part
                if length:
                    yield KIND_EMAIL, at - length, at + 1 + domain
        at = text.find("@", at + 1)


# --- phone numbers, WeChat and QQ ----------------------------------------------------

_CN_MOBILE_RE = re.compile(
    r"(?<![0-9A-Za-z])(?:(?:\+|00)?86[ \-]?)?1[3-9][0-9][ \-]?[0-9]{4}[ \-]?[0-9]{4}(?![0-9])"
)
# Taiwan: mobiles 09xx-xxx-xxx and landlines (02) 2345-6789 written the local way
# (international +886 numbers are found by phonenumbers).
_TW_PHONE_RE = re.compile(
    r"(?<![0-9A-Za-z])(?:09[0-9]{2}[ \-]?[0-9]{3}[ \-]?[0-9]{3}"
    r"|\(0[2-8]\)[ \-]?[0-9]{3,4}[ \-]?[0-9]{4}|0[2-8][ \-][0-9]{3,4}[ \-][0-9]{4})(?![0-9])"
)
_DECIMAL_RE = re.compile(r"[0-9]++[.,][0-9]{1,2}+")
_WECHAT_RE = re.compile(
    r"(?<![A-Za-z])(?:微信|威信|薇信|[Vv]信|[Ww]e[Cc]hat|[Ww]eixin|WX|wx|VX|vx|Wx|Vx)"
    r"(?:\s{0,2}(?:号码|号|账号|ID|id|Id|是|为|is|:)){0,3}\s{0,2}"
    r"(?P<id>[A-Za-z][A-Za-z0-9_\-]{5,19}+)(?![A-Za-z0-9_\-])"
)
_WXID_RE = re.compile(r"(?<![A-Za-z0-9_])wxid_[A-Za-z0-9_\-]{3,30}+")
_QQ_RE = re.compile(
    r"(?<![A-Za-z])(?:QQ|qq|Qq|扣扣)"
    r"(?:\s{0,2}(?:号码|号|账号|是|为|is|number|no\.?|:|#)){0,3}\s{0,2}"
    r"(?P<id>[1-9][0-9]{4,10}+)(?![0-9])"
)


def find_phones(text: str) -> Iterator[Found]:
    """Phone numbers in any format ``phonenumbers`` recognises as valid (region CN, any ``+xx``).

    Args:
        text: Normalised text.

    Yields:
        ``(kind, start, end)`` of each number.
    """
    if sum(map(str.isdigit, text)) < MIN_PHONE_DIGITS:
        return
    matcher = phonenumbers.PhoneNumberMatcher(
        text, PHONE_REGION, leniency=PHONE_LENIENCY, max_tries=sys.maxsize
    )
    for match in matcher:
        if not _DECIMAL_RE.fullmatch(match.raw_string):  # 1900000000.0 is not 190 0000 0000
            yield KIND_PHONE, match.start, match.end
    for m in _CN_MOBILE_RE.finditer(text):
        yield KIND_PHONE, m.start(), m.end()
    for m in _TW_PHONE_RE.finditer(text):
        yield KIND_PHONE, m.start(), m.end()


def find_handles(text: str) -> Iterator[Found]:
    """WeChat ids (after 微信/WeChat/vx..., or any ``wxid_...``) and QQ numbers (after QQ).

    Only the id itself is reported, so ``微信: leaf_bean88`` becomes ``微信: [WECHAT]``.
    An id after a keyword must contain a digit, ``_`` or ``-``, or follow a colon, so that
    "WeChat payments" is not an id.

    Args:
        text: Normalised text.

    Yields:
        ``(kind, start, end)`` of each id.
    """
    for m in _WECHAT_RE.finditer(text):
        handle = m.group("id")
        if any(ch.isdigit() or ch in "_-" for ch in handle) or ":" in m.group():
            yield KIND_WECHAT, m.start("id"), m.end("id")
    for m in _WXID_RE.finditer(text):
        yield KIND_WECHAT, m.start(), m.end()
    for m in _QQ_RE.finditer(text):
        yield KIND_QQ, m.start("id"), m.end("id")


# --- addresses -----------------------------------------------------------------------

_ZH_CHAR = rf"(?:(?![{_ZH_STOP}])[\u4e00-\u9fff])"
_ZH_NUM_CLASS = "0-9一二三四五六七八九十百零〇"
_ZH_NUM = rf"[{_ZH_NUM_CLASS}]{{1,8}}+"
_ZH_PREFIX = (
    rf"(?:{_ZH_CHAR}{{2,7}}?(?:省|自治区|特别行政区))?"
    rf"(?:{_ZH_CHAR}{{2,7}}?市)?"
    rf"(?:{_ZH_CHAR}{{1,7}}?(?:区|县|旗))?"
    rf"(?:{_ZH_CHAR}{{1,7}}?(?:镇|乡|街道))?"
)
_ZH_BUILDINGS = "大厦|大楼|中心|广场|公寓|花园|小区|新村|家园|苑|座"
_ZH_UNIT_WORDS = "号楼|栋|幢|座|单元|楼|层|室|号|户"
_ZH_UNIT = rf"(?:[ \-]?{_ZH_NUM}\s?(?:{_ZH_UNIT_WORDS})(?:之{_ZH_NUM})?){{0,6}}"
# Hong Kong roads end in 道 (弥敦道, 轩尼诗道): not 知道, 味道, 频道...
_HK_ROAD = "(?<![知味频渠通难报说顺一])道"
_ZH_ANCHOR_RE = re.compile(rf"(?<![{_ZH_NUM_CLASS}]){_ZH_NUM}\s?(?:号|栋|幢|座|单元|室|户)")
_ZH_STREET_RE = re.compile(
    _ZH_PREFIX
    + rf"(?:{_ZH_CHAR}|[0-9A-Za-z]){{1,10}}?(?:大道|大街|路|街|巷|弄|胡同|里|村|{_HK_ROAD})"
    + rf"(?:{_ZH_NUM}段)?(?:{_ZH_NUM}(?:巷|弄)){{0,2}}"
    + rf"\s?{_ZH_NUM}\s?号(?:院)?(?:之{_ZH_NUM})?"
    + rf"(?:{_ZH_CHAR}{{1,10}}?(?:{_ZH_BUILDINGS}))?"
    + _ZH_UNIT
)
_ZH_ESTATE_RE = re.compile(
    _ZH_PREFIX
    + rf"{_ZH_CHAR}{{2,10}}?(?:小区|花园|公寓|大厦|新村|家园|苑|广场)"
    + rf"[ \-]?{_ZH_NUM}(?:号楼|栋|幢|座|号)"
    + _ZH_UNIT
)
# "3号楼2单元501室", "5栋1201": a building and at least one more part; or "1203室".
_ZH_UNIT_CHAIN_RE = re.compile(
    rf"(?<![{_ZH_NUM_CLASS}]){_ZH_NUM}(?:号楼|栋|幢|座)"
    rf"(?:[ \-]?{_ZH_NUM}\s?(?:单元|楼|层|室|号|户)?){{1,4}}"
    r"|(?<![0-9])[0-9]{3,4}+室"
)
_EN_SUFFIX = (
    r"(?:Street|St|Road|Rd|Avenue|Ave|Boulevard|Blvd|Lane|Ln|Drive|Dr|Way|Court|Ct|Place|Pl|"
    r"Terrace|Crescent|Cres|Highway|Hwy|Parkway|Pkwy|Square|Sq)"
)
_EN_UNIT = r"(?:Apt|Apartment|Unit|Suite|Flat|Room|Rm)"
_EN_ANCHOR_RE = re.compile(rf"\b(?:{_EN_SUFFIX}|{_EN_UNIT})\b", re.IGNORECASE)
_EN_WORD = r"[A-Za-z][A-Za-z'\-]{0,30}+\.?\s{1,3}"
_EN_STOP = r"(?:and|or|the|of|for|to|in|on|at|more|days?|boxes?|bags?|cups?|items?)\b"
_EN_STREET_RE = re.compile(
    r"(?<![A-Za-z0-9])[0-9]{1,5}+[A-Za-z]?,?\s{1,3}"
    rf"(?:(?!{_EN_STOP}){_EN_WORD}){{1,4}}"
    + _EN_SUFFIX
    + r"\b\.?"
    + rf"(?:,?\s{{0,3}}(?:{_EN_UNIT}|#)\.?\s{{0,3}}[A-Za-z0-9\-]{{1,8}}+)?",
    re.IGNORECASE,
)
_EN_UNIT_FIRST_RE = re.compile(
    rf"\b{_EN_UNIT}\s{{0,3}}[A-Za-z0-9\-]{{1,8}}+,\s{{0,3}}"
    rf"(?:[0-9]{{1,5}}+[A-Za-z]?\s{{1,3}})?(?:{_EN_WORD}){{1,4}}" + _EN_SUFFIX + r"\b\.?",
    re.IGNORECASE,
)
# "Apt 4B", "Suite 210", "Flat 3": a unit word and a number with a digit in it.
_EN_UNIT_RE = re.compile(
    rf"\b{_EN_UNIT}\.?\s{{0,2}}#?\s{{0,2}}(?=[A-Za-z\-]{{0,3}}[0-9])[A-Za-z0-9\-]{{1,6}}+\b",
    re.IGNORECASE,
)


def _windows(
    anchors: Iterator[re.Match[str]], before: int, after: int, size: int
) -> list[list[int]]:
    """Merged ``(start, end)`` windows around anchor matches."""
    merged: list[list[int]] = []
    for m in anchors:
        start, end = max(0, m.start() - before), min(size, m.end() + after)
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


def find_addresses(text: str) -> Iterator[Found]:
    """Street addresses in Chinese (…路88号, …小区3栋, 3号楼2单元501室) and English.

    Args:
        text: Normalised text.

    Yields:
        ``(kind, start, end)`` of each address.
    """
    size = len(text)
    zh = _windows(_ZH_ANCHOR_RE.finditer(text), ZH_WINDOW_BEFORE, ZH_WINDOW_AFTER, size)
    for start, end in zh:
        for regex in (_ZH_STREET_RE, _ZH_ESTATE_RE, _ZH_UNIT_CHAIN_RE):
            for m in regex.finditer(text, start, end):
                if m.end() > m.start():
                    yield KIND_ADDRESS, m.start(), m.end()
    en = _windows(_EN_ANCHOR_RE.finditer(text), EN_WINDOW_BEFORE, EN_WINDOW_AFTER, size)
    for start, end in en:
        for regex in (_EN_STREET_RE, _EN_UNIT_FIRST_RE, _EN_UNIT_RE):
            for m in regex.finditer(text, start, end):
                yield KIND_ADDRESS, m.start(), m.end()


DETECTORS = (
    find_numbers,
    find_regional_ids,
    find_emails,
    find_phones,
    find_handles,
    find_addresses,
)
"""Every detector, in no particular order (priority is applied by the caller)."""
