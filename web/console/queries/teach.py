"""Queries of the teach page: the founder's latest intent corrections."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.store.models import Message
from analytics.store.models.console import IntentCorrection

RECENT_CORRECTIONS = 50


def recent_corrections(db: Session, limit: int = RECENT_CORRECTIONS) -> list[Any]:
    """The newest corrections as ``(correction, message text, conversation id)`` rows."""
    return list(
        db.execute(
            select(IntentCorrection, Message.text, Message.conversation_id)
            .join(Message, Message.id == IntentCorrection.message_id)
            .order_by(IntentCorrection.created_at.desc())
            .limit(limit)
        ).all()
    )
