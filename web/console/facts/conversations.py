"""Conversation facts: one summary per conversation, its intents and its search text.

The tables are ``console_conversation_facts``, ``console_conversation_intents`` and the
search index.

Per conversation: whether the bot fell back, the lowest NLU confidence, the average
sentiment, a preview, the searchable text (also put into the full-text index,
:mod:`web.console.facts.search`), the message count and the id of the last message
summarised; and one ``(intent, conversation)`` pair per intent for the intent filter. The
inbox's sort key is computed afterwards (:mod:`web.console.facts.sort_key`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, insert, select, text
from sqlalchemy.orm import Session

from analytics.store.models import ROLE_USER, Message
from analytics.store.models.console import ConversationFacts, ConversationIntent
from web.console.facts.common import BATCH, chunks, is_sqlite
from web.console.facts.search import FTS_TABLE, SEARCH_PAD
from web.console.facts.sort_key import update_risk

FALLBACK_INTENT = "nlu_fallback"
FALLBACK_ACTIONS = frozenset({"utter_fallback", "action_default_fallback", "utter_default"})
SEARCH_TEXT_MAX = 4000
PREVIEW_MAX = 200
INTENTS_MAX = 1000
"""Characters of the space-separated intent list (`` intent intent ``)."""


@dataclass
class _Acc:
    """One conversation's summary, built message by message."""

    intents: list[str] = field(default_factory=list)
    fallback: bool = False
    count: int = 0
    min_conf: float | None = None
    sentiments: list[float] = field(default_factory=list)
    preview: str = ""
    texts: list[str] = field(default_factory=list)
    size: int = 0
    last_id: int = 0

    def add(self, row: Any) -> None:
        mid, role, body, intent, confidence, sentiment, action = row
        self.count += 1
        self.last_id = max(self.last_id, int(mid))
        if role == ROLE_USER:
            if intent and intent not in self.intents:
                self.intents.append(intent)
            if intent == FALLBACK_INTENT:
                self.fallback = True
            if confidence is not None:
                self.min_conf = (
                    confidence if self.min_conf is None else min(self.min_conf, confidence)
                )
            if sentiment is not None:
                self.sentiments.append(float(sentiment))
            if not self.preview and body:
                self.preview = body[:PREVIEW_MAX]
        if action in FALLBACK_ACTIONS:
            self.fallback = True
        if body and self.size < SEARCH_TEXT_MAX:
            self.texts.append(body)
            self.size += len(body) + 1

    def row(self, conversation_id: int) -> dict[str, Any]:
        return {
            "conversation_id": conversation_id,
            "intents": (" " + " ".join(self.intents) + " ")[:INTENTS_MAX] if self.intents else "",
            "had_fallback": self.fallback,
            "message_count": self.count,
            "min_confidence": self.min_conf,
            "avg_sentiment": (sum(self.sentiments) / len(self.sentiments))
            if self.sentiments
            else None,
            "preview": self.preview,
            "search_text": "\n".join(self.texts)[:SEARCH_TEXT_MAX].lower(),
            "risk_base_cents": 0,
            "risk_cents": 0,
            "last_message_id": self.last_id,
        }


_MESSAGE_COLUMNS = (
    Message.id,
    Message.role,
    Message.text,
    Message.intent,
    Message.confidence,
    Message.sentiment,
    Message.action,
)


def _aggregate(db: Session, conversation_ids: Iterable[int]) -> dict[int, _Acc]:
    accs: dict[int, _Acc] = {}
    for chunk in chunks(sorted(conversation_ids), 500):
        query = (
            select(Message.conversation_id, *_MESSAGE_COLUMNS)
            .where(Message.conversation_id.in_(chunk))
            .order_by(Message.conversation_id, Message.created_at, Message.id)
        )
        for row in db.execute(query):
            accs.setdefault(row[0], _Acc()).add(row[1:])
    return accs


def write_facts(db: Session, conversation_ids: Sequence[int]) -> int:
    """(Re)summarises some conversations: facts row, intents, search index, sort key.

    Args:
        db: A session on the store (not committed here).
        conversation_ids: The conversations.

    Returns:
        How many conversations (with messages) were summarised.
    """
    ids = sorted(set(conversation_ids))
    accs = _aggregate(db, ids)
    rows = [acc.row(cid) for cid, acc in accs.items()]
    sqlite = is_sqlite(db)
    for chunk in chunks(ids, 500):
        db.execute(delete(ConversationFacts).where(ConversationFacts.conversation_id.in_(chunk)))
        db.execute(delete(ConversationIntent).where(ConversationIntent.conversation_id.in_(chunk)))
        if sqlite:
            db.execute(
                text(f"DELETE FROM {FTS_TABLE} WHERE rowid IN ({','.join(map(str, chunk))})")
            )
    for chunk in chunks(rows, BATCH):
        db.execute(insert(ConversationFacts), list(chunk))
        pairs = [
            {"intent": intent, "conversation_id": r["conversation_id"]}
            for r in chunk
            for intent in r["intents"].split()
        ]
        if pairs:
            db.execute(insert(ConversationIntent), pairs)
        if sqlite:
            db.execute(
                text(f"INSERT INTO {FTS_TABLE}(rowid, body) VALUES (:conversation_id, :body)"),
                [
                    {"conversation_id": r["conversation_id"], "body": r["search_text"] + SEARCH_PAD}
                    for r in chunk
                ],
            )
    update_risk(db, conversation_ids=[r["conversation_id"] for r in rows])
    return len(rows)


def wipe(db: Session) -> None:
    """Deletes every conversation summary (before a rebuild; not committed here)."""
    db.execute(delete(ConversationIntent))
    db.execute(delete(ConversationFacts))
    if is_sqlite(db):
        db.execute(text(f"DELETE FROM {FTS_TABLE}"))
