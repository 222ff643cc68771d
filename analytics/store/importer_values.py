"""Reading and checking the values of a shop's CSV files (used by :mod:`analytics.store.importer`).

Nothing here touches the database. A problem with one row raises :class:`RowError` (or is
yielded by :func:`read_rows` for rows the CSV reader itself cannot use), so the importer
can report it with the row's line number and go on with the next row. Every check is
linear in the field and bounded: fields are length-checked before any pattern runs.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path

logger = logging.getLogger(__name__)

SHOP_TZ = timezone(timedelta(hours=8))
TRUE_WORDS = {"1", "true", "yes", "y", "是"}
FALSE_WORDS = {"0", "false", "no", "n", "否"}
#: The largest price or cost accepted, in yuan (amounts are stored as 32-bit cents).
MAX_AMOUNT_YUAN = Decimal(1_000_000)
MAX_QUANTITY = 100_000
#: Order totals are stored in a 32-bit integer column (cents).
MAX_TOTAL_CENTS = 2**31 - 1
MIN_YEAR, MAX_YEAR = 1900, 2100
MAX_NUMBER_CHARS = 32
DEFAULT_MAX_CHARS = 200

_AMOUNT_RE = re.compile(r"[+-]?(?:[0-9]++(?:\.[0-9]*+)?|\.[0-9]++)")
_QUANTITY_RE = re.compile(r"[0-9]{1,9}+")
# Control characters (C0, DEL, C1), line and paragraph separators, bidi overrides, a BOM.
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")
# What ``surrogateescape`` decoding leaves for bytes that are not UTF-8.
_UNDECODABLE_RE = re.compile("[\udc80-\udcff]")


class RowError(ValueError):
    """A problem with one value of one row."""


@dataclass(frozen=True)
class CsvRow:
    """One record of a CSV file.

    Attributes:
        line: The file line the record starts on (1 = header).
        values: Column to value (missing trailing values are ``""``); empty if unusable.
        problem: Why the record cannot be used, or ``""``.
    """

    line: int
    values: dict[str, str]
    problem: str = ""


# --- text -------------------------------------------------------------------------------


def clean_text(value: str, column: str, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """Strip a value and refuse control characters, line breaks and over-long values.

    Args:
        value: The raw value.
        column: Column name, for the message.
        max_chars: The longest value the store column takes.

    Returns:
        The stripped value.

    Raises:
        RowError: If the value holds a control character or is too long.
    """
    value = value.strip()
    bad = _CONTROL_RE.search(value)
    if bad is not None:
        what = "a line break" if bad.group() in "\r\n\u2028\u2029" else "a control character"
        raise RowError(f"'{column}' contains {what} (U+{ord(bad.group()):04X})")
    if len(value) > max_chars:
        raise RowError(f"'{column}' is longer than {max_chars} characters ({len(value)})")
    return value


def required(row: dict[str, str], column: str, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """A required text value, cleaned (see :func:`clean_text`)."""
    value = clean_text(row.get(column) or "", column, max_chars)
    if not value:
        raise RowError(f"'{column}' is empty")
    return value


def optional(row: dict[str, str], column: str, max_chars: int = DEFAULT_MAX_CHARS) -> str | None:
    """An optional text value, cleaned, or ``None`` when empty."""
    return clean_text(row.get(column) or "", column, max_chars) or None


def choice(text: str, column: str, allowed: tuple[str, ...]) -> str:
    """One of ``allowed`` (case-insensitive)."""
    value = text.strip().lower()
    if value not in allowed:
        raise RowError(f"'{column}' must be one of {', '.join(allowed)}: {text[:40]!r}")
    return value


def boolean(text: str | None, column: str, default: bool) -> bool:
    """``true``/``false`` in the accepted words, or ``default`` when empty."""
    if text is None:
        return default
    value = text.strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise RowError(f"'{column}' must be true or false: {text[:40]!r}")


# --- numbers and dates -------------------------------------------------------------------


def parse_money(text: str, column: str) -> int:
    """Parses yuan (``128``, ``99.5``, ``¥1,299.00``) into cents.

    NaN, infinities, exponents (``1e30``), negative amounts, more than two decimals and
    amounts above :data:`MAX_AMOUNT_YUAN` are refused.

    Raises:
        RowError: If the text is not such an amount.
    """
    cleaned = unicodedata.normalize("NFKC", text[: MAX_NUMBER_CHARS * 2])
    cleaned = cleaned.replace("¥", "").replace(",", "").strip()
    if len(cleaned) > MAX_NUMBER_CHARS or not _AMOUNT_RE.fullmatch(cleaned):
        raise RowError(f"'{column}' is not an amount: {text[:40]!r}")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise RowError(f"'{column}' is not an amount: {text[:40]!r}") from None
    if value > MAX_AMOUNT_YUAN:
        raise RowError(f"'{column}' is too large (at most {MAX_AMOUNT_YUAN} yuan): {text[:40]!r}")
    if value < 0 or value != value.quantize(Decimal("0.01")):
        raise RowError(
            f"'{column}' must be a non-negative amount with at most 2 decimals: {text[:40]!r}"
        )
    return int(value * 100)


def positive_int(text: str, column: str, maximum: int = MAX_QUANTITY) -> int:
    """A whole number from 1 to ``maximum``."""
    cleaned = unicodedata.normalize("NFKC", text[:MAX_NUMBER_CHARS]).strip()
    if not _QUANTITY_RE.fullmatch(cleaned):
        raise RowError(f"'{column}' is not a whole number: {text[:40]!r}")
    value = int(cleaned)
    if value <= 0:
        raise RowError(f"'{column}' must be at least 1: {text[:40]!r}")
    if value > maximum:
        raise RowError(f"'{column}' is too large (at most {maximum}): {text[:40]!r}")
    return value


def parse_time(text: str, column: str) -> datetime:
    """Parses an ISO 8601 date or time from 1900 to 2100; no offset means China time.

    Raises:
        RowError: If the text is not such a date.
    """
    raw = text.strip()[: MAX_NUMBER_CHARS * 2]
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise RowError(f"'{column}' is not an ISO date (YYYY-MM-DD): {text[:40]!r}") from None
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise RowError(f"'{column}' is out of range ({MIN_YEAR}-{MAX_YEAR}): {text[:40]!r}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=SHOP_TZ)
    return value.astimezone(UTC)


def optional_time(row: dict[str, str], column: str) -> datetime | None:
    """An optional date (see :func:`parse_time`)."""
    text = optional(row, column)
    return parse_time(text, column) if text else None


# --- reading -----------------------------------------------------------------------------


def decode(data: bytes) -> str:
    """The text of a CSV file: UTF-8 (a BOM is dropped), or UTF-16 with its BOM.

    Bytes that are not valid UTF-8 are kept as lone surrogates (``surrogateescape``), so
    :func:`read_rows` can refuse only the rows that hold them.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="surrogateescape")
    return data.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")


def read_rows(path: Path, columns: tuple[str, ...]) -> Iterator[CsvRow]:
    """Yields every record of a CSV file with a header, with the line it starts on.

    Blank records are skipped. A record the CSV reader cannot parse, one with more values
    than the header has columns, or one holding bytes that are not UTF-8 is yielded with
    its ``problem`` set; reading goes on with the next record.

    Args:
        path: The file.
        columns: Required columns.

    Raises:
        ValueError: If the file lacks a required column (nothing can be loaded).
    """
    reader = csv.reader(io.StringIO(decode(path.read_bytes()), newline=""))
    header: list[str] = []
    for record in reader:
        if any(v.strip() for v in record):
            header = [h.strip().removeprefix("\ufeff") for h in record]
            break
    missing = [c for c in columns if c not in header]
    if missing:
        raise ValueError(f"{path.name}: missing column(s) {', '.join(missing)} (header: {header})")
    previous = reader.line_num
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield CsvRow(previous + 1, {}, f"unreadable CSV record ({error})")
            previous = reader.line_num
            continue
        line, previous = previous + 1, reader.line_num
        if not any(v.strip() for v in record):
            continue
        if len(record) > len(header):
            yield CsvRow(line, {}, f"more values than columns ({len(record)} > {len(header)})")
        elif any(_UNDECODABLE_RE.search(v) for v in record):
            yield CsvRow(line, {}, "contains bytes that are not valid UTF-8")
        else:
            yield CsvRow(line, dict(zip(header, [*record, *[""] * len(header)], strict=False)))
