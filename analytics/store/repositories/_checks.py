"""Argument checks shared by the data functions."""

from __future__ import annotations

from datetime import datetime


def require_aware(value: datetime, name: str) -> datetime:
    """Refuse a naive datetime (every time in the store is timezone-aware UTC).

    Args:
        value: The datetime to check.
        name: The argument's name, for the error message.

    Returns:
        ``value`` unchanged.

    Raises:
        ValueError: If ``value`` has no time zone.
    """
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {value!r}")
    return value
