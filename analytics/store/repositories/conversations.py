"""Data functions called by the bot's action server.

Every function takes a :class:`~sqlalchemy.orm.Session` first. The caller owns the
session lifecycle and the commit; functions that write only ``flush`` so that ids are
assigned and constraint errors surface early. Queries use ``select()`` only.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from analytics.core.vocabulary import LANG_ZH, LANGUAGES
from analytics.store.models import (
    CATEGORY_SUBSCRIPTION,
    CHANNEL_WEB,
    CONV_OPEN,
    EVENT_CANCEL,
    EVENT_PAUSE,
    EVENT_RESUME,
    MESSAGE_ROLES,
    ORDER_CANCELLED,
    ORDER_REFUNDED,
    REFUND_OPEN,
    SOURCE_CHAT,
    SUB_ACTIVE,
    SUB_CANCELED,
    SUB_PAUSED,
    Conversation,
    Customer,
    Message,
    Order,
    OrderItem,
    Product,
    RefundRequest,
    Subscription,
    SubscriptionEvent,
)

logger = logging.getLogger(__name__)

BEST_SELLER_WINDOW = timedelta(days=90)
MAX_PAUSE = timedelta(days=180)
RENEWAL_PERIOD = timedelta(days=30)
ORDER_NUMBER_RE = re.compile(r"^LB\d{6}$")
_ORDER_NUMBER_STRIP_RE = re.compile(r"[\s#\-]")


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {value!r}")
    return value


def normalize_order_number(order_number: str) -> str:
    """Normalise a user-typed order number: strip spaces, ``#`` and dashes, upper-case.

    Args:
        order_number: The order number as typed, e.g. ``" lb-100234 "``.

    Returns:
        The canonical form, e.g. ``"LB100234"``.
    """
    return _ORDER_NUMBER_STRIP_RE.sub("", order_number).upper()


def get_customer(session: Session, external_id: str) -> Customer | None:
    """Look up a customer by the external id the host website sends.

    Args:
        session: The database session.
        external_id: The external id, e.g. ``"cus_0001"``.

    Returns:
        The customer, or ``None`` if unknown.
    """
    if not external_id:
        return None
    return session.scalars(select(Customer).where(Customer.external_id == external_id)).first()


def _order_with_items() -> Any:
    return selectinload(Order.items).selectinload(OrderItem.product)


def latest_order(session: Session, customer_id: int) -> Order | None:
    """Return the customer's most recent order, with items and products loaded.

    Args:
        session: The database session.
        customer_id: The customer's primary key.

    Returns:
        The newest order by ``created_at``, or ``None`` if the customer has none.
    """
    stmt = (
        select(Order)
        .where(Order.customer_id == customer_id)
        .order_by(Order.created_at.desc(), Order.id.desc())
        .limit(1)
        .options(_order_with_items())
    )
    return session.scalars(stmt).first()


def get_order(session: Session, customer_id: int, order_number: str) -> Order | None:
    """Return one of the customer's own orders by its number.

    The number is matched case-insensitively (spaces, ``#`` and dashes ignored). Another
    customer's order is never returned.

    Args:
        session: The database session.
        customer_id: The customer's primary key.
        order_number: The order number, e.g. ``"lb100234"``.

    Returns:
        The order with items and products loaded, or ``None``.
    """
    number = normalize_order_number(order_number or "")
    if not number:
        return None
    stmt = (
        select(Order)
        .where(Order.customer_id == customer_id, func.upper(Order.order_number) == number)
        .options(_order_with_items())
    )
    return session.scalars(stmt).first()


def current_subscription(session: Session, customer_id: int) -> Subscription | None:
    """Return the customer's newest active or paused subscription.

    Args:
        session: The database session.
        customer_id: The customer's primary key.

    Returns:
        The subscription, or ``None`` if there is no active or paused one.
    """
    stmt = (
        select(Subscription)
        .where(
            Subscription.customer_id == customer_id,
            Subscription.status.in_((SUB_ACTIVE, SUB_PAUSED)),
        )
        .order_by(Subscription.started_at.desc(), Subscription.id.desc())
        .limit(1)
    )
    return session.scalars(stmt).first()


def _add_event(
    session: Session, subscription: Subscription, kind: str, at: datetime, note: str | None
) -> SubscriptionEvent:
    event = SubscriptionEvent(subscription_id=subscription.id, kind=kind, at=at, note=note)
    session.add(event)
    return event


def cancel_subscription(
    session: Session, subscription: Subscription, *, reason: str | None, at: datetime
) -> Subscription:
    """Cancel a subscription and record a ``cancel`` event.

    Args:
        session: The database session.
        subscription: An active or paused subscription.
        reason: The customer's reason, if given.
        at: When the cancellation happened (timezone-aware).

    Returns:
        The updated subscription.

    Raises:
        ValueError: If the subscription is already canceled or ``at`` is naive.
    """
    _aware(at, "at")
    if subscription.status == SUB_CANCELED:
        raise ValueError(f"subscription {subscription.id} is already canceled")
    reason = (reason or "").strip() or None
    subscription.status = SUB_CANCELED
    subscription.canceled_at = at
    subscription.cancel_reason = reason
    subscription.paused_until = None
    subscription.next_renewal_at = None
    _add_event(session, subscription, EVENT_CANCEL, at, reason)
    session.flush()
    logger.info("Canceled subscription %s", subscription.id)
    return subscription


def pause_subscription(
    session: Session, subscription: Subscription, *, until: datetime, at: datetime
) -> Subscription:
    """Pause a subscription until a date (extending an existing pause is allowed).

    Args:
        session: The database session.
        subscription: An active or paused subscription.
        until: When deliveries resume (timezone-aware, after ``at``, at most 180 days).
        at: When the pause was requested (timezone-aware).

    Returns:
        The updated subscription; ``next_renewal_at`` moves to ``until``.

    Raises:
        ValueError: If the subscription is canceled, or ``until`` is not in the
            allowed window, or a datetime is naive.
    """
    _aware(at, "at")
    _aware(until, "until")
    if subscription.status == SUB_CANCELED:
        raise ValueError(f"subscription {subscription.id} is canceled and cannot be paused")
    if until <= at:
        raise ValueError(f"pause end {until.isoformat()} must be after {at.isoformat()}")
    if until - at > MAX_PAUSE:
        raise ValueError(f"a pause can last at most {MAX_PAUSE.days} days")
    subscription.status = SUB_PAUSED
    subscription.paused_until = until
    subscription.next_renewal_at = until
    _add_event(session, subscription, EVENT_PAUSE, at, f"until {until.date().isoformat()}")
    session.flush()
    logger.info("Paused subscription %s until %s", subscription.id, until.isoformat())
    return subscription


def resume_subscription(
    session: Session, subscription: Subscription, *, at: datetime
) -> Subscription:
    """Resume a paused subscription now.

    Args:
        session: The database session.
        subscription: A paused subscription.
        at: When it was resumed (timezone-aware).

    Returns:
        The updated subscription, active with the next renewal one period after ``at``.

    Raises:
        ValueError: If the subscription is not paused or ``at`` is naive.
    """
    _aware(at, "at")
    if subscription.status != SUB_PAUSED:
        raise ValueError(f"subscription {subscription.id} is {subscription.status}, not paused")
    subscription.status = SUB_ACTIVE
    subscription.paused_until = None
    subscription.next_renewal_at = at + RENEWAL_PERIOD
    _add_event(session, subscription, EVENT_RESUME, at, None)
    session.flush()
    return subscription


def create_refund_request(
    session: Session,
    customer_id: int,
    *,
    order_id: int | None,
    reason: str,
    source: str = SOURCE_CHAT,
    at: datetime,
) -> RefundRequest:
    """Create a refund request, or return the open one that already exists.

    Idempotent: if the customer already has an open request for the same order (or an
    open request without an order, when ``order_id`` is ``None``), that one is returned.

    Args:
        session: The database session.
        customer_id: The customer's primary key.
        order_id: The order the refund is for (must belong to the customer), or ``None``.
        reason: Why the customer wants a refund (non-empty).
        source: Where the request came from (``chat``, ``email``, ...).
        at: When it was requested (timezone-aware).

    Returns:
        The new or existing open refund request.

    Raises:
        ValueError: If the customer or order is unknown, the order belongs to another
            customer, the reason is empty, or ``at`` is naive.
    """
    _aware(at, "at")
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("a refund request needs a reason")
    if session.get(Customer, customer_id) is None:
        raise ValueError(f"unknown customer {customer_id}")
    if order_id is not None:
        order = session.get(Order, order_id)
        if order is None or order.customer_id != customer_id:
            raise ValueError(f"order {order_id} does not belong to customer {customer_id}")
    order_clause = (
        RefundRequest.order_id.is_(None) if order_id is None else RefundRequest.order_id == order_id
    )
    existing = session.scalars(
        select(RefundRequest)
        .where(
            RefundRequest.customer_id == customer_id,
            order_clause,
            RefundRequest.status == REFUND_OPEN,
        )
        .order_by(RefundRequest.created_at, RefundRequest.id)
        .limit(1)
    ).first()
    if existing is not None:
        return existing
    request = RefundRequest(
        customer_id=customer_id,
        order_id=order_id,
        reason=reason,
        status=REFUND_OPEN,
        source=source,
        created_at=at,
    )
    session.add(request)
    session.flush()
    logger.info("Refund request %s for customer %s", request.id, customer_id)
    return request


def best_sellers(
    session: Session,
    *,
    exclude_customer_id: int | None,
    limit: int = 3,
    since: datetime | None = None,
) -> list[Product]:
    """Return the top-selling active products by units sold.

    Subscription boxes are never returned, nor products the excluded customer already
    bought. Cancelled and refunded orders do not count. If the window yields fewer than
    ``limit`` products, the list is topped up from all-time sales.

    Args:
        session: The database session.
        exclude_customer_id: A customer whose purchased products are left out.
        limit: How many products to return.
        since: Start of the sales window; defaults to 90 days before now.

    Returns:
        Up to ``limit`` products, best first.
    """
    if limit <= 0:
        return []
    if since is None:
        since = datetime.now(UTC) - BEST_SELLER_WINDOW
    bought = (
        select(OrderItem.product_id)
        .join(Order, Order.id == OrderItem.order_id)
        .where(Order.customer_id == exclude_customer_id)
    )

    def top(window_start: datetime | None, skip: list[int]) -> list[Product]:
        units = func.sum(OrderItem.quantity).label("units")
        stmt = (
            select(Product, units)
            .join(OrderItem, OrderItem.product_id == Product.id)
            .join(Order, Order.id == OrderItem.order_id)
            .where(
                Product.active.is_(True),
                Product.category != CATEGORY_SUBSCRIPTION,
                Order.status.not_in((ORDER_CANCELLED, ORDER_REFUNDED)),
            )
            .group_by(Product.id)
            .order_by(units.desc(), Product.id)
            .limit(limit - len(skip) if window_start is None else limit)
        )
        if window_start is not None:
            stmt = stmt.where(Order.created_at >= window_start)
        if exclude_customer_id is not None:
            stmt = stmt.where(Product.id.not_in(bought))
        if skip:
            stmt = stmt.where(Product.id.not_in(skip))
        return [row[0] for row in session.execute(stmt)]

    products = top(since, [])
    if len(products) < limit:
        products += top(None, [p.id for p in products])
    return products


def upsert_conversation(
    session: Session,
    sender_id: str,
    *,
    customer_id: int | None,
    channel: str,
    language: str,
    at: datetime,
) -> Conversation:
    """Create the conversation for a Rasa sender id, or update its last activity.

    An existing conversation gets ``last_message_at`` moved forward, its language and
    channel updated, the customer set when known, and is re-opened if it was resolved.
    Concurrent creation of the same sender id is handled (the loser re-reads).

    Args:
        session: The database session.
        sender_id: The Rasa sender id.
        customer_id: The verified customer's primary key, or ``None`` if anonymous.
        channel: The channel name, e.g. ``"web"``.
        language: ``"zh"`` or ``"en"``.
        at: Time of the current message (timezone-aware).

    Returns:
        The conversation.

    Raises:
        ValueError: If ``sender_id`` is empty, the language is unknown or ``at`` is naive.
    """
    _aware(at, "at")
    if not sender_id:
        raise ValueError("sender_id must not be empty")
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, got {language!r}")
    conversation = _find_conversation(session, sender_id)
    if conversation is None:
        conversation = Conversation(
            sender_id=sender_id,
            customer_id=customer_id,
            channel=channel,
            language=language,
            started_at=at,
            last_message_at=at,
            needs_handoff=False,
            status=CONV_OPEN,
            reviewed=False,
        )
        try:
            with session.begin_nested():
                session.add(conversation)
        except IntegrityError:
            logger.info("Conversation %s was created concurrently; re-reading", sender_id)
            conversation = _find_conversation(session, sender_id)
            if conversation is None:
                raise
        else:
            return conversation
    if at > conversation.last_message_at:
        conversation.last_message_at = at
    if customer_id is not None:
        conversation.customer_id = customer_id
    conversation.language = language
    conversation.channel = channel
    conversation.status = CONV_OPEN
    session.flush()
    return conversation


def _find_conversation(session: Session, sender_id: str) -> Conversation | None:
    return session.scalars(select(Conversation).where(Conversation.sender_id == sender_id)).first()


def mark_handoff(
    session: Session,
    sender_id: str,
    *,
    customer_id: int | None,
    reason: str,
    at: datetime,
    channel: str = CHANNEL_WEB,
    language: str | None = None,
) -> Conversation:
    """Flag a conversation for the founder (human handoff), creating it if needed.

    Args:
        session: The database session.
        sender_id: The Rasa sender id.
        customer_id: The verified customer's primary key, or ``None``.
        reason: Why a human is needed (e.g. ``"complaint"``, ``"vip_at_risk"``).
        at: When the handoff was requested (timezone-aware).
        channel: Channel used if the conversation has to be created.
        language: Language used if the conversation has to be created; defaults to the
            customer's language, else Chinese.

    Returns:
        The conversation with ``needs_handoff`` set and status ``open``.

    Raises:
        ValueError: If the reason is empty or a datetime is naive.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("a handoff needs a reason")
    conversation = _find_conversation(session, sender_id)
    if conversation is None:
        if language is None:
            customer = session.get(Customer, customer_id) if customer_id is not None else None
            language = customer.language if customer is not None else LANG_ZH
        conversation = upsert_conversation(
            session, sender_id, customer_id=customer_id, channel=channel, language=language, at=at
        )
    else:
        _aware(at, "at")
        if customer_id is not None:
            conversation.customer_id = customer_id
        if at > conversation.last_message_at:
            conversation.last_message_at = at
    conversation.needs_handoff = True
    conversation.handoff_reason = reason
    conversation.status = CONV_OPEN
    conversation.reviewed = False
    session.flush()
    logger.info("Handoff requested for conversation %s: %s", sender_id, reason)
    return conversation


def add_message(
    session: Session,
    conversation: Conversation,
    *,
    event_key: str,
    role: str,
    text: str,
    at: datetime,
    language: str | None = None,
    intent: str | None = None,
    confidence: float | None = None,
    entities: list[dict[str, Any]] | None = None,
    action: str | None = None,
    sentiment: float | None = None,
) -> Message:
    """Store one (already redacted) message, idempotently by ``event_key``.

    Args:
        session: The database session.
        conversation: The conversation the message belongs to.
        event_key: Unique idempotency key (e.g. sender id + event timestamp).
        role: ``user``, ``bot`` or ``founder``.
        text: The redacted text.
        at: When the message was sent (timezone-aware).
        language: The message language, if known.
        intent: The predicted intent of a user message.
        confidence: The intent confidence.
        entities: Extracted entities.
        action: The bot action that produced a bot message.
        sentiment: Sentiment score in [-1, 1], if computed.

    Returns:
        The stored message (the existing one if ``event_key`` was seen before).

    Raises:
        ValueError: If the role is unknown or ``at`` is naive.
    """
    _aware(at, "at")
    if role not in MESSAGE_ROLES:
        raise ValueError(f"role must be one of {MESSAGE_ROLES}, got {role!r}")
    existing = session.scalars(select(Message).where(Message.event_key == event_key)).first()
    if existing is not None:
        return existing
    message = Message(
        conversation_id=conversation.id,
        event_key=event_key,
        role=role,
        text=text,
        language=language,
        intent=intent,
        confidence=confidence,
        entities=entities,
        action=action,
        sentiment=sentiment,
        created_at=at,
    )
    try:
        with session.begin_nested():
            session.add(message)
    except IntegrityError:
        found = session.scalars(select(Message).where(Message.event_key == event_key)).first()
        if found is None:
            raise
        return found
    if at > conversation.last_message_at:
        conversation.last_message_at = at
    return message
