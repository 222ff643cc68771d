"""Writes batches of Rasa events into the store, one event's failure never stopping the rest.

One batch is one database transaction: the events are decoded and mapped
(:mod:`analytics.loop.ingest.mapping`), stored (:class:`~analytics.loop.ingest.store.MessageStore`:
conversations, redacted messages with sentiment, live risk), the events that failed are
recorded as dead letters (:mod:`analytics.loop.ingest.dead_letter`) and the source's checkpoint
is moved, all committed together.

Every event is processed on its own: the batch is first stored inside one SAVEPOINT (the
fast path); if that fails, the SAVEPOINT is rolled back and each event is stored in its own
SAVEPOINT, so the one that fails is dead-lettered and the others are stored. An event that
cannot even be decoded or mapped (not JSON, not an object, no sender, an impossible
timestamp) is dead-lettered without touching the store.

A failure that is about the store and not the event (connection refused or lost, lock,
missing schema: :func:`~analytics.loop.ingest.errors.is_store_unavailable`) rolls the whole
batch back and raises :class:`~analytics.loop.ingest.errors.StoreUnavailable`: nothing is
dead-lettered, the caller backs off and retries. A batch that is delivered twice stores
nothing new (messages are keyed by ``event_key``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from analytics.brain.sentiment import SentimentScorer, default_scorer
from analytics.loop.alerts.rules import AlertRules
from analytics.loop.ingest import checkpoint, dead_letter
from analytics.loop.ingest.clean import clean_text
from analytics.loop.ingest.errors import (
    StoreUnavailable,
    describe_error,
    error_class,
    is_store_unavailable,
)
from analytics.loop.ingest.mapping import MappedEvent, event_key, map_event
from analytics.loop.ingest.store import MessageStore, StoreCounts
from analytics.store.models import DeadLetter

logger = logging.getLogger(__name__)

#: The dead-letter source of events written without a named source.
DIRECT_SOURCE = "direct"


@dataclass(frozen=True)
class Incoming:
    """One event as the broker delivered it.

    Attributes:
        body: The raw body (JSON ``bytes`` or ``str``) or an already decoded event.
        position: Where it is in its source (``events.id`` of the SQL broker), if anywhere.
    """

    body: str | bytes | Mapping[str, Any]
    position: int | None = None


@dataclass
class BatchResult:
    """What one batch did.

    Attributes:
        events: Events read (all kinds).
        messages: New messages stored.
        duplicates: User/bot events whose key was already stored.
        skipped: Events of kinds that are not stored.
        dead_letters: Events that failed and were recorded as dead letters.
        dead: Indexes (in the batch) of those events.
        live_risk_updates: Live-risk rows written.
        customers: Internal ids of verified customers who spoke in the batch.
        seconds: Wall time of the batch.
    """

    events: int = 0
    messages: int = 0
    duplicates: int = 0
    skipped: int = 0
    dead_letters: int = 0
    dead: list[int] = field(default_factory=list)
    live_risk_updates: int = 0
    customers: set[int] = field(default_factory=set)
    seconds: float = 0.0

    def add(self, counts: StoreCounts) -> None:
        """Add what one store call did."""
        self.messages += counts.messages
        self.duplicates += counts.duplicates
        self.live_risk_updates += counts.live_risk_updates
        self.customers.update(counts.customers)


@dataclass
class _Poison:
    index: int
    error: BaseException
    event_key: str | None
    sender_id: str | None


def decode_event(body: str | bytes | Mapping[str, Any]) -> dict[str, Any]:
    """Decode one event body.

    Args:
        body: JSON text or bytes, or an already decoded event.

    Returns:
        The event.

    Raises:
        ValueError: If it is not valid JSON (or UTF-8), or not a JSON object.
        RecursionError: If it is nested too deeply to decode.
    """
    value = dict(body) if isinstance(body, Mapping) else json.loads(body)
    if not isinstance(value, dict):
        raise ValueError(f"an event is a JSON object, not {type(value).__name__}")
    return value


def _identify(event: Mapping[str, Any] | None) -> tuple[str | None, str | None]:
    """Best-effort event key and sender id of an event that failed to map."""
    if event is None:
        return None, None
    sender = event.get("sender_id")
    sender_id = clean_text(sender, 255) if isinstance(sender, str) and sender else None
    kind, timestamp = event.get("event"), event.get("timestamp")
    key = None
    if sender_id and isinstance(kind, str) and isinstance(timestamp, int | float):
        key = event_key(sender_id, clean_text(kind, 50), timestamp)
    return key, sender_id


class IngestWriter:
    """Maps, redacts, scores and stores batches of Rasa events, dead-lettering failures."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        scorer: SentimentScorer | None = None,
        live_risk: bool = True,
        clock: Callable[[], float] = time.perf_counter,
        alerts: AlertRules | None = None,
    ) -> None:
        """Create a writer.

        Args:
            session_factory: Sessions on the store.
            scorer: The sentiment scorer (defaults to the shared one).
            live_risk: Update live risk after user messages of verified customers.
            clock: Timer for :attr:`BatchResult.seconds`.
            alerts: The founder-alert rules (default: from the settings).
        """
        self._factory = session_factory
        self._store = MessageStore(scorer or default_scorer(), live_risk=live_risk, alerts=alerts)
        self._clock = clock

    def write(
        self,
        events: Sequence[Mapping[str, Any]],
        *,
        source: str | None = None,
        position: int | None = None,
    ) -> BatchResult:
        """Store decoded events (see :meth:`ingest`).

        Args:
            events: Rasa events (decoded JSON), in the order they were published.
            source: Checkpoint name to advance in the same transaction, if any.
            position: The source position after this batch (``None`` keeps it).

        Returns:
            What was stored.
        """
        return self.ingest([Incoming(e) for e in events], source=source, position=position)

    def ingest(
        self,
        items: Sequence[Incoming],
        *,
        source: str | None = None,
        position: int | None = None,
        before_commit: Callable[[Session], None] | None = None,
    ) -> BatchResult:
        """Store one batch of events in one transaction; dead-letter the ones that fail.

        Args:
            items: The events as delivered, in publication order.
            source: Checkpoint name to advance in the same transaction, if any.
            position: The source position after this batch (``None`` keeps it).
            before_commit: Called with the session last, inside the transaction (the SQL
                poller records its id gaps there).

        Returns:
            What was stored.

        Raises:
            StoreUnavailable: The store cannot be written; nothing was committed.
        """
        started = self._clock()
        result = BatchResult(events=len(items))
        poison: list[_Poison] = []
        mapped: list[tuple[int, MappedEvent]] = []
        for index, item in enumerate(items):
            event: dict[str, Any] | None = None
            try:
                event = decode_event(item.body)
                m = map_event(event)
            except Exception as error:  # noqa: BLE001 - any failure makes the event poison
                poison.append(_Poison(index, error, *_identify(event)))
                continue
            if m is None:
                result.skipped += 1
            else:
                mapped.append((index, m))
        written: list[tuple[int, DeadLetter]] = []
        try:
            with self._factory() as session, session.begin():
                self._store_isolated(session, mapped, poison, result)
                for p in sorted(poison, key=lambda p: p.index):
                    row = dead_letter.record(
                        session,
                        source=source or DIRECT_SOURCE,
                        position=items[p.index].position,
                        event_key=p.event_key,
                        sender_id=p.sender_id,
                        error=describe_error(p.error),
                        payload=items[p.index].body,
                    )
                    written.append((p.index, row))
                if before_commit is not None:
                    before_commit(session)
                if source is not None:
                    checkpoint.advance(
                        session,
                        source,
                        position=position,
                        events=len(items),
                        messages=result.messages,
                    )
        except StoreUnavailable:
            raise
        except Exception as error:
            if is_store_unavailable(error):
                raise StoreUnavailable(error_class(error)) from error
            raise
        errors = {p.index: p.error for p in poison}
        for index, row in written:
            logger.warning(
                "Dead letter %d: %s event at position %s (key %s) failed: %s",
                row.id,
                source or DIRECT_SOURCE,
                items[index].position,
                row.event_key,
                error_class(errors[index]),
            )
        result.dead = sorted(errors)
        result.dead_letters = len(result.dead)
        result.seconds = self._clock() - started
        return result

    def _store_isolated(
        self,
        session: Session,
        mapped: list[tuple[int, MappedEvent]],
        poison: list[_Poison],
        result: BatchResult,
    ) -> None:
        """Store the batch in a SAVEPOINT; if it fails, each event in its own SAVEPOINT."""
        if not mapped:
            return
        saved = self._store.save({m.sender_id for _, m in mapped})
        counts = StoreCounts()
        try:
            with session.begin_nested():
                self._store.store(session, [m for _, m in mapped], counts)
            result.add(counts)
            return
        except Exception as error:
            if is_store_unavailable(error):
                raise StoreUnavailable(error_class(error)) from error
            logger.warning(
                "A batch of %d events failed (%s); storing them one by one",
                len(mapped),
                error_class(error),
            )
        self._store.restore(saved)
        session.expire_all()
        for index, m in mapped:
            saved = self._store.save({m.sender_id})
            counts = StoreCounts()
            try:
                with session.begin_nested():
                    self._store.store(session, [m], counts)
            except Exception as error:  # noqa: BLE001 - anything but the store is poison
                if is_store_unavailable(error):
                    raise StoreUnavailable(error_class(error)) from error
                self._store.restore(saved)
                session.expire_all()
                poison.append(_Poison(index, error, m.event_key, m.sender_id))
                continue
            result.add(counts)
