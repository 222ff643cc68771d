"""Queries of the take-over: the active take-over, starting and ending it, what was said.

The conversation row itself is written only by the store's one conversation writer
(:mod:`analytics.store.repositories.conversations`).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.core.language import detect_language
from analytics.store import repositories as repo
from analytics.store.models import ROLE_FOUNDER, Conversation, Message
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
    repo.take_over(db, conversation)
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

    Its language is :func:`analytics.core.language.detect_language` of the text; storing it
    moves the conversation's ``last_message_at`` forward (:func:`analytics.store.repositories.add_message`).
    """
    now = utcnow()
    message = repo.add_message(
        db,
        conversation,
        event_key=f"{EVENT_KEY_PREFIX}:{conversation.sender_id}:{now.timestamp():.6f}",
        role=ROLE_FOUNDER,
        text=text,
        at=now,
        language=detect_language(text),
    )
    db.commit()
    return message
