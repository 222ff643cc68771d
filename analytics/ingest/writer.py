"""Writes batches of Rasa events into ``conversations`` and ``messages``, idempotently.

One batch is one database transaction: the conversations are upserted, the new messages
(redacted, with sentiment) inserted with ``ON CONFLICT (event_key) DO NOTHING``, the live
risk of every verified customer who spoke is updated, and the source's checkpoint is moved,
all committed together. A batch that fails is rolled back whole and can be retried; a batch
that is delivered twice stores nothing new.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from actions.identity import verified_customer_id
from analytics import repo
from analytics.ingest import checkpoint
from analytics.ingest.mapping import (
    HANDOFF_ACTION,
    KIND_ACTION,
    KIND_BOT,
    KIND_USER,
    LISTEN_ACTION,
    MappedEvent,
    map_event,
)
from analytics.live_risk import Utterance, update_live_risks
from analytics.models import (
    CHANNEL_WEB,
    CONV_OPEN,
    LANG_ZH,
    LANGUAGES,
    ROLE_BOT,
    ROLE_USER,
    Base,
    Conversation,
    Customer,
    Message,
)
from analytics.privacy import redact, redact_entities
from analytics.sentiment import SentimentScorer, default_scorer

logger = logging.getLogger(__name__)

HANDOFF_REASON = "customer asked for a person"
MAX_CACHED_CUSTOMERS = 50_000


@dataclass
class BatchResult:
    """What one batch did.

    Attributes:
        events: Events read (all kinds).
        messages: New messages stored.
        duplicates: User/bot events whose key was already stored.
        skipped: Events of kinds that are not stored, or malformed events.
        live_risk_updates: Live-risk rows written.
        customers: Internal ids of verified customers who spoke in the batch.
        seconds: Wall time of the batch.
    """

    events: int = 0
    messages: int = 0
    duplicates: int = 0
    skipped: int = 0
    live_risk_updates: int = 0
    customers: set[int] = field(default_factory=set)
    seconds: float = 0.0


def parse_json_event(raw: str | bytes) -> dict[str, Any] | None:
    """Decode one event body, or ``None`` (logged) if it is not a JSON object.

    Args:
        raw: The JSON text.

    Returns:
        The event, or ``None``.
    """
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        logger.warning("Skipping an event that is not JSON: %r", raw[:200])
        return None
    if not isinstance(value, dict):
        logger.warning("Skipping an event that is not an object: %r", raw[:200])
        return None
    return value


class IngestWriter:
    """Maps, redacts, scores and stores batches of Rasa events."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        identity_secret: str | None,
        *,
        scorer: SentimentScorer | None = None,
        live_risk: bool = True,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        """Create a writer.

        Args:
            session_factory: Sessions on the store.
            identity_secret: ``IDENTITY_SECRET`` to verify ``customer_hash``; without it every
                conversation is stored as anonymous.
            scorer: The sentiment scorer (defaults to the shared one).
            live_risk: Update live risk after user messages of verified customers.
            clock: Timer for :attr:`BatchResult.seconds`.
        """
        self._factory = session_factory
        self._secret = identity_secret
        self._scorer = scorer or default_scorer()
        self._live_risk = live_risk
        self._clock = clock
        self._customers: dict[str, int | None] = {}
        self._last_action: dict[str, str] = {}
        self._pending_updates: list[dict[str, Any]] = []
        if not identity_secret:
            logger.warning("IDENTITY_SECRET is not set: every conversation is stored anonymous")

    def _map(self, events: Sequence[dict[str, Any]], result: BatchResult) -> list[MappedEvent]:
        mapped: list[MappedEvent] = []
        for event in events:
            try:
                m = map_event(event)
            except ValueError as exc:
                logger.warning("Skipping a malformed event: %s", exc)
                m = None
            if m is None:
                result.skipped += 1
                continue
            mapped.append(m)
        return mapped

    def _prefetch_customers(
        self, session: Session, metadatas: Sequence[dict[str, Any] | None]
    ) -> None:
        """Look up the verified customers of a batch that are not cached, in one query."""
        wanted = {
            external
            for external in (verified_customer_id(md, self._secret) for md in metadatas)
            if external is not None and self._customers.get(external) is None
        }
        if not wanted:
            return
        if len(self._customers) + len(wanted) > MAX_CACHED_CUSTOMERS:
            self._customers.clear()
        rows = session.execute(
            select(Customer.external_id, Customer.id).where(
                Customer.external_id.in_(sorted(wanted))
            )
        )
        for external, customer_id in rows:
            self._customers[external] = customer_id

    def _customer_id(self, session: Session, metadata: dict[str, Any] | None) -> int | None:
        external = verified_customer_id(metadata, self._secret)
        if external is None:
            return None
        if external in self._customers and self._customers[external] is not None:
            return self._customers[external]
        found = session.scalars(select(Customer.id).where(Customer.external_id == external)).first()
        if len(self._customers) > MAX_CACHED_CUSTOMERS:
            self._customers.clear()
        self._customers[external] = found
        if found is None:
            logger.warning("Verified customer %s is not in the store", external)
        return found

    def write(
        self,
        events: Sequence[dict[str, Any]],
        *,
        source: str | None = None,
        position: int | None = None,
    ) -> BatchResult:
        """Store one batch of events in one transaction.

        Args:
            events: Rasa events (decoded JSON), in the order they were published.
            source: Checkpoint name to advance in the same transaction, if any.
            position: The source position after this batch (``None`` keeps it).

        Returns:
            What was stored.
        """
        started = self._clock()
        result = BatchResult(events=len(events))
        mapped = self._map(events, result)
        with self._factory() as session, session.begin():
            if mapped:
                self._store(session, mapped, result)
            if source is not None:
                checkpoint.advance(
                    session, source, position=position, events=len(events), messages=result.messages
                )
        result.seconds = self._clock() - started
        return result

    def _store(self, session: Session, mapped: list[MappedEvent], result: BatchResult) -> None:
        # Actions: remember the last one per sender (names bot messages), note handoffs.
        rows: list[dict[str, Any]] = []
        handoffs: set[str] = set()
        texts: dict[str, str] = {}
        for m in mapped:
            if m.kind == KIND_ACTION:
                if m.action == HANDOFF_ACTION:
                    handoffs.add(m.sender_id)
                if m.action and m.action != LISTEN_ACTION:
                    self._last_action[m.sender_id] = m.action
                continue
            if m.kind == KIND_BOT:
                m.action = self._last_action.get(m.sender_id) or m.action
            texts[m.event_key] = m.text or ""
        messages = [m for m in mapped if m.kind in (KIND_USER, KIND_BOT)]
        if not messages and not handoffs:
            return
        keys = [m.event_key for m in messages]
        existing: set[str] = set()
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            existing.update(
                session.scalars(select(Message.event_key).where(Message.event_key.in_(chunk)))
            )
        fresh = [m for m in messages if m.event_key not in existing]
        result.duplicates += len(messages) - len(fresh)
        user_fresh = [m for m in fresh if m.kind == KIND_USER]
        sentiments = self._scorer.score_many([redact(m.text or "") for m in user_fresh])
        sentiment_of = {m.event_key: s for m, s in zip(user_fresh, sentiments, strict=True)}

        # Conversations, one upsert per sender (created at its first message).
        by_sender: dict[str, list[MappedEvent]] = {}
        for m in fresh:
            by_sender.setdefault(m.sender_id, []).append(m)
        conversations: dict[str, Conversation] = {}
        speakers: dict[str, int | None] = {}
        wanted = sorted(set(by_sender) | handoffs)
        known: dict[str, Conversation] = {}
        for start in range(0, len(wanted), 500):
            for conv in session.scalars(
                select(Conversation).where(Conversation.sender_id.in_(wanted[start : start + 500]))
            ):
                known[conv.sender_id] = conv
        self._prefetch_customers(session, [m.metadata for m in user_fresh])
        with session.no_autoflush:
            for sender_id, items in by_sender.items():
                customer_id = None
                for m in items:
                    if m.kind == KIND_USER:
                        cid = self._customer_id(session, m.metadata)
                        if cid is not None:
                            customer_id = cid
                speakers[sender_id] = customer_id
            self._create_conversations(session, by_sender, speakers, known)
            self._pending_updates = []
            for sender_id, items in by_sender.items():
                conversations[sender_id] = self._upsert(
                    session, sender_id, items, speakers[sender_id], known.get(sender_id)
                )
            self._flush_conversation_updates(session)
        for sender_id in handoffs:
            if sender_id not in conversations and sender_id in known:
                conversations[sender_id] = known[sender_id]
        for sender_id in handoffs:
            flagged = conversations.get(sender_id)
            if flagged is not None and not flagged.needs_handoff:
                flagged.needs_handoff = True
                flagged.handoff_reason = flagged.handoff_reason or HANDOFF_REASON
                flagged.reviewed = False

        for m in fresh:
            conv = conversations[m.sender_id]
            rows.append(
                {
                    "conversation_id": conv.id,
                    "event_key": m.event_key,
                    "role": ROLE_USER if m.kind == KIND_USER else ROLE_BOT,
                    "text": redact(m.text or ""),
                    "language": m.language,
                    "intent": m.intent,
                    "confidence": m.confidence,
                    "entities": redact_entities(m.entities),
                    "action": m.action if m.kind == KIND_BOT else None,
                    "sentiment": sentiment_of.get(m.event_key),
                    "created_at": m.at,
                }
            )
        if rows:
            result.messages += self._insert(session, rows)
        session.flush()

        if self._live_risk:
            # One update per customer and batch, from their last message (with the intents
            # of their earlier messages in the batch): a live chat has one message per batch.
            said: dict[int, list[MappedEvent]] = {}
            for m in user_fresh:
                customer_id = speakers.get(m.sender_id)
                if customer_id is not None:
                    said.setdefault(customer_id, []).append(m)
            updates: dict[int, Utterance] = {}
            for customer_id, items in said.items():
                last = items[-1]
                scores = [
                    s for s in (sentiment_of.get(m.event_key) for m in items) if s is not None
                ]
                updates[customer_id] = Utterance(
                    intent=last.intent,
                    sentiment=min(scores) if scores else None,
                    at=last.at,
                    sender_id=last.sender_id,
                    event_key=last.event_key,
                    earlier_intents=tuple(m.intent for m in items[:-1] if m.intent),
                )
            update_live_risks(session, updates)
            result.live_risk_updates += len(updates)
            result.customers.update(said)
        else:
            result.customers.update(c for c in speakers.values() if c is not None)

    def _create_conversations(
        self,
        session: Session,
        by_sender: dict[str, list[MappedEvent]],
        speakers: dict[str, int | None],
        known: dict[str, Conversation],
    ) -> None:
        """Insert the batch's new conversations in one statement and add them to ``known``.

        ``ON CONFLICT DO NOTHING`` on ``sender_id`` makes a concurrent creation by another
        worker harmless: the rows are read back either way.
        """
        rows: list[dict[str, Any]] = []
        for sender_id, items in by_sender.items():
            if sender_id in known:
                continue
            customer_id = speakers[sender_id]
            channel = next((m.channel for m in items if m.channel), None) or CHANNEL_WEB
            rows.append(
                {
                    "sender_id": sender_id,
                    "customer_id": customer_id,
                    "channel": channel,
                    "language": self._conversation_language(session, items, None, customer_id),
                    "started_at": items[0].at,
                    "last_message_at": items[-1].at,
                    "needs_handoff": False,
                    "status": CONV_OPEN,
                    "reviewed": False,
                }
            )
        if not rows:
            return
        _insert_ignoring_conflicts(session, Conversation, "sender_id", rows)
        senders = [row["sender_id"] for row in rows]
        for start in range(0, len(senders), 500):
            for conv in session.scalars(
                select(Conversation).where(Conversation.sender_id.in_(senders[start : start + 500]))
            ):
                known[conv.sender_id] = conv

    def _upsert(
        self,
        session: Session,
        sender_id: str,
        items: list[MappedEvent],
        customer_id: int | None,
        existing: Conversation | None,
    ) -> Conversation:
        first, last = items[0], items[-1]
        language = self._conversation_language(session, items, existing, customer_id)
        channel = next((m.channel for m in items if m.channel), None)
        if channel is None:
            channel = existing.channel if existing is not None else CHANNEL_WEB
        if existing is None:
            # New conversation: the repository handles a concurrent creation of the same id.
            conv = repo.upsert_conversation(
                session,
                sender_id,
                customer_id=customer_id,
                channel=channel,
                language=language,
                at=first.at,
            )
            if last.at > conv.last_message_at:
                conv.last_message_at = last.at
            return conv
        # The same updates as repo.upsert_conversation, without re-reading the row; queued
        # for one executemany UPDATE per batch (see _flush_conversation_updates).
        conv = existing
        values = {
            "customer_id": customer_id if customer_id is not None else conv.customer_id,
            "language": language,
            "channel": channel,
            "status": CONV_OPEN,
            "last_message_at": max(last.at, conv.last_message_at),
        }
        if any(getattr(conv, key) != value for key, value in values.items()):
            for key, value in values.items():
                set_committed_value(conv, key, value)
            self._pending_updates.append(
                {"conv_id": conv.id, **{f"v_{key}": value for key, value in values.items()}}
            )
        return conv

    def _flush_conversation_updates(self, session: Session) -> None:
        """Write the queued conversation updates with one executemany statement."""
        if not self._pending_updates:
            return
        table = cast(Table, Conversation.__table__)
        stmt = (
            update(table)
            .where(table.c.id == bindparam("conv_id"))
            .values(
                {key[2:]: bindparam(key) for key in self._pending_updates[0] if key != "conv_id"}
            )
        )
        session.execute(stmt, self._pending_updates)
        self._pending_updates = []

    def _conversation_language(
        self,
        session: Session,
        items: list[MappedEvent],
        existing: Conversation | None,
        customer_id: int | None,
    ) -> str:
        for m in reversed(items):
            if m.kind == KIND_USER and m.language in LANGUAGES:
                return str(m.language)
        if existing is not None:
            return existing.language
        if customer_id is not None:
            customer = session.get(Customer, customer_id)
            if customer is not None and customer.language in LANGUAGES:
                return customer.language
        for m in items:
            if m.kind == KIND_BOT and m.language in LANGUAGES:
                return str(m.language)
        return LANG_ZH

    @staticmethod
    def _insert(session: Session, rows: list[dict[str, Any]]) -> int:
        return _insert_ignoring_conflicts(session, Message, "event_key", rows)


def _insert_ignoring_conflicts(
    session: Session, model: type[Base], key: str, rows: list[dict[str, Any]]
) -> int:
    """Multi-row ``INSERT .. ON CONFLICT (key) DO NOTHING``; returns the rows inserted."""
    table = cast(Table, model.__table__)
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(table).on_conflict_do_nothing(index_elements=[key])
    elif dialect == "sqlite":
        stmt = sqlite.insert(table).on_conflict_do_nothing(index_elements=[key])
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        stmt = insert(table)
    outcome: Any = session.execute(stmt, rows)
    count = getattr(outcome, "rowcount", None)
    return int(count) if isinstance(count, int) and count >= 0 else len(rows)
