"""What the console's query modules share: pages of rows, filter values, risk bands in SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import and_

from analytics.core.vocabulary import (
    RISK_HIGH,
    RISK_LEVEL_HIGH,
    RISK_LEVEL_LOW,
    RISK_LEVEL_MEDIUM,
    RISK_MEDIUM,
)
from web.console.facts import load_json

PAGE_SIZE = 50
MAX_EXPORT_ROWS = 100_000
SORT_RISK = "risk"
"""The default order of the lists (revenue or value at risk)."""
TRUE_VALUES = frozenset({"1", "yes", "true"})
FALSE_VALUES = frozenset({"0", "no", "false"})
_DESCRIBE_KEYS = ("text", "text_en", "reason", "label", "name", "name_en", "sku", "code")


@dataclass
class Page:
    """A page of rows with what pagination needs."""

    rows: list[dict[str, Any]]
    total: int
    page: int
    pages: int
    capped: bool = False
    """Whether ``total`` is a lower bound (there are more matches)."""


def filters_query(values: dict[str, Any], **changes: Any) -> str:
    """Filter values as a query string, with some changed (for links).

    Empty values, page 1 and the default sort order are left out; dates are ISO.
    """
    merged = {**values, **changes}
    return urlencode(
        {
            k: (v.isoformat() if isinstance(v, date) else v)
            for k, v in merged.items()
            if v not in ("", None)
            and not (k == "page" and v == 1)
            and not (k == "sort" and v == SORT_RISK)
        }
    )


def flag(value: str) -> bool | None:
    """A yes/no filter value: ``True``, ``False`` or ``None`` (any)."""
    if value in TRUE_VALUES:
        return True
    if value in FALSE_VALUES:
        return False
    return None


def day_start(value: date) -> datetime:
    """Midnight (UTC) at the start of ``value``."""
    return datetime.combine(value, time.min, tzinfo=UTC)


def aware(value: Any) -> datetime:
    """A datetime from the store (ISO text on some backends, naive on SQLite) in UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def band_condition(column: Any, band: str) -> Any:
    """The SQL condition "``column`` (a churn probability) is in ``band``", or ``None``.

    The bands are :func:`analytics.core.vocabulary.risk_band`'s: high from
    :data:`RISK_HIGH`, medium from :data:`RISK_MEDIUM`, else low.
    """
    if band == RISK_LEVEL_HIGH:
        return column >= RISK_HIGH
    if band == RISK_LEVEL_MEDIUM:
        return and_(column >= RISK_MEDIUM, column < RISK_HIGH)
    if band == RISK_LEVEL_LOW:
        return column < RISK_MEDIUM
    return None


def as_list(value: Any) -> list[Any]:
    """A JSON column's value as a list (``None`` is empty, one object is a list of one)."""
    value = load_json(value)
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def describe(item: Any) -> str:
    """A readable text for one churn reason or recommendation (str, dict or other)."""
    if isinstance(item, dict):
        for key in _DESCRIBE_KEYS:
            if item.get(key):
                extra = ""
                if "weight" in item or "score" in item:
                    extra = f" ({item.get('weight', item.get('score'))})"
                return f"{item[key]}{extra}"
        return ", ".join(f"{k}: {v}" for k, v in item.items())
    return str(item)
