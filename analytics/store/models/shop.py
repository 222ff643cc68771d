"""SQLAlchemy 2 models of the customer-success store.

The schema is the contract in ``docs/architecture.md``. Money is integer cents (CNY);
all times are timezone-aware UTC (:class:`UTCDateTime` returns aware datetimes on every
backend, including SQLite, and treats naive input as UTC).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    false,
    text,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from analytics.core.vocabulary import LANG_ZH, LANGUAGES

logger = logging.getLogger(__name__)

# --- fixed vocabularies -------------------------------------------------------------


CATEGORY_TEA = "tea"
CATEGORY_COFFEE = "coffee"
CATEGORY_ACCESSORY = "accessory"
CATEGORY_SUBSCRIPTION = "subscription"
CATEGORIES = (CATEGORY_TEA, CATEGORY_COFFEE, CATEGORY_ACCESSORY, CATEGORY_SUBSCRIPTION)

ORDER_PAID = "paid"
ORDER_SHIPPED = "shipped"
ORDER_DELIVERED = "delivered"
ORDER_CANCELLED = "cancelled"
ORDER_REFUNDED = "refunded"
ORDER_STATUSES = (ORDER_PAID, ORDER_SHIPPED, ORDER_DELIVERED, ORDER_CANCELLED, ORDER_REFUNDED)

SHIP_PENDING = "pending"
SHIP_IN_TRANSIT = "in_transit"
SHIP_DELIVERED = "delivered"
SHIP_DELAYED = "delayed"
SHIP_RETURNED = "returned"
SHIPPING_STATUSES = (SHIP_PENDING, SHIP_IN_TRANSIT, SHIP_DELIVERED, SHIP_DELAYED, SHIP_RETURNED)

PLAN_TEA_BOX = "S01"
PLAN_COFFEE_BOX = "S02"

SUB_ACTIVE = "active"
SUB_PAUSED = "paused"
SUB_CANCELED = "canceled"
SUBSCRIPTION_STATUSES = (SUB_ACTIVE, SUB_PAUSED, SUB_CANCELED)

EVENT_START = "start"
EVENT_PAUSE = "pause"
EVENT_RESUME = "resume"
EVENT_SKIP = "skip"
EVENT_CANCEL = "cancel"
EVENT_RENEW = "renew"
#: a price change for the renewals from ``at`` until ``ends_at`` (an applied retention offer).
EVENT_DISCOUNT = "discount"
SUBSCRIPTION_EVENT_KINDS = (
    EVENT_START,
    EVENT_PAUSE,
    EVENT_RESUME,
    EVENT_SKIP,
    EVENT_CANCEL,
    EVENT_RENEW,
    EVENT_DISCOUNT,
)

REFUND_OPEN = "open"
REFUND_APPROVED = "approved"
REFUND_REJECTED = "rejected"
"""Stored value of a refused request (the console and the customer read "refused")."""
REFUND_STATUSES = (REFUND_OPEN, REFUND_APPROVED, REFUND_REJECTED)

SOURCE_CHAT = "chat"
SOURCE_EMAIL = "email"

CONV_OPEN = "open"
CONV_RESOLVED = "resolved"
CONVERSATION_STATUSES = (CONV_OPEN, CONV_RESOLVED)

ROLE_USER = "user"
ROLE_BOT = "bot"
ROLE_FOUNDER = "founder"
MESSAGE_ROLES = (ROLE_USER, ROLE_BOT, ROLE_FOUNDER)

CHANNEL_WEB = "web"

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _in_check(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that always round-trips aware UTC datetimes.

    Naive datetimes are taken to be UTC. On SQLite (no time zone storage) the value is
    stored as naive UTC and read back with ``tzinfo=UTC``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Normalise to UTC before writing."""
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime."""
        if value is None:
            return None
        # raw SQLite strings from text() queries
        moment: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with a constraint naming convention (stable Alembic names)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


class Customer(Base):
    """A shop customer; ``external_id`` is what the host website sends."""

    __tablename__ = "customers"
    __table_args__ = (CheckConstraint(_in_check("language", LANGUAGES), name="language"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(40))
    language: Mapped[str] = mapped_column(String(8))
    city: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(index=True)
    points: Mapped[int] = mapped_column(Integer, server_default=text("0"), default=0)
    acquisition_channel: Mapped[str] = mapped_column(String(40))
    acquisition_cost_cents: Mapped[int] = mapped_column(
        Integer, server_default=text("0"), default=0
    )

    orders: Mapped[list[Order]] = relationship(back_populates="customer")
    subscriptions: Mapped[list[Subscription]] = relationship(back_populates="customer")
    refund_requests: Mapped[list[RefundRequest]] = relationship(back_populates="customer")
    conversations: Mapped[list[Conversation]] = relationship(back_populates="customer")

    def __repr__(self) -> str:
        return f"Customer(id={self.id!r}, external_id={self.external_id!r})"


class Product(Base):
    """A catalogue product (``analytics/store/data/catalogue.csv``)."""

    __tablename__ = "products"
    __table_args__ = (CheckConstraint(_in_check("category", CATEGORIES), name="category"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(String(32), unique=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(20), index=True)
    price_cents: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, server_default=true(), default=True)

    def name(self, language: str) -> str:
        """Return the product name in ``language`` (``zh`` or ``en``)."""
        return self.name_zh if language == LANG_ZH else self.name_en

    def __repr__(self) -> str:
        return f"Product(id={self.id!r}, sku={self.sku!r})"


class Order(Base):
    """An order with shipping information."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(_in_check("status", ORDER_STATUSES), name="status"),
        CheckConstraint(_in_check("shipping_status", SHIPPING_STATUSES), name="shipping_status"),
        Index("ix_orders_customer_id_created_at", "customer_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_number: Mapped[str] = mapped_column(String(16), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(16))
    shipping_status: Mapped[str] = mapped_column(String(16))
    carrier: Mapped[str | None] = mapped_column(String(40))
    tracking_number: Mapped[str | None] = mapped_column(String(64))
    shipped_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    estimated_delivery: Mapped[datetime | None]
    total_cents: Mapped[int] = mapped_column(Integer)

    customer: Mapped[Customer] = relationship(back_populates="orders")
    items: Mapped[list[OrderItem]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderItem.id"
    )

    @property
    def is_late(self) -> bool:
        """Whether the order was (or is) later than its estimated delivery."""
        if self.estimated_delivery is None:
            return False
        if self.delivered_at is not None:
            return self.delivered_at > self.estimated_delivery
        return self.shipping_status == SHIP_DELAYED

    def __repr__(self) -> str:
        return f"Order(id={self.id!r}, order_number={self.order_number!r})"


class OrderItem(Base):
    """A line of an order."""

    __tablename__ = "order_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(Integer)

    order: Mapped[Order] = relationship(back_populates="items")
    product: Mapped[Product] = relationship()

    def __repr__(self) -> str:
        return f"OrderItem(id={self.id!r}, order_id={self.order_id!r})"


class Subscription(Base):
    """A monthly box subscription; ``plan`` is the box's product sku."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        CheckConstraint(_in_check("status", SUBSCRIPTION_STATUSES), name="status"),
        Index("ix_subscriptions_customer_id_status", "customer_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    plan: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime]
    paused_until: Mapped[datetime | None]
    canceled_at: Mapped[datetime | None]
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    next_renewal_at: Mapped[datetime | None]
    price_cents: Mapped[int] = mapped_column(Integer)

    customer: Mapped[Customer] = relationship(back_populates="subscriptions")
    events: Mapped[list[SubscriptionEvent]] = relationship(
        back_populates="subscription",
        cascade="all, delete-orphan",
        order_by="SubscriptionEvent.at",
    )

    def __repr__(self) -> str:
        return f"Subscription(id={self.id!r}, plan={self.plan!r}, status={self.status!r})"


class SubscriptionEvent(Base):
    """A lifecycle event of a subscription."""

    __tablename__ = "subscription_events"
    __table_args__ = (CheckConstraint(_in_check("kind", SUBSCRIPTION_EVENT_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(Text)
    #: ``discount``: the price of each renewal from ``at`` until ``ends_at``; ``renew``: the
    #: price charged (None on rows written before migration 0810).
    price_cents: Mapped[int | None] = mapped_column(Integer)
    #: ``discount``: renewals on or after this time pay the subscription's price again.
    ends_at: Mapped[datetime | None]

    subscription: Mapped[Subscription] = relationship(back_populates="events")

    def __repr__(self) -> str:
        return f"SubscriptionEvent(id={self.id!r}, kind={self.kind!r})"


class RefundRequest(Base):
    """A refund request, optionally for one order."""

    __tablename__ = "refund_requests"
    __table_args__ = (CheckConstraint(_in_check("status", REFUND_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("orders.id", ondelete="SET NULL"), index=True
    )
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)
    source: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    #: the conversation the request was made in (its decision is sent there), if any.
    sender_id: Mapped[str | None] = mapped_column(String(255), index=True)
    #: the customer's reply language when they asked (the decision is sent in it).
    language: Mapped[str | None] = mapped_column(String(8))
    decided_at: Mapped[datetime | None]
    #: the console user who approved or refused it.
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decision_note: Mapped[str | None] = mapped_column(Text)
    #: when the decision reached the conversation (None: not sent yet, or Rasa failed).
    notified_at: Mapped[datetime | None]

    customer: Mapped[Customer] = relationship(back_populates="refund_requests")
    order: Mapped[Order | None] = relationship()

    def __repr__(self) -> str:
        return f"RefundRequest(id={self.id!r}, status={self.status!r})"


class Conversation(Base):
    """A chat conversation, keyed by the Rasa sender id."""

    __tablename__ = "conversations"
    __table_args__ = (
        CheckConstraint(_in_check("status", CONVERSATION_STATUSES), name="status"),
        CheckConstraint(_in_check("language", LANGUAGES), name="language"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender_id: Mapped[str] = mapped_column(String(255), unique=True)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    channel: Mapped[str] = mapped_column(String(40))
    language: Mapped[str] = mapped_column(String(8))
    started_at: Mapped[datetime]
    last_message_at: Mapped[datetime] = mapped_column(index=True)
    needs_handoff: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
    handoff_reason: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    rating: Mapped[int | None] = mapped_column(Integer)
    reviewed: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)

    customer: Mapped[Customer | None] = relationship(back_populates="conversations")
    messages: Mapped[list[Message]] = relationship(
        back_populates="conversation",
        cascade="all, delete-orphan",
        order_by="Message.created_at",
    )

    def __repr__(self) -> str:
        return f"Conversation(id={self.id!r}, sender_id={self.sender_id!r})"


class Message(Base):
    """One message of a conversation; ``text`` is stored redacted."""

    __tablename__ = "messages"
    __table_args__ = (
        CheckConstraint(_in_check("role", MESSAGE_ROLES), name="role"),
        Index("ix_messages_conversation_id_created_at", "conversation_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    event_key: Mapped[str] = mapped_column(String(255), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(8))
    intent: Mapped[str | None] = mapped_column(String(100))
    confidence: Mapped[float | None] = mapped_column(Float)
    entities: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    action: Mapped[str | None] = mapped_column(String(100))
    sentiment: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(index=True)

    conversation: Mapped[Conversation] = relationship(back_populates="messages")

    def __repr__(self) -> str:
        return f"Message(id={self.id!r}, role={self.role!r})"


ALL_MODELS: tuple[type[Base], ...] = (
    Customer,
    Product,
    Order,
    OrderItem,
    Subscription,
    SubscriptionEvent,
    RefundRequest,
    Conversation,
    Message,
)
"""Every model, parents before children (insert order)."""
