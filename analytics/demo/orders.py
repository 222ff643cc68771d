"""Orders of the demo shop: order lines by taste, shipping by age, numbering, loyalty points."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from analytics.demo.drafts import CustomerDraft, OrderDraft, Sim
from analytics.demo.profiles import CLUSTERS
from analytics.store.models import (
    CATEGORY_SUBSCRIPTION,
    ORDER_CANCELLED,
    ORDER_DELIVERED,
    ORDER_PAID,
    ORDER_REFUNDED,
    ORDER_SHIPPED,
    SHIP_DELAYED,
    SHIP_DELIVERED,
    SHIP_IN_TRANSIT,
    SHIP_PENDING,
    SHIP_RETURNED,
)

logger = logging.getLogger(__name__)

ORDER_NUMBER_PREFIX = "LB"
FIRST_ORDER_NUMBER = 100001
LAST_GENERATED_ORDER_NUMBER = 899999

CARRIERS: dict[str, str] = {"SF Express": "SF", "JD Logistics": "JD", "YTO Express": "YT"}
"""Carrier name -> tracking-number prefix."""
CARRIER_WEIGHTS = (0.5, 0.3, 0.2)


def tracking_number(sim: Sim, carrier: str) -> str:
    """Draw a tracking number of ``carrier`` (its prefix and 13 digits)."""
    prefix = CARRIERS[carrier]
    return prefix + "".join(sim.rng.choice("0123456789") for _ in range(13))


def make_order(
    sim: Sim,
    created: datetime,
    items: list[tuple[str, int, int]],
    *,
    late: bool,
    refund: bool = False,
    cancel: bool = False,
) -> OrderDraft:
    """Build an order whose statuses follow from its age at the reference date.

    Args:
        sim: The customer's random stream.
        created: When the order was placed.
        items: The lines ``(sku, quantity, unit price in cents)``.
        late: Whether the delivery takes 3-8 days longer than usual.
        refund: Whether a delivered order ends refunded.
        cancel: Whether the order was cancelled before shipping.

    Returns:
        The order draft (not yet numbered).
    """
    rng = sim.rng
    estimated = created + sim.days(4)
    carrier = sim.weighted(list(CARRIERS), CARRIER_WEIGHTS)
    if cancel:
        return OrderDraft(
            created, ORDER_CANCELLED, SHIP_PENDING, None, None, None, None, estimated, items,
            False,
        )  # fmt: skip
    shipped = created + sim.days(rng.uniform(0.2, 1.5))
    transit = rng.uniform(1.2, 2.4)
    if late:
        transit += rng.uniform(3.0, 8.0)
    delivered = shipped + sim.days(transit)
    if sim.ref < shipped:
        return OrderDraft(
            created, ORDER_PAID, SHIP_PENDING, None, None, None, None, estimated, items, False
        )
    tracking = tracking_number(sim, carrier)
    if sim.ref < delivered:
        ship_status = SHIP_DELAYED if sim.ref > estimated else SHIP_IN_TRANSIT
        return OrderDraft(
            created, ORDER_SHIPPED, ship_status, carrier, tracking, shipped, None, estimated,
            items, late and sim.ref > estimated,
        )  # fmt: skip
    status, ship_status = ORDER_DELIVERED, SHIP_DELIVERED
    if refund:
        status = ORDER_REFUNDED
        ship_status = SHIP_RETURNED if rng.random() < 0.5 else SHIP_DELIVERED
    return OrderDraft(
        created, status, ship_status, carrier, tracking, shipped, delivered, estimated, items,
        delivered > estimated,
    )  # fmt: skip


def pick_items(
    sim: Sim, primary: str, secondary: str | None, discount: float, bought: set[str]
) -> list[tuple[str, int, int]]:
    """Choose order lines following the customer's taste clusters.

    Args:
        sim: The customer's random stream.
        primary: The main taste cluster (a key of ``CLUSTERS``).
        secondary: A second cluster, or ``None``.
        discount: Share taken off the list prices (0 for none).
        bought: SKUs bought so far; updated with the chosen ones.

    Returns:
        The lines ``(sku, quantity, unit price in cents)``.
    """
    rng = sim.rng
    _, core, accessories = CLUSTERS[primary]
    n_lines = 1 + (rng.random() < 0.45) + (rng.random() < 0.15)
    chosen: list[str] = []
    all_skus = [s for s, p in sim.cat.items() if p.category != CATEGORY_SUBSCRIPTION]
    for _ in range(n_lines * 3):
        if len(chosen) >= n_lines:
            break
        r = rng.random()
        if r < 0.72:
            sku = rng.choices(core, weights=(0.5, 0.3, 0.2)[: len(core)], k=1)[0]
        elif r < 0.84 and secondary is not None:
            sku = rng.choice(CLUSTERS[secondary][1])
        elif r < 0.93:
            sku = rng.choice(accessories)
            if sku in bought and rng.random() < 0.85:
                continue
        else:
            sku = rng.choice(all_skus)
        if sku not in chosen:
            chosen.append(sku)
    if not chosen:
        chosen.append(rng.choice(core))
    lines = []
    for sku in chosen:
        qty = 1 if rng.random() < 0.8 else (2 if rng.random() < 0.85 else 3)
        price = sim.cat[sku].price_cents
        if discount:
            price = int(round(price * (1 - discount) / 100.0)) * 100
        lines.append((sku, qty, price))
        bought.add(sku)
    return lines


def loyalty_points(sim: Sim, orders: Iterable[OrderDraft]) -> int:
    """Loyalty points: a random 30-100% of the yuan spent on shipped or delivered orders."""
    spent = sum(o.total_cents for o in orders if o.status in (ORDER_DELIVERED, ORDER_SHIPPED))
    return int(spent / 100 * sim.rng.uniform(0.3, 1.0))


def number_orders(drafts: list[CustomerDraft]) -> None:
    """Give every order an id (by time) and non-demo orders sequential numbers.

    Raises:
        ValueError: If the generated orders exceed the ``LB`` + 6 digits numbering.
    """
    all_orders = [(o.created_at, d.index, j, o) for d in drafts for j, o in enumerate(d.orders)]
    all_orders.sort(key=lambda t: (t[0], t[1], t[2]))
    number = FIRST_ORDER_NUMBER
    for order_id, (_, _, _, order) in enumerate(all_orders, start=1):
        order.id = order_id
        if order.number is None:
            if number > LAST_GENERATED_ORDER_NUMBER:
                raise ValueError("too many orders for the LB + 6 digits numbering")
            order.number = f"{ORDER_NUMBER_PREFIX}{number}"
            number += 1
