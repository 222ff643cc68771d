"""Storing mapped events: conversations, messages (redacted, scored) and live risk.

:class:`MessageStore` writes a list of mapped events in the caller's transaction; the
writer (:mod:`analytics.loop.ingest.writer`) decides the transaction and what happens when a
list fails. Attribution:

* a user message's customer (``messages.customer_id``) is the customer the door verified
  on that very message (``metadata.verified_customer_id``), if it is in the store;
* a bot message inherits the customer of the user message it answers (the sender's latest
  user message), if any;
* a conversation's ``customer_id`` is set once, from ``None`` to the first verified
  customer who speaks in it, and never moved to a later speaker;
* live risk is updated for each message's own customer;
* a user message's photo (``metadata.upload_id``) is recorded in ``attachments`` when its
  upload under ``UPLOAD_DIR`` belongs to the same conversation
  (:mod:`analytics.loop.ingest.attachments`).
* founder alerts (:mod:`analytics.loop.alerts.rules`) are filed after the live-risk update,
  in the same transaction, when ``ALERT_CHANNELS`` is set.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import cast

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from analytics.brain.sentiment import SentimentScorer
from analytics.core.settings import get_settings
from analytics.core.vocabulary import LANGUAGES
from analytics.loop.alerts.rules import AlertRules
from analytics.loop.ingest.attachments import CarriedUpload, record_attachments
from analytics.loop.ingest.mapping import (
    HANDOFF_ACTION,
    KIND_ACTION,
    KIND_BOT,
    KIND_USER,
    LISTEN_ACTION,
    MappedEvent,
)
from analytics.loop.live_risk import Utterance, update_live_risks
from analytics.loop.privacy import redact, redact_entities
from analytics.store.models import ROLE_BOT, ROLE_USER, Conversation, Customer, Message
from analytics.store.repositories.conversations import (
    ConversationActivity,
    find_conversations,
    flag_handoffs,
    record_activity,
)
from analytics.store.repositories.messages import MessageRow, insert_messages

logger = logging.getLogger(__name__)

HANDOFF_REASON = "customer asked for a person"
MAX_CACHED_CUSTOMERS = 50_000
MAX_TRACKED_SENDERS = 100_000
CHUNK = 500
_MISSING = object()


class StoreCounts:
    """What one :meth:`MessageStore.store` call did (merged into the batch result).

    Attributes:
        messages: New messages stored.
        duplicates: User/bot events whose key was already stored.
        live_risk_updates: Live-risk rows written.
        customers: Internal ids of verified customers who spoke.
    """

    def __init__(self) -> None:
        """Start at zero."""
        self.messages = 0
        self.duplicates = 0
        self.live_risk_updates = 0
        self.customers: set[int] = set()


class MessageStore:
    """Writes mapped events, remembering per sender what later events need."""

    def __init__(
        self,
        scorer: SentimentScorer,
        *,
        live_risk: bool = True,
        upload_dir: Path | None = None,
        alerts: AlertRules | None = None,
    ) -> None:
        """Create a store writer.

        Args:
            scorer: The sentiment scorer.
            live_risk: Update live risk after user messages of verified customers.
            upload_dir: Where the widget's photos are (default: ``UPLOAD_DIR``).
            alerts: The founder-alert rules (default: from the settings; ``None`` there
                when ``ALERT_CHANNELS`` is empty).
        """
        self._scorer = scorer
        self._live_risk = live_risk
        self._alerts = alerts if alerts is not None else AlertRules.from_settings(get_settings())
        self._upload_dir = upload_dir
        self._customers: dict[str, int | None] = {}
        self._last_action: dict[str, str] = {}
        self._last_customer: dict[str, int | None] = {}

    # Per-sender memory, saved and restored around an attempt that is rolled back.

    def save(self, senders: set[str]) -> dict[str, tuple[object, object]]:
        """The per-sender memory of ``senders`` (for :meth:`restore`)."""
        return {
            s: (self._last_action.get(s, _MISSING), self._last_customer.get(s, _MISSING))
            for s in senders
        }

    def restore(self, saved: dict[str, tuple[object, object]]) -> None:
        """Put back what :meth:`save` returned (after a rolled-back attempt)."""
        for sender, (action, customer) in saved.items():
            if action is _MISSING:
                self._last_action.pop(sender, None)
            else:
                self._last_action[sender] = cast(str, action)
            if customer is _MISSING:
                self._last_customer.pop(sender, None)
            else:
                self._last_customer[sender] = cast(int | None, customer)

    def _trim(self) -> None:
        if len(self._last_action) > MAX_TRACKED_SENDERS:
            self._last_action.clear()
        if len(self._last_customer) > MAX_TRACKED_SENDERS:
            self._last_customer.clear()

    # Customers.

    def _prefetch_customers(self, session: Session, externals: set[str]) -> None:
        """Look up the verified customers that are not cached, in one query per chunk."""
        wanted = sorted(e for e in externals if self._customers.get(e) is None)
        if not wanted:
            return
        if len(self._customers) + len(wanted) > MAX_CACHED_CUSTOMERS:
            self._customers.clear()
        for external in wanted:
            self._customers[external] = None
        for start in range(0, len(wanted), CHUNK):
            rows = session.execute(
                select(Customer.external_id, Customer.id).where(
                    Customer.external_id.in_(wanted[start : start + CHUNK])
                )
            )
            for external, customer_id in rows:
                self._customers[external] = customer_id
        missing = [e for e in wanted if self._customers.get(e) is None]
        if missing:
            logger.warning("%d verified customer id(s) are not in the store", len(missing))

    def _answered_customers(self, session: Session, senders: list[str]) -> None:
        """Remember, for senders not in memory, the customer of their latest user message."""
        if not senders:
            return
        for start in range(0, len(senders), CHUNK):
            chunk = senders[start : start + CHUNK]
            latest = (
                select(Message.conversation_id, func.max(Message.created_at).label("at"))
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(Conversation.sender_id.in_(chunk), Message.role == ROLE_USER)
                .group_by(Message.conversation_id)
                .subquery()
            )
            rows = session.execute(
                select(Conversation.sender_id, Message.customer_id)
                .join(Message, Message.conversation_id == Conversation.id)
                .join(
                    latest,
                    and_(
                        latest.c.conversation_id == Message.conversation_id,
                        latest.c.at == Message.created_at,
                    ),
                )
                .where(Message.role == ROLE_USER)
            )
            for sender_id, customer_id in rows:
                self._last_customer[sender_id] = customer_id

    # The batch.

    def store(self, session: Session, mapped: Sequence[MappedEvent], counts: StoreCounts) -> None:
        """Store mapped events (in the caller's transaction).

        Args:
            session: A session on the store.
            mapped: The events, in publication order.
            counts: Where to add what was done.
        """
        self._trim()
        handoffs: set[str] = set()
        messages: list[MappedEvent] = []
        seen: set[str] = set()
        for m in mapped:
            if m.kind == KIND_ACTION:
                if m.action == HANDOFF_ACTION:
                    handoffs.add(m.sender_id)
                if m.action and m.action != LISTEN_ACTION:
                    self._last_action[m.sender_id] = m.action
                continue
            if m.kind == KIND_BOT:
                m.action = self._last_action.get(m.sender_id) or m.action
            if m.event_key not in seen:
                seen.add(m.event_key)
                messages.append(m)
        if not messages and not handoffs:
            return
        existing: set[str] = set()
        keys = [m.event_key for m in messages]
        for start in range(0, len(keys), CHUNK):
            existing.update(
                session.scalars(
                    select(Message.event_key).where(
                        Message.event_key.in_(keys[start : start + CHUNK])
                    )
                )
            )
        fresh = [m for m in messages if m.event_key not in existing]
        counts.duplicates += len(messages) - len(fresh)
        customer_of = self._attribute(session, messages)
        user_fresh = [m for m in fresh if m.kind == KIND_USER]
        sentiments = self._scorer.score_many([redact(m.text or "") for m in user_fresh])
        sentiment_of = {m.event_key: s for m, s in zip(user_fresh, sentiments, strict=True)}

        by_sender: dict[str, list[MappedEvent]] = {}
        for m in fresh:
            by_sender.setdefault(m.sender_id, []).append(m)
        known = find_conversations(session, sorted(set(by_sender) | handoffs))
        record_activity(
            session,
            [_activity(sender_id, items, customer_of) for sender_id, items in by_sender.items()],
            known,
        )
        flag_handoffs(session, [known[s] for s in handoffs if s in known], HANDOFF_REASON)
        rows = [
            MessageRow(
                conversation_id=known[m.sender_id].id,
                customer_id=customer_of.get(m.event_key),
                event_key=m.event_key,
                role=ROLE_USER if m.kind == KIND_USER else ROLE_BOT,
                text=redact(m.text or ""),
                language=m.language,
                intent=m.intent,
                confidence=m.confidence,
                entities=redact_entities(m.entities),
                action=m.action if m.kind == KIND_BOT else None,
                sentiment=sentiment_of.get(m.event_key),
                created_at=m.at,
            )
            for m in fresh
        ]
        counts.messages += insert_messages(session, rows)
        session.flush()
        carried = [
            CarriedUpload(m.event_key, m.sender_id, m.upload_id) for m in user_fresh if m.upload_id
        ]
        if carried:
            upload_dir = self._upload_dir or get_settings().upload_dir
            record_attachments(session, upload_dir, carried)
        self._update_live_risk(session, user_fresh, customer_of, sentiment_of, counts)

    def _attribute(self, session: Session, messages: list[MappedEvent]) -> dict[str, int | None]:
        """Each message's customer (event key -> internal customer id or ``None``)."""
        self._prefetch_customers(
            session, {m.customer for m in messages if m.kind == KIND_USER and m.customer}
        )
        first_kind: dict[str, str] = {}
        for m in messages:
            first_kind.setdefault(m.sender_id, m.kind)
        self._answered_customers(
            session,
            sorted(
                s for s, k in first_kind.items() if k == KIND_BOT and s not in self._last_customer
            ),
        )
        customer_of: dict[str, int | None] = {}
        for m in messages:
            if m.kind == KIND_USER:
                cid = self._customers.get(m.customer) if m.customer else None
                self._last_customer[m.sender_id] = cid
            else:
                cid = self._last_customer.get(m.sender_id)
            customer_of[m.event_key] = cid
        return customer_of

    def _update_live_risk(
        self,
        session: Session,
        user_fresh: list[MappedEvent],
        customer_of: dict[str, int | None],
        sentiment_of: dict[str, float | None],
        counts: StoreCounts,
    ) -> None:
        """One live-risk update per customer and batch, from their last message.

        The intents of their earlier messages in the batch go with it (a live chat has one
        message per batch).
        """
        said: dict[int, list[MappedEvent]] = {}
        for m in user_fresh:
            customer_id = customer_of.get(m.event_key)
            if customer_id is not None:
                said.setdefault(customer_id, []).append(m)
        counts.customers.update(said)
        if not said or (not self._live_risk and self._alerts is None):
            return
        updates: dict[int, Utterance] = {}
        for customer_id, items in said.items():
            last = items[-1]
            scores = [s for s in (sentiment_of.get(m.event_key) for m in items) if s is not None]
            updates[customer_id] = Utterance(
                intent=last.intent,
                sentiment=min(scores) if scores else None,
                at=last.at,
                sender_id=last.sender_id,
                event_key=last.event_key,
                earlier_intents=tuple(m.intent for m in items[:-1] if m.intent),
            )
        alerts = self._alerts
        before = alerts.risk_levels(session, sorted(updates)) if alerts and self._live_risk else {}
        risks = update_live_risks(session, updates) if self._live_risk else {}
        counts.live_risk_updates += len(risks)
        if alerts is not None:  # founder alerts: the outbox rows, in this transaction
            excerpts = {cid: redact(items[-1].text or "") for cid, items in said.items()}
            alerts.raise_alerts(session, updates, risks, before, excerpts)


def _first_customer(items: list[MappedEvent], customer_of: dict[str, int | None]) -> int | None:
    """The first verified customer among a sender's user messages (``None`` if anonymous)."""
    for m in items:
        if m.kind == KIND_USER and customer_of.get(m.event_key) is not None:
            return customer_of[m.event_key]
    return None


def _activity(
    sender_id: str, items: list[MappedEvent], customer_of: dict[str, int | None]
) -> ConversationActivity:
    """What a sender's messages of the batch say about the conversation."""
    return ConversationActivity(
        sender_id=sender_id,
        first_at=min(m.at for m in items),
        last_at=max(m.at for m in items),
        customer_id=_first_customer(items, customer_of),
        channel=next((m.channel for m in items if m.channel), None),
        language=next(
            (
                m.language
                for m in reversed(items)
                if m.kind == KIND_USER and m.language in LANGUAGES
            ),
            None,
        ),
        reply_language=next(
            (m.language for m in items if m.kind == KIND_BOT and m.language in LANGUAGES), None
        ),
    )
