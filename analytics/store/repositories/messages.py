"""Messages: stored once per ``event_key``, one at a time or a batch at a time.

A message moves its conversation's ``last_message_at`` forward through
:func:`~analytics.store.repositories.conversations.note_message` (the conversation rows have
one writer). Texts arrive already redacted. The caller owns the session and the commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypedDict, cast

from sqlalchemy import Table, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from analytics.store.models import MESSAGE_ROLES, Conversation, Message
from analytics.store.repositories._bulk import insert_ignoring_conflicts
from analytics.store.repositories._checks import require_aware
from analytics.store.repositories.conversations import note_message


class MessageRow(TypedDict):
    """One message of a batch, as :func:`insert_messages` writes it (text redacted)."""

    conversation_id: int
    customer_id: int | None
    event_key: str
    role: str
    text: str
    language: str | None
    intent: str | None
    confidence: float | None
    entities: list[dict[str, Any]] | None
    action: str | None
    sentiment: float | None
    created_at: datetime


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
    require_aware(at, "at")
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
    note_message(conversation, at)
    return message


def insert_messages(session: Session, rows: Sequence[MessageRow]) -> int:
    """Insert messages, skipping event keys already stored (``ON CONFLICT DO NOTHING``).

    Args:
        session: The database session.
        rows: The messages (their conversations exist).

    Returns:
        How many were inserted.
    """
    if not rows:
        return 0
    return insert_ignoring_conflicts(session, cast(Table, Message.__table__), "event_key", rows)
