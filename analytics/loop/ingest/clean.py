r"""Cleaning broker values before they reach the store.

Rasa relays whatever a client typed. Some of it no database takes: PostgreSQL refuses NUL
characters in text, and no UTF-8 encoder takes a lone surrogate (``"\ud800"`` is valid in
JSON and decodes to one). So every string the ingest stores is cleaned first: C0/C1 control
characters other than newline and tab are removed, lone surrogates become U+FFFD, very long
text is cut, and non-finite floats (``NaN`` is accepted by Python's JSON decoder but not by
PostgreSQL's ``json``) become ``None``. With that, such events are stored normally; the
dead-letter table is for what is still refused.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any

logger = logging.getLogger(__name__)

#: Longest message text stored (the doors refuse more than 2,000 characters anyway).
MAX_TEXT_CHARS = 20_000
#: Deepest nesting kept in a JSON value (entities); deeper parts become ``None``.
MAX_DEPTH = 20
REPLACEMENT = "\ufffd"

_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SURROGATE_RE = re.compile(r"[\ud800-\udfff]")


def clean_text(value: str, max_chars: int | None = None) -> str:
    """A string any store accepts.

    Args:
        value: Any string (possibly with NUL, other control characters or lone surrogates).
        max_chars: Cut the result to this many characters (``None``: no limit).

    Returns:
        The string without control characters (newline and tab kept), lone surrogates
        replaced by U+FFFD, and cut to ``max_chars``.
    """
    if max_chars is not None and len(value) > max_chars:
        value = value[:max_chars]
    if _CONTROL_RE.search(value):
        value = _CONTROL_RE.sub("", value)
    if _SURROGATE_RE.search(value):
        value = _SURROGATE_RE.sub(REPLACEMENT, value)
    return value


def clean_optional(value: Any, max_chars: int | None = None) -> str | None:  # noqa: ANN401
    """:func:`clean_text` for a string, ``None`` for anything else.

    Args:
        value: Any JSON value.
        max_chars: Cut the result to this many characters.

    Returns:
        The cleaned string, or ``None`` if ``value`` is not a string.
    """
    return clean_text(value, max_chars) if isinstance(value, str) else None


def clean_float(value: Any) -> float | None:  # noqa: ANN401
    """A finite float, or ``None`` (for booleans, non-numbers, NaN and infinities).

    Args:
        value: Any JSON value.

    Returns:
        The float, or ``None``.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def clean_value(value: Any, depth: int = 0) -> Any:  # noqa: ANN401
    """Clean a JSON-like value recursively (strings, keys, floats; bounded depth).

    Args:
        value: A decoded JSON value.
        depth: The current nesting depth.

    Returns:
        A copy every store accepts.
    """
    if depth > MAX_DEPTH:
        return None
    if isinstance(value, str):
        return clean_text(value, MAX_TEXT_CHARS)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else None
    if isinstance(value, float):
        return clean_float(value)
    if isinstance(value, list):
        return [clean_value(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {clean_text(str(k), 200): clean_value(v, depth + 1) for k, v in value.items()}
    return None
