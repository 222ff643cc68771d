"""The product catalogue: the CSV it is read from, and the look-ups the bot uses.

Products by sku or by name, and price ranges.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from analytics.store.models import (
    CATEGORY_COFFEE,
    CATEGORY_SUBSCRIPTION,
    CATEGORY_TEA,
    Product,
)

CATALOGUE_PATH: Path = Path(__file__).resolve().parent / "data" / "catalogue.csv"
"""The demo shop's catalogue (``sku,name_zh,name_en,category,price_cents``)."""

TEA_BOX_SKU = "S01"
COFFEE_BOX_SKU = "S02"


@dataclass(frozen=True)
class CatalogueRow:
    """One product of ``catalogue.csv``."""

    sku: str
    name_zh: str
    name_en: str
    category: str
    price_cents: int


def load_catalogue(path: Path = CATALOGUE_PATH) -> list[CatalogueRow]:
    """Read the catalogue CSV.

    Args:
        path: The CSV file (``sku,name_zh,name_en,category,price_cents``).

    Returns:
        The products in file order.
    """
    with path.open(encoding="utf-8", newline="") as fh:
        return [
            CatalogueRow(
                sku=row["sku"].strip(),
                name_zh=row["name_zh"].strip(),
                name_en=row["name_en"].strip(),
                category=row["category"].strip(),
                price_cents=int(row["price_cents"]),
            )
            for row in csv.DictReader(fh)
        ]


def product_by_sku(session: Session, sku: str) -> Product | None:
    """Returns the product with this sku (case-insensitive), if any."""
    return session.scalars(select(Product).where(func.upper(Product.sku) == sku.upper())).first()


def find_product(session: Session, name: str) -> Product | None:
    """Finds a product by its Chinese or English name or its sku.

    Args:
        session: An open store session.
        name: What the customer wrote (an NLU ``product`` entity value).

    Returns:
        The exact (case-insensitive) match, else the single product whose name
        contains the text, else None.
    """
    text = name.strip()
    if not text:
        return None
    lowered = text.lower()
    exact = session.scalars(
        select(Product).where(
            or_(
                func.lower(Product.name_en) == lowered,
                Product.name_zh == text,
                func.lower(Product.sku) == lowered,
            )
        )
    ).first()
    if exact is not None:
        return exact
    pattern = f"%{lowered}%"
    partial = session.scalars(
        select(Product)
        .where(or_(func.lower(Product.name_en).like(pattern), Product.name_zh.like(f"%{text}%")))
        .limit(2)
    ).all()
    return partial[0] if len(partial) == 1 else None


def price_overview(session: Session) -> dict[str, int]:
    """Price ranges of the active catalogue, in cents.

    Returns:
        ``tea_box`` and ``coffee_box`` (monthly box prices) and ``tea_min``,
        ``tea_max``, ``coffee_min``, ``coffee_max``.
    """
    ranges = session.execute(
        select(Product.category, func.min(Product.price_cents), func.max(Product.price_cents))
        .where(Product.active.is_(True), Product.category.in_((CATEGORY_TEA, CATEGORY_COFFEE)))
        .group_by(Product.category)
    ).all()
    overview = {
        f"{category}_{edge}": 0 for category in ("tea", "coffee") for edge in ("min", "max")
    }
    for category, low, high in ranges:
        overview[f"{category}_min"], overview[f"{category}_max"] = int(low), int(high)
    boxes = {
        sku: price
        for sku, price in session.execute(
            select(Product.sku, Product.price_cents).where(
                Product.category == CATEGORY_SUBSCRIPTION
            )
        ).all()
    }
    overview["tea_box"] = int(boxes.get(TEA_BOX_SKU, 0))
    overview["coffee_box"] = int(boxes.get(COFFEE_BOX_SKU, 0))
    return overview
