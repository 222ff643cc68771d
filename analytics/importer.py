"""CSV import of a real shop's products, customers and orders.

A founder exports three CSV files from their shop system (columns below, UTF-8,
header row required; extra columns are ignored) and runs::

    python -m analytics import --products products.csv --customers customers.csv \\
        --orders orders.csv

Every row is checked on its own. Bad rows are reported with their file, line
number and the reason, and skipped; good rows are loaded. Importing the same
files again changes nothing (rows are matched on their natural keys: product
``sku``, customer ``external_id``, and ``order_number`` + ``sku`` for order
lines), and a corrected file updates the rows it names.

Columns (``*`` = required):

- products: ``sku*``, ``name_zh*``, ``name_en*``, ``category*`` (tea, coffee,
  accessory, subscription), ``price*`` (yuan, e.g. ``128`` or ``99.50``),
  ``active`` (true/false, default true).
- customers: ``external_id*`` (the id your website signs, see README),
  ``name*``, ``email*``, ``phone``, ``language`` (zh or en, default zh),
  ``city``, ``created_at*``, ``acquisition_channel``, ``acquisition_cost``
  (yuan).
- orders, one row per order line: ``order_number*``, ``customer_id*`` (the
  customer's external id), ``created_at*``, ``status*`` (paid, shipped,
  delivered, cancelled, refunded), ``shipping_status`` (pending, in_transit,
  delivered, delayed, returned; default from status), ``carrier``,
  ``tracking_number``, ``shipped_at``, ``delivered_at``, ``estimated_delivery``,
  ``sku*``, ``quantity*``, ``unit_price*`` (yuan).

Dates are ISO 8601 (``2026-03-01`` or ``2026-03-01T14:30:00+08:00``); a date or
time without an offset is taken as China time (UTC+8), the usual shop setting.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from tqdm import tqdm

from analytics.models import (
    CATEGORIES,
    LANG_ZH,
    LANGUAGES,
    ORDER_STATUSES,
    SHIPPING_STATUSES,
    Customer,
    Order,
    OrderItem,
    Product,
)

logger = logging.getLogger(__name__)

SHOP_TZ = timezone(timedelta(hours=8))
MAX_ERRORS_SHOWN = 50
TRUE_WORDS = {"1", "true", "yes", "y", "是"}
FALSE_WORDS = {"0", "false", "no", "n", "否"}
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ORDER_NUMBER = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
DEFAULT_SHIPPING = {
    "paid": "pending",
    "shipped": "in_transit",
    "delivered": "delivered",
    "cancelled": "pending",
    "refunded": "returned",
}

PRODUCT_COLUMNS = ("sku", "name_zh", "name_en", "category", "price")
CUSTOMER_COLUMNS = ("external_id", "name", "email", "created_at")
ORDER_COLUMNS = (
    "order_number",
    "customer_id",
    "created_at",
    "status",
    "sku",
    "quantity",
    "unit_price",
)


class RowError(ValueError):
    """A problem with one value of one row."""


@dataclass(frozen=True)
class Problem:
    """A rejected row: where it is and why."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass
class ImportReport:
    """What an import did."""

    inserted: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def count(self, kind: str, outcome: str) -> None:
        """Counts one row's outcome (``inserted``, ``updated``, ``unchanged``)."""
        table: dict[str, int] = getattr(self, outcome)
        table[kind] = table.get(kind, 0) + 1

    @property
    def ok(self) -> bool:
        """True when no row was rejected."""
        return not self.problems

    def summary(self) -> str:
        """A human-readable report (at most :data:`MAX_ERRORS_SHOWN` problems)."""
        lines = []
        for kind in ("products", "customers", "order lines"):
            lines.append(
                f"{kind}: {self.inserted.get(kind, 0)} new, {self.updated.get(kind, 0)} updated, "
                f"{self.unchanged.get(kind, 0)} unchanged"
            )
        if self.problems:
            lines.append(f"{len(self.problems)} row(s) rejected:")
            lines += [f"  {p}" for p in self.problems[:MAX_ERRORS_SHOWN]]
            if len(self.problems) > MAX_ERRORS_SHOWN:
                lines.append(f"  ... and {len(self.problems) - MAX_ERRORS_SHOWN} more")
        return "\n".join(lines)


# --- value parsers -----------------------------------------------------------


def _required(row: dict[str, str], column: str) -> str:
    value = (row.get(column) or "").strip()
    if not value:
        raise RowError(f"'{column}' is empty")
    return value


def _optional(row: dict[str, str], column: str) -> str | None:
    value = (row.get(column) or "").strip()
    return value or None


def parse_money(text: str, column: str) -> int:
    """Parses yuan (``128``, ``99.5``, ``¥1,299.00``) into cents."""
    cleaned = text.replace("¥", "").replace("￥", "").replace(",", "").strip()
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise RowError(f"'{column}' is not an amount: {text!r}") from None
    if value < 0 or value != value.quantize(Decimal("0.01")):
        raise RowError(
            f"'{column}' must be a non-negative amount with at most 2 decimals: {text!r}"
        )
    return int(value * 100)


def parse_time(text: str, column: str) -> datetime:
    """Parses an ISO 8601 date or time; no offset means China time."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise RowError(f"'{column}' is not an ISO date (YYYY-MM-DD): {text!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=SHOP_TZ)
    return value.astimezone(UTC)


def _optional_time(row: dict[str, str], column: str) -> datetime | None:
    text = _optional(row, column)
    return parse_time(text, column) if text else None


def _choice(text: str, column: str, allowed: tuple[str, ...]) -> str:
    value = text.strip().lower()
    if value not in allowed:
        raise RowError(f"'{column}' must be one of {', '.join(allowed)}: {text!r}")
    return value


def _bool(text: str | None, column: str, default: bool) -> bool:
    if text is None:
        return default
    value = text.strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise RowError(f"'{column}' must be true or false: {text!r}")


def _positive_int(text: str, column: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise RowError(f"'{column}' is not a whole number: {text!r}") from None
    if value <= 0:
        raise RowError(f"'{column}' must be at least 1: {text!r}")
    return value


# --- reading -----------------------------------------------------------------


def read_rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yields ``(line number, row)`` of a CSV file with a header.

    Raises:
        ValueError: If the file lacks a required column (nothing can be loaded).
    """
    text = path.read_text(encoding="utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in required if c not in header]
    if missing:
        raise ValueError(f"{path.name}: missing column(s) {', '.join(missing)} (header: {header})")
    reader.fieldnames = header
    for row in reader:
        if None in row:
            yield reader.line_num, {"__extra__": "1"}
            continue
        if not any((v or "").strip() for v in row.values()):
            continue  # blank line
        yield reader.line_num, row


def _apply(instance: Any, values: dict[str, Any]) -> bool:
    """Sets attributes; returns True if anything changed."""
    changed = False
    for key, value in values.items():
        if getattr(instance, key) != value:
            setattr(instance, key, value)
            changed = True
    return changed


def _load(
    path: Path,
    required: tuple[str, ...],
    kind: str,
    report: ImportReport,
    session: Session,
    handle: Callable[[dict[str, str]], str],
    progress: bool,
) -> None:
    """Runs ``handle`` on every row in its own savepoint; records problems."""
    rows = list(read_rows(path, required))
    for line, row in tqdm(rows, desc=f"Importing {kind}", unit="row", disable=not progress):
        if "__extra__" in row:
            report.problems.append(Problem(path.name, line, "more values than columns"))
            continue
        try:
            with session.begin_nested():
                outcome = handle(row)
        except RowError as error:
            report.problems.append(Problem(path.name, line, str(error)))
            continue
        report.count(kind, outcome)


# --- the three kinds of row ----------------------------------------------------


def _product_row(session: Session, row: dict[str, str]) -> str:
    sku = _required(row, "sku").upper()
    values = {
        "name_zh": _required(row, "name_zh"),
        "name_en": _required(row, "name_en"),
        "category": _choice(_required(row, "category"), "category", CATEGORIES),
        "price_cents": parse_money(_required(row, "price"), "price"),
        "active": _bool(_optional(row, "active"), "active", True),
    }
    product = session.scalars(select(Product).where(Product.sku == sku)).first()
    if product is None:
        session.add(Product(sku=sku, **values))
        session.flush()
        return "inserted"
    return "updated" if _apply(product, values) else "unchanged"


def _customer_row(session: Session, row: dict[str, str]) -> str:
    external_id = _required(row, "external_id")
    if len(external_id) > 64:
        raise RowError("'external_id' is longer than 64 characters")
    email = _required(row, "email")
    if not EMAIL.match(email):
        raise RowError(f"'email' is not an email address: {email!r}")
    language = _optional(row, "language") or LANG_ZH
    values = {
        "name": _required(row, "name"),
        "email": email,
        "phone": _optional(row, "phone"),
        "language": _choice(language, "language", LANGUAGES),
        "city": _optional(row, "city") or "",
        "created_at": parse_time(_required(row, "created_at"), "created_at"),
        "acquisition_channel": _optional(row, "acquisition_channel") or "import",
        "acquisition_cost_cents": parse_money(
            _optional(row, "acquisition_cost") or "0", "acquisition_cost"
        ),
    }
    customer = session.scalars(select(Customer).where(Customer.external_id == external_id)).first()
    if customer is None:
        session.add(Customer(external_id=external_id, points=0, **values))
        session.flush()
        return "inserted"
    return "updated" if _apply(customer, values) else "unchanged"


def _order_row(session: Session, row: dict[str, str]) -> str:
    number = _required(row, "order_number").upper()
    if not ORDER_NUMBER.match(number):
        raise RowError(f"'order_number' must be 1-16 letters, digits, - or _: {number!r}")
    external_id = _required(row, "customer_id")
    customer = session.scalars(select(Customer).where(Customer.external_id == external_id)).first()
    if customer is None:
        raise RowError(f"unknown customer {external_id!r} (import it in the customers file)")
    sku = _required(row, "sku").upper()
    product = session.scalars(select(Product).where(Product.sku == sku)).first()
    if product is None:
        raise RowError(f"unknown product {sku!r} (import it in the products file)")
    status = _choice(_required(row, "status"), "status", ORDER_STATUSES)
    shipping = _optional(row, "shipping_status") or DEFAULT_SHIPPING[status]
    order_values = {
        "created_at": parse_time(_required(row, "created_at"), "created_at"),
        "status": status,
        "shipping_status": _choice(shipping, "shipping_status", SHIPPING_STATUSES),
        "carrier": _optional(row, "carrier"),
        "tracking_number": _optional(row, "tracking_number"),
        "shipped_at": _optional_time(row, "shipped_at"),
        "delivered_at": _optional_time(row, "delivered_at"),
        "estimated_delivery": _optional_time(row, "estimated_delivery"),
    }
    quantity = _positive_int(_required(row, "quantity"), "quantity")
    unit_price = parse_money(_required(row, "unit_price"), "unit_price")
    order = session.scalars(select(Order).where(Order.order_number == number)).first()
    outcome = "unchanged"
    if order is None:
        order = Order(order_number=number, customer_id=customer.id, total_cents=0, **order_values)
        session.add(order)
        session.flush()
    elif order.customer_id != customer.id:
        raise RowError(f"order {number} already belongs to another customer")
    elif _apply(order, order_values):
        outcome = "updated"
    item = session.scalars(
        select(OrderItem).where(OrderItem.order_id == order.id, OrderItem.product_id == product.id)
    ).first()
    if item is None:
        session.add(
            OrderItem(
                order_id=order.id,
                product_id=product.id,
                quantity=quantity,
                unit_price_cents=unit_price,
            )
        )
        outcome = "inserted"
    elif _apply(item, {"quantity": quantity, "unit_price_cents": unit_price}):
        outcome = "updated"
    session.flush()
    session.refresh(order)
    order.total_cents = sum(i.quantity * i.unit_price_cents for i in order.items)
    return outcome


def import_csv(
    session: Session,
    *,
    products: Path | None = None,
    customers: Path | None = None,
    orders: Path | None = None,
    progress: bool = False,
) -> ImportReport:
    """Imports the given files (products, then customers, then orders).

    The caller owns the session and commits; each row runs in a savepoint, so a
    bad row never takes good ones with it.

    Args:
        session: An open store session.
        products: Products CSV, or None.
        customers: Customers CSV, or None.
        orders: Order lines CSV, or None.
        progress: Show progress bars.

    Returns:
        Counts per kind and the rejected rows with their line numbers.

    Raises:
        ValueError: If a file lacks a required column.
        FileNotFoundError: If a file does not exist.
    """
    report = ImportReport()
    if products is not None:
        _load(products, PRODUCT_COLUMNS, "products", report, session,
              lambda r: _product_row(session, r), progress)  # fmt: skip
    if customers is not None:
        _load(customers, CUSTOMER_COLUMNS, "customers", report, session,
              lambda r: _customer_row(session, r), progress)  # fmt: skip
    if orders is not None:
        _load(orders, ORDER_COLUMNS, "order lines", report, session,
              lambda r: _order_row(session, r), progress)  # fmt: skip
    logger.info("Import finished: %d problem(s)", len(report.problems))
    return report
