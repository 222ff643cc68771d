r"""CSV import of a real shop's products, customers and orders.

A founder exports three CSV files from their shop system (columns below, UTF-8,
header row required; extra columns are ignored) and runs::

    python -m analytics import --products products.csv --customers customers.csv \
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

Dates are ISO 8601 (``2026-03-01`` or ``2026-03-01T14:30:00+08:00``), years 1900 to
2100; a date or time without an offset is taken as China time (UTC+8), the usual shop
setting.

What makes a row bad (it is reported with the line it starts on and skipped; the import
never stops): an empty required value; a value longer than its store column; a control
character or line break in any value (so a product name cannot carry YAML into the NLU
files); an amount that is not a plain non-negative number with at most two decimals up to
1,000,000 yuan (``NaN``, ``inf``, ``1e30`` are refused); a quantity outside 1-100,000; an
order total above the 32-bit column; a date that does not parse or is out of range; more
values than columns; bytes that are not UTF-8 (other rows of the file still load; a UTF-8
BOM is dropped, a UTF-16 file with its BOM is read); a row the database refuses.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from tqdm import tqdm

from analytics.core.vocabulary import LANG_ZH, LANGUAGES
from analytics.store.importer_values import (
    MAX_TOTAL_CENTS,
    SHOP_TZ,
    RowError,
    boolean,
    choice,
    optional,
    optional_time,
    parse_money,
    parse_time,
    positive_int,
    read_rows,
    required,
)
from analytics.store.models import (
    CATEGORIES,
    ORDER_STATUSES,
    SHIPPING_STATUSES,
    Customer,
    Order,
    OrderItem,
    Product,
)

logger = logging.getLogger(__name__)

__all__ = [
    "SHOP_TZ",
    "ImportReport",
    "Problem",
    "RowError",
    "import_csv",
    "parse_money",
    "parse_time",
]

MAX_ERRORS_SHOWN = 50
MAX_EXTERNAL_ID = 64
MAX_SKU = 32
MAX_EMAIL = 320
MAX_PHONE = 40
MAX_CITY = 100
MAX_SHORT = 40
MAX_TRACKING = 64
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
    required_columns: tuple[str, ...],
    kind: str,
    report: ImportReport,
    session: Session,
    handle: Callable[[dict[str, str]], str],
    progress: bool,
) -> None:
    """Runs ``handle`` on every row in its own savepoint; records problems.

    A row that fails for any reason (a bad value, or an error of the database itself) is
    rolled back to its savepoint and reported; the import always goes on with the next row.
    """
    rows = list(read_rows(path, required_columns))
    for row in tqdm(rows, desc=f"Importing {kind}", unit="row", disable=not progress):
        if row.problem:
            report.problems.append(Problem(path.name, row.line, row.problem))
            continue
        try:
            with session.begin_nested():
                outcome = handle(row.values)
        except RowError as error:
            report.problems.append(Problem(path.name, row.line, str(error)))
            continue
        except Exception as error:  # noqa: BLE001 - one row must never stop the import
            logger.warning("%s:%d could not be stored: %r", path.name, row.line, error)
            reason = str(error).splitlines()[0][:200] if str(error) else ""
            report.problems.append(
                Problem(
                    path.name, row.line, f"could not be stored ({type(error).__name__}: {reason})"
                )
            )
            continue
        report.count(kind, outcome)


# --- the three kinds of row ----------------------------------------------------


def _product_row(session: Session, row: dict[str, str]) -> str:
    sku = required(row, "sku", MAX_SKU).upper()
    values = {
        "name_zh": required(row, "name_zh"),
        "name_en": required(row, "name_en"),
        "category": choice(required(row, "category"), "category", CATEGORIES),
        "price_cents": parse_money(required(row, "price"), "price"),
        "active": boolean(optional(row, "active"), "active", True),
    }
    product = session.scalars(select(Product).where(Product.sku == sku)).first()
    if product is None:
        session.add(Product(sku=sku, **values))
        session.flush()
        return "inserted"
    return "updated" if _apply(product, values) else "unchanged"


def _customer_row(session: Session, row: dict[str, str]) -> str:
    external_id = required(row, "external_id", MAX_EXTERNAL_ID)
    email = required(row, "email", MAX_EMAIL)
    if not EMAIL.match(email):
        raise RowError(f"'email' is not an email address: {email[:40]!r}")
    language = optional(row, "language") or LANG_ZH
    values = {
        "name": required(row, "name"),
        "email": email,
        "phone": optional(row, "phone", MAX_PHONE),
        "language": choice(language, "language", LANGUAGES),
        "city": optional(row, "city", MAX_CITY) or "",
        "created_at": parse_time(required(row, "created_at"), "created_at"),
        "acquisition_channel": optional(row, "acquisition_channel", MAX_SHORT) or "import",
        "acquisition_cost_cents": parse_money(
            optional(row, "acquisition_cost") or "0", "acquisition_cost"
        ),
    }
    customer = session.scalars(select(Customer).where(Customer.external_id == external_id)).first()
    if customer is None:
        session.add(Customer(external_id=external_id, points=0, **values))
        session.flush()
        return "inserted"
    return "updated" if _apply(customer, values) else "unchanged"


def _order_row(session: Session, row: dict[str, str]) -> str:
    number = required(row, "order_number").upper()
    if not ORDER_NUMBER.match(number):
        raise RowError(f"'order_number' must be 1-16 letters, digits, - or _: {number[:40]!r}")
    external_id = required(row, "customer_id", MAX_EXTERNAL_ID)
    customer = session.scalars(select(Customer).where(Customer.external_id == external_id)).first()
    if customer is None:
        raise RowError(f"unknown customer {external_id!r} (import it in the customers file)")
    sku = required(row, "sku", MAX_SKU).upper()
    product = session.scalars(select(Product).where(Product.sku == sku)).first()
    if product is None:
        raise RowError(f"unknown product {sku!r} (import it in the products file)")
    status = choice(required(row, "status"), "status", ORDER_STATUSES)
    shipping = optional(row, "shipping_status") or DEFAULT_SHIPPING[status]
    order_values = {
        "created_at": parse_time(required(row, "created_at"), "created_at"),
        "status": status,
        "shipping_status": choice(shipping, "shipping_status", SHIPPING_STATUSES),
        "carrier": optional(row, "carrier", MAX_SHORT),
        "tracking_number": optional(row, "tracking_number", MAX_TRACKING),
        "shipped_at": optional_time(row, "shipped_at"),
        "delivered_at": optional_time(row, "delivered_at"),
        "estimated_delivery": optional_time(row, "estimated_delivery"),
    }
    quantity = positive_int(required(row, "quantity"), "quantity")
    unit_price = parse_money(required(row, "unit_price"), "unit_price")
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
    total = sum(i.quantity * i.unit_price_cents for i in order.items)
    if total > MAX_TOTAL_CENTS:
        raise RowError(f"order {number} total would exceed {MAX_TOTAL_CENTS // 100} yuan")
    order.total_cents = total
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
