"""In-memory drafts of the demo shop's rows, and the random stream that simulates them.

A draft is a row before ids are assigned: the simulation builds one :class:`CustomerDraft`
per customer with its orders, subscriptions, refunds and conversations, and
:mod:`analytics.demo.tables` turns them into table rows. :class:`Sim` carries one
independent random stream, the reference date and the catalogue; the functions that draw
from a stream take it as their first argument.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from analytics.store.catalogue import CatalogueRow
from analytics.store.models import ORDER_REFUNDED, SUB_ACTIVE

logger = logging.getLogger(__name__)


class Sim:
    """One random stream, the reference date and the catalogue (by SKU).

    Attributes:
        rng: The stream (one per customer and purpose, seeded from the shop's seed).
        ref: The reference date (end of history).
        cat: The catalogue rows by SKU.
    """

    def __init__(
        self,
        rng: random.Random,
        reference: datetime,
        catalogue: dict[str, CatalogueRow],
    ) -> None:
        """Bind the stream to the reference date and the catalogue."""
        self.rng = rng
        self.ref = reference
        self.cat = catalogue

    def days(self, d: float) -> timedelta:
        """Return ``d`` days as a timedelta."""
        return timedelta(days=d)

    def weighted(self, options: Sequence[str], weights: Sequence[float]) -> str:
        """Draw one of ``options`` with the given weights."""
        return self.rng.choices(list(options), weights=list(weights), k=1)[0]


@dataclass(eq=False)
class OrderDraft:
    """An order and its lines; ``id`` and ``number`` are given once all orders exist."""

    created_at: datetime
    status: str
    shipping_status: str
    carrier: str | None
    tracking_number: str | None
    shipped_at: datetime | None
    delivered_at: datetime | None
    estimated_delivery: datetime
    items: list[tuple[str, int, int]]  # sku, quantity, unit price
    late: bool
    number: str | None = None
    id: int = 0

    @property
    def total_cents(self) -> int:
        """Sum of the lines."""
        return sum(q * p for _, q, p in self.items)

    @property
    def bad(self) -> bool:
        """A bad experience: delivered late or refunded."""
        return self.late or self.status == ORDER_REFUNDED


@dataclass(eq=False)
class SubDraft:
    """A subscription and its events ``(kind, at, note)``."""

    plan: str
    started_at: datetime
    price_cents: int
    status: str = SUB_ACTIVE
    paused_until: datetime | None = None
    canceled_at: datetime | None = None
    cancel_reason: str | None = None
    next_renewal_at: datetime | None = None
    events: list[tuple[str, datetime, str | None]] = field(default_factory=list)


@dataclass(eq=False)
class RefundDraft:
    """A refund request about an order."""

    order: OrderDraft | None
    reason: str
    status: str
    source: str
    created_at: datetime


@dataclass(eq=False)
class MessageDraft:
    """One chat message (customer or bot)."""

    role: str
    text: str
    created_at: datetime
    intent: str | None = None
    confidence: float | None = None
    entities: list[dict[str, Any]] | None = None
    action: str | None = None
    sentiment: float | None = None


@dataclass(eq=False)
class ConversationDraft:
    """A chat conversation and its messages."""

    sender_id: str
    channel: str
    started_at: datetime
    messages: list[MessageDraft]
    needs_handoff: bool
    handoff_reason: str | None
    status: str
    rating: int | None
    reviewed: bool


@dataclass(eq=False)
class CustomerDraft:
    """A customer (its ``row`` is the customers-table row) and everything they did.

    Attributes:
        index: The customer id (``cus_{index:04d}`` is the external id).
        ctype: The latent type (a key of ``analytics.demo.profiles.PROFILES``).
        churned_at: When the customer left, if before the reference date.
        churn_at: The latent churn time; may lie after the reference date.
    """

    index: int
    ctype: str
    row: dict[str, Any]
    orders: list[OrderDraft] = field(default_factory=list)
    subscriptions: list[SubDraft] = field(default_factory=list)
    refunds: list[RefundDraft] = field(default_factory=list)
    conversations: list[ConversationDraft] = field(default_factory=list)
    churned_at: datetime | None = None
    churn_at: datetime | None = None  # latent, may lie after the reference
