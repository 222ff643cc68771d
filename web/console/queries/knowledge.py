"""Queries of the knowledge page: which customer questions were answered from which passage.

The rows are written by the bot's ``action_answer_knowledge`` into ``knowledge_answers``
(:class:`analytics.store.models.knowledge.KnowledgeAnswer`, the question already redacted);
a refusal has no passage. One query per list, served by the table's indexes
(``passage_id, created_at`` and ``created_at``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from analytics.store.models import Conversation
from analytics.store.models.knowledge import KnowledgeAnswer

ANSWERS_SHOWN = 50
QUESTION_CHARS_SHOWN = 300


@dataclass(frozen=True, slots=True)
class PassageUse:
    """How often a passage answered a question, and when last."""

    count: int
    last_at: datetime | None


@dataclass(frozen=True, slots=True)
class AnswerRow:
    """One recorded question, the passage that answered it (``None``: refused), the chat."""

    id: int
    created_at: datetime
    question: str
    passage_id: str | None
    mode: str
    score: float
    language: str
    conversation_id: int | None


def passage_use(db: Session) -> dict[str, PassageUse]:
    """Answers per passage id (every passage the log names, also deleted ones)."""
    rows = db.execute(
        select(KnowledgeAnswer.passage_id, func.count(), func.max(KnowledgeAnswer.created_at))
        .where(KnowledgeAnswer.passage_id.is_not(None))
        .group_by(KnowledgeAnswer.passage_id)
    ).all()
    return {pid: PassageUse(int(count), last) for pid, count, last in rows if pid}


def refused_count(db: Session) -> int:
    """How many questions no passage was good enough for."""
    query = select(func.count()).where(KnowledgeAnswer.passage_id.is_(None))
    return int(db.scalar(query.select_from(KnowledgeAnswer)) or 0)


def recent_answers(
    db: Session,
    *,
    passage_id: str | None = None,
    refused: bool = False,
    limit: int = ANSWERS_SHOWN,
) -> list[AnswerRow]:
    """The newest recorded questions, with the conversation each came from.

    Args:
        db: The store.
        passage_id: Only questions answered from this passage.
        refused: Only questions the bot declined (``passage_id`` is then ignored).
        limit: At most this many rows.

    Returns:
        Newest first.
    """
    query = select(KnowledgeAnswer, Conversation.id).outerjoin(
        Conversation, Conversation.sender_id == KnowledgeAnswer.sender_id
    )
    if refused:
        query = query.where(KnowledgeAnswer.passage_id.is_(None))
    elif passage_id is not None:
        query = query.where(KnowledgeAnswer.passage_id == passage_id)
    query = query.order_by(KnowledgeAnswer.created_at.desc(), KnowledgeAnswer.id.desc())
    return [
        AnswerRow(
            id=answer.id,
            created_at=answer.created_at,
            question=answer.question[:QUESTION_CHARS_SHOWN],
            passage_id=answer.passage_id,
            mode=answer.mode,
            score=answer.score,
            language=answer.language,
            conversation_id=conversation_id,
        )
        for answer, conversation_id in db.execute(query.limit(limit)).all()
    ]
