"""Which knowledge passage answered which question (``knowledge_answers``).

Written by the action ``action_answer_knowledge`` (:mod:`actions.knowledge`) once per
question it answered from the founder's FAQ or declined; read by the console's knowledge
page. ``question`` is stored redacted (:func:`analytics.loop.privacy.redact`), never raw.
A refusal has ``passage_id`` None (``score`` is then the best passage's confidence, which
was not good enough).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from analytics.store.models.shop import Base, UTCDateTime

#: the passage text was in the reply language.
MODE_DIRECT = "direct"
#: the passage had only the other language's text, quoted with a note.
MODE_QUOTED = "quoted"
#: no passage was good enough: the bot said it does not know and offered the founder.
MODE_REFUSED = "refused"
ANSWER_MODES = (MODE_DIRECT, MODE_QUOTED, MODE_REFUSED)
MAX_QUESTION_CHARS = 2000
"""The stored (redacted) question is cut to this many characters."""


class KnowledgeAnswer(Base):
    """One question the bot answered from a knowledge passage, or declined to answer."""

    __tablename__ = "knowledge_answers"
    __table_args__ = (
        CheckConstraint("mode IN ('direct', 'quoted', 'refused')", name="mode"),
        CheckConstraint("language IN ('zh', 'en')", name="language"),
        Index("ix_knowledge_answers_passage_id_created_at", "passage_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender_id: Mapped[str] = mapped_column(String(255), index=True)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    question: Mapped[str] = mapped_column(Text)
    passage_id: Mapped[str | None] = mapped_column(String(200))
    score: Mapped[float] = mapped_column(Float)
    language: Mapped[str] = mapped_column(String(8))
    mode: Mapped[str] = mapped_column(String(16))
    intent: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)

    def __repr__(self) -> str:
        return f"KnowledgeAnswer(id={self.id!r}, passage_id={self.passage_id!r})"
