"""Queries of the take-over: the active take-over, starting and ending it, what was said."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.core.language import detect_language
from analytics.store.models import CONV_OPEN, ROLE_FOUNDER, Conversation, Message
from analytics.store.models.console import Takeover, utcnow

EVENT_KEY_PREFIX = "console"


def active_takeover(db: Session, conversation_id: int) -> Takeover | None:
    """The conversation's active take-over, if the founder has taken it over."""
    return db.scalar(
        select(Takeover).where(
            Takeover.conversation_id == conversation_id, Takeover.active.is_(True)
        )
    )


def start_takeover(db: Session, conversation: Conversation, author: str) -> None:
    """Records that the founder answers now (idempotent); clears the hand-off request."""
    if active_takeover(db, conversation.id) is None:
        db.add(Takeover(conversation_id=conversation.id, author=author, active=True))
    conversation.needs_handoff = False
    conversation.status = CONV_OPEN
    db.commit()


def end_takeover(db: Session, conversation_id: int) -> None:
    """Records that the bot answers again."""
    takeover = active_takeover(db, conversation_id)
    if takeover is not None:
        takeover.active = False
        takeover.ended_at = utcnow()
    db.commit()


def record_founder_message(db: Session, conversation: Conversation, text: str) -> Message:
    """Stores a message the founder sent to the customer.

    Its language is :func:`analytics.core.language.detect_language` of the text.
    """
    now = utcnow()
    message = Message(
        conversation_id=conversation.id,
        event_key=f"{EVENT_KEY_PREFIX}:{conversation.sender_id}:{now.timestamp():.6f}",
        role=ROLE_FOUNDER,
        text=text,
        language=detect_language(text),
        created_at=now,
    )
    db.add(message)
    conversation.last_message_at = now
    db.commit()
    return message
