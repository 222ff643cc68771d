"""Formatting of store data for replies in Chinese or English."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from analytics.store.models import Order, Product

LANG_EN = "en"

CARRIERS: dict[str, tuple[str, str]] = {
    # code or stored English name (upper case): (Chinese, English)
    "SF": ("顺丰速运", "SF Express"),
    "JD": ("京东物流", "JD Logistics"),
    "YTO": ("圆通速递", "YTO Express"),
    "ZTO": ("中通快递", "ZTO Express"),
    "EMS": ("中国邮政EMS", "China Post EMS"),
}
CARRIERS.update({en.upper(): (zh, en) for zh, en in list(CARRIERS.values())})
CLOSED_STATUS: dict[str, tuple[str, str]] = {
    "cancelled": ("已取消", "cancelled"),
    "refunded": ("已退款", "refunded"),
}
SUBSCRIPTION_STATUS: dict[str, tuple[str, str]] = {
    "active": ("进行中", "active"),
    "paused": ("已暂停", "paused"),
    "canceled": ("已取消", "cancelled"),
}
UNKNOWN = ("待定", "to be confirmed")


def pick(pair: tuple[str, str], language: str) -> str:
    """Returns the English or Chinese member of a (zh, en) pair."""
    return pair[1] if language == LANG_EN else pair[0]


def product_name(product: Product, language: str) -> str:
    """Returns the product's name in the reply language."""
    return product.name_en if language == LANG_EN else product.name_zh


def money(cents: int) -> str:
    """Formats integer cents as yuan: ``12800`` -> ``128``, ``12850`` -> ``128.50``."""
    yuan, rest = divmod(int(cents), 100)
    return f"{yuan}" if rest == 0 else f"{yuan}.{rest:02d}"


def day(value: datetime | None, language: str) -> str:
    """Formats a date as ``YYYY-MM-DD`` (read the same in both languages)."""
    return value.strftime("%Y-%m-%d") if value is not None else pick(UNKNOWN, language)


def carrier(code: str | None, language: str) -> str:
    """Returns a carrier's display name from its code or English name."""
    if not code:
        return pick(UNKNOWN, language)
    pair = CARRIERS.get(code.upper())
    return pick(pair, language) if pair else code


def join_names(names: Iterable[str], language: str) -> str:
    """Joins names with the language's list separator."""
    return ("、" if language != LANG_EN else ", ").join(names)


def order_items(order: Order, language: str) -> str:
    """Summarises an order's items, e.g. ``西湖龙井 ×2、手冲壶``."""
    parts = []
    for item in order.items:
        name = product_name(item.product, language)
        parts.append(f"{name} ×{item.quantity}" if item.quantity > 1 else name)
    return join_names(parts, language)
