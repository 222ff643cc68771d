"""Queries of one conversation: what its page shows, and what the founder records on it.

The founder records tags, the review mark, the status, notes and intent corrections; the
review mark and the status go through the store's one conversation writer
(:mod:`analytics.store.repositories.conversations`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from analytics.store import repositories as repo
from analytics.store.models import ROLE_USER, Conversation, Message
from analytics.store.models.console import (
    ConversationTag,
    IntentCorrection,
    Note,
    Takeover,
    utcnow,
)
from web.console.queries.customer import customer_panel

MESSAGES_PER_POLL = 200


def conversation_detail(db: Session, conversation_id: int) -> dict[str, Any] | None:
    """Everything the conversation page shows, or ``None`` when it does not exist."""
    conversation = db.get(Conversation, conversation_id)
    if conversation is None:
        return None
    messages = list(
        db.scalars(
            select(Message)
            .where(Message.conversation_id == conversation_id)
            .order_by(Message.created_at, Message.id)
        )
    )
    corrections = {
        c.message_id: c
        for c in db.scalars(
            select(IntentCorrection).where(
                IntentCorrection.message_id.in_([m.id for m in messages])
            )
        )
    }
    tags = list(
        db.scalars(
            select(ConversationTag.tag)
            .where(ConversationTag.conversation_id == conversation_id)
            .order_by(ConversationTag.tag)
        )
    )
    notes = list(
        db.scalars(
            select(Note).where(Note.conversation_id == conversation_id).order_by(Note.created_at)
        )
    )
    takeover = db.scalar(
        select(Takeover)
        .where(Takeover.conversation_id == conversation_id, Takeover.active.is_(True))
        .limit(1)
    )
    panel = customer_panel(db, conversation.customer_id) if conversation.customer_id else None
    return {
        "conversation": conversation,
        "messages": messages,
        "corrections": corrections,
        "tags": tags,
        "notes": notes,
        "takeover": takeover,
        "panel": panel,
    }


def messages_after(db: Session, conversation_id: int, after: int) -> list[Message]:
    """Messages of the conversation with an id above ``after``, in order (at most 200)."""
    return list(
        db.scalars(
            select(Message)
            .where(Message.conversation_id == conversation_id, Message.id > after)
            .order_by(Message.created_at, Message.id)
            .limit(MESSAGES_PER_POLL)
        )
    )


def story_turns(detail: dict[str, Any]) -> list[dict[str, Any]]:
    """The turns of a conversation for a test story (user turns with corrected intents)."""
    turns = []
    for m in detail["messages"]:
        correction = detail["corrections"].get(m.id)
        turns.append(
            {
                "role": m.role,
                "text": m.text,
                "intent": correction.intent if correction else m.intent,
                "action": m.action,
            }
        )
    return turns


def user_message(db: Session, message_id: int) -> Message | None:
    """A user message by id (``None`` for other roles)."""
    message = db.get(Message, message_id)
    if message is None or message.role != ROLE_USER:
        return None
    return message


# --- what the founder records ------------------------------------------------------------


def add_tag(db: Session, conversation_id: int, tag: str) -> None:
    """Adds a tag (idempotent: an existing tag is left as it is)."""
    db.add(ConversationTag(conversation_id=conversation_id, tag=tag))
    try:
        db.commit()
    except IntegrityError:
        db.rollback()


def remove_tag(db: Session, conversation_id: int, tag: str) -> None:
    """Removes a tag."""
    db.execute(
        delete(ConversationTag).where(
            ConversationTag.conversation_id == conversation_id, ConversationTag.tag == tag
        )
    )
    db.commit()


def set_reviewed(db: Session, conversation: Conversation, reviewed: bool) -> None:
    """Marks the conversation reviewed (or not)."""
    repo.set_reviewed(db, conversation, reviewed)
    db.commit()


def set_status(db: Session, conversation: Conversation, status: str) -> None:
    """Resolves (or reopens) the conversation; resolving clears the hand-off request.

    Raises:
        ValueError: If the status is neither ``open`` nor ``resolved`` (nothing is written).
    """
    repo.set_status(db, conversation, status)
    db.commit()


def add_note(db: Session, conversation: Conversation, author: str, text: str) -> None:
    """Adds a note to the conversation (shown on the customer's page too)."""
    db.add(
        Note(
            conversation_id=conversation.id,
            customer_id=conversation.customer_id,
            author=author,
            text=text,
        )
    )
    db.commit()


@dataclass(frozen=True)
class CorrectionRecord:
    """Where a correction was written, as stored with it."""

    intent: str
    language: str
    written_to: str
    author: str


def record_correction(db: Session, message: Message, record: CorrectionRecord) -> None:
    """Stores (or updates) the founder's correction of a message's intent."""
    correction = db.scalar(
        select(IntentCorrection).where(IntentCorrection.message_id == message.id)
    )
    if correction is None:
        correction = IntentCorrection(message_id=message.id, predicted_intent=message.intent)
        db.add(correction)
    correction.intent = record.intent
    correction.language = record.language
    correction.written_to = record.written_to
    correction.author = record.author
    correction.created_at = utcnow()
    db.commit()
