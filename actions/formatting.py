"""Formatting of store data for replies in Chinese or English.

Only the form of values is decided here (money, dates, lists, which name of a product).
Words the customer reads (a carrier's name, "to be confirmed", a subscription's status)
are ``utter_phrase_*`` responses of the domain, rendered through the turn's
:class:`~actions.phrases.Phrasebook`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from actions.phrases import Phrasebook
from analytics.core.vocabulary import LANG_EN, LANG_ZH
from analytics.store.models import SUB_ACTIVE, SUB_CANCELED, SUB_PAUSED, Order, Product

DATE_FORMAT = "%Y-%m-%d"
LIST_SEPARATORS: dict[str, str] = {LANG_ZH: "、", LANG_EN: ", "}
QUANTITY_FORMAT = "{name} ×{quantity}"

PHRASE_TO_BE_CONFIRMED = "utter_phrase_to_be_confirmed"

#: carrier code -> its name (a domain phrase).
CARRIER_PHRASES: dict[str, str] = {
    "SF": "utter_phrase_carrier_sf",
    "JD": "utter_phrase_carrier_jd",
    "YTO": "utter_phrase_carrier_yto",
    "ZTO": "utter_phrase_carrier_zto",
    "EMS": "utter_phrase_carrier_ems",
}
#: how the store may hold a carrier (its code or English name, upper case) -> its code.
CARRIER_CODES: dict[str, str] = {
    **{code: code for code in CARRIER_PHRASES},
    "SF EXPRESS": "SF",
    "JD LOGISTICS": "JD",
    "YTO EXPRESS": "YTO",
    "ZTO EXPRESS": "ZTO",
    "CHINA POST EMS": "EMS",
}
#: subscription status -> its name (a domain phrase).
SUBSCRIPTION_STATUS_PHRASES: dict[str, str] = {
    SUB_ACTIVE: "utter_phrase_subscription_active",
    SUB_PAUSED: "utter_phrase_subscription_paused",
    SUB_CANCELED: "utter_phrase_subscription_canceled",
}


def product_name(product: Product, language: str) -> str:
    """Returns the product's name in the reply language."""
    return product.name_en if language == LANG_EN else product.name_zh


def money(cents: int) -> str:
    """Formats integer cents as yuan: ``12800`` -> ``128``, ``12850`` -> ``128.50``."""
    yuan, rest = divmod(int(cents), 100)
    return f"{yuan}" if rest == 0 else f"{yuan}.{rest:02d}"


def day(value: datetime | None, phrases: Phrasebook) -> str:
    """Formats a date as ``YYYY-MM-DD`` (read the same in both languages).

    Args:
        value: The date, or None when it is not known yet.
        phrases: The reply language's phrases (for "to be confirmed").

    Returns:
        The date, or "to be confirmed" in the reply language.
    """
    return (
        value.strftime(DATE_FORMAT) if value is not None else phrases.text(PHRASE_TO_BE_CONFIRMED)
    )


def carrier_phrase(code: str | None) -> str | None:
    """The phrase naming a carrier stored as its code or English name, else None."""
    found = CARRIER_CODES.get((code or "").strip().upper())
    return CARRIER_PHRASES[found] if found else None


def carrier(code: str | None, phrases: Phrasebook) -> str:
    """Returns a carrier's display name from its code or English name.

    An unknown carrier keeps the name the store holds; a missing one is "to be confirmed".
    """
    if not code:
        return phrases.text(PHRASE_TO_BE_CONFIRMED)
    phrase = carrier_phrase(code)
    return phrases.text(phrase) if phrase else code


def subscription_status(status: str, phrases: Phrasebook) -> str:
    """A subscription status (``active``, ``paused``, ``canceled``) in the reply language."""
    phrase = SUBSCRIPTION_STATUS_PHRASES.get(status)
    return phrases.text(phrase) if phrase else status


def join_names(names: Iterable[str], language: str) -> str:
    """Joins names with the language's list separator."""
    return LIST_SEPARATORS.get(language, LIST_SEPARATORS[LANG_ZH]).join(names)


def order_items(order: Order, language: str) -> str:
    """Summarises an order's items, e.g. ``西湖龙井 ×2、手冲壶``."""
    parts = []
    for item in order.items:
        name = product_name(item.product, language)
        parts.append(
            QUANTITY_FORMAT.format(name=name, quantity=item.quantity) if item.quantity > 1 else name
        )
    return join_names(parts, language)
