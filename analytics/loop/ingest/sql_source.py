"""Polls Rasa's SQL event broker table (``events``: id, sender_id, data) for the embedded default.

Rasa's SQL broker appends every event as a row with an autoincrement ``id``. The poller
reads rows in id order and writes them in batches with
:class:`~analytics.loop.ingest.writer.IngestWriter`; nothing is skipped and nothing is stored
twice (and if it were, the event keys would make it a no-op).

Design: the checkpoint's ``position`` is the *highest* ``events.id`` processed, and
``ingest_gaps`` (:class:`~analytics.store.models.loop.IngestGap`) holds every id below it
that was not there when a higher id was read. The events processed are exactly the ids up
to ``position`` minus the open gaps. Each poll, in one store transaction:

1. the open gaps are re-read; a gap whose row has appeared is *filled*: the event is
   ingested then (its message keeps the event's own timestamp) and the gap deleted;
2. a gap still absent is *abandoned* (deleted) once no transaction can still commit it:
   on PostgreSQL when ``txid_snapshot_xmin(txid_current_snapshot())``, taken before the
   re-read, has reached the ``snapshot_xmax`` noted when the gap was first seen (every
   xid below ``xmin`` has ended, and the transaction that took the id had an xid below that
   ``xmax``; on an idle server ``xmin`` stops *at* ``xmax``, so ``>`` would wait for
   someone else's write, which is why this is ``>=``). So every transaction that was
   running then, including the one that took the id, has ended: the
   id was rolled back or lost to a sequence jump); on SQLite after one re-read (SQLite
   serialises writers, so an id missing below a committed one was rolled back or deleted);
3. the next ``batch_size`` rows after ``position`` are read; ids missing between them are
   recorded as gaps (with ``txid_snapshot_xmax`` of a snapshot taken after the read, on
   PostgreSQL) and ``position`` moves to the last id read.

The gap bookkeeping is committed together with the messages and the checkpoint, so a
restart resumes exactly. A hole of more than ``max_hole`` consecutive ids is not waited for
(that is a jump of the sequence, not transactions in flight) and is logged.

An event that cannot be processed is dead-lettered by the writer and the checkpoint moves
past it. When the store (or the events database) is unavailable, the poller backs off and
retries, logging each attempt; it never exits on its own.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, bindparam, create_engine, delete, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from analytics.loop.ingest.checkpoint import read_position
from analytics.loop.ingest.errors import Backoff, error_class, is_store_unavailable
from analytics.loop.ingest.writer import BatchResult, Incoming, IngestWriter
from analytics.store.db import make_sessionmaker
from analytics.store.models import IngestGap

logger = logging.getLogger(__name__)

DEFAULT_BATCH = 500
DEFAULT_POLL_S = 0.2
#: Longest run of missing ids recorded as gaps (longer: a sequence jump, not waited for).
MAX_HOLE = 1000
CHUNK = 500
_XMIN_SQL = text("SELECT txid_snapshot_xmin(txid_current_snapshot())")
_XMAX_SQL = text("SELECT txid_snapshot_xmax(txid_current_snapshot())")
_READ_AFTER_SQL = text("SELECT id, data FROM events WHERE id > :after ORDER BY id LIMIT :n")
_READ_IDS_SQL = text("SELECT id, data FROM events WHERE id IN :ids").bindparams(
    bindparam("ids", expanding=True)
)


def events_url(path_or_url: str | Path) -> str:
    """A SQLAlchemy URL for the events database (a file path means SQLite).

    Args:
        path_or_url: ``var/rasa_events.db`` or a URL such as ``postgresql+psycopg://...``.

    Returns:
        The URL.
    """
    value = str(path_or_url)
    if "://" in value:
        return value
    return f"sqlite:///{Path(value).resolve()}"


def source_name(url: str) -> str:
    """The checkpoint name of an events database: ``sql:<database name>:<hash of the URL>``.

    Args:
        url: The events database URL.

    Returns:
        A stable name (at most 255 characters).
    """
    database = Path(make_url(url).database or "events").name
    digest = hashlib.sha256(url.encode()).hexdigest()[:10]
    return f"sql:{database[:200]}:{digest}"


@dataclass
class PollStats:
    """Totals of a poller run.

    Attributes:
        batches: Batches written.
        events: Events read.
        messages: Messages stored.
        duplicates: Events already stored.
        dead_letters: Events dead-lettered.
        gaps_filled: Gaps whose event arrived late and was ingested.
        gaps_abandoned: Gaps given up (rolled back ids).
        retries: Polls or batches that failed (store or events database unavailable) and
            were retried.
        reconnects: Broker connections lost or refused (RabbitMQ).
    """

    batches: int = 0
    events: int = 0
    messages: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    gaps_filled: int = 0
    gaps_abandoned: int = 0
    retries: int = 0
    reconnects: int = 0

    def add(self, result: BatchResult) -> None:
        """Add one batch."""
        self.batches += 1
        self.events += result.events
        self.messages += result.messages
        self.duplicates += result.duplicates
        self.dead_letters += result.dead_letters


@dataclass(frozen=True)
class _Read:
    """What one poll read from the events database."""

    gap_rows: list[tuple[int, str]]
    abandoned: list[int]
    new_rows: list[tuple[int, str]]
    new_gaps: list[int]
    snapshot_xmax: int | None


class SqlEventPoller:
    """Reads Rasa's ``events`` table, fills or abandons id gaps, and ingests in batches."""

    def __init__(
        self,
        writer: IngestWriter,
        store_engine: Engine,
        events_db: str | Path,
        *,
        batch_size: int = DEFAULT_BATCH,
        poll_interval: float = DEFAULT_POLL_S,
        max_hole: int = MAX_HOLE,
        backoff: Backoff | None = None,
    ) -> None:
        """Create a poller.

        Args:
            writer: The writer (owns the store sessions).
            store_engine: The store's engine (checkpoint and gaps).
            events_db: Path or URL of Rasa's event broker database.
            batch_size: New events per transaction.
            poll_interval: Seconds to sleep when there is nothing new.
            max_hole: Longest run of missing ids recorded as gaps.
            backoff: Delays between retries while the store is unavailable.
        """
        self.url = events_url(events_db)
        self.source = source_name(self.url)
        self._writer = writer
        self._store = make_sessionmaker(store_engine)
        self._batch = batch_size
        self._poll = poll_interval
        self._max_hole = max_hole
        self._backoff = (backoff or Backoff()).fresh()
        connect_args = {"timeout": 30} if self.url.startswith("sqlite") else {}
        self._events: Engine = create_engine(self.url, connect_args=connect_args)
        self._postgres = self._events.dialect.name == "postgresql"
        self._table_seen = False
        self.stats = PollStats()

    def close(self) -> None:
        """Release the events database connections."""
        self._events.dispose()

    def position(self) -> int:
        """The committed checkpoint (highest ``events.id`` processed)."""
        with self._store() as session:
            return read_position(session, self.source)

    def gaps(self) -> list[int]:
        """The ids the poller is still waiting for, ascending."""
        with self._store() as session:
            return [g.event_id for g in self._open_gaps(session)]

    def _open_gaps(self, session: Session) -> list[IngestGap]:
        query = select(IngestGap).where(IngestGap.source == self.source)
        return list(session.scalars(query.order_by(IngestGap.event_id)))

    def _table_ready(self) -> bool:
        if not self._table_seen:
            self._table_seen = inspect(self._events).has_table("events")
        return self._table_seen

    def _holes(self, after: int, rows: list[tuple[int, str]]) -> list[int]:
        """Ids missing between ``after`` and the rows read (long runs are not waited for)."""
        missing: list[int] = []
        expected = after + 1
        for event_id, _ in rows:
            if event_id > expected:
                if event_id - expected <= self._max_hole:
                    missing.extend(range(expected, event_id))
                else:
                    logger.warning(
                        "Event ids %d..%d never appeared (a sequence jump); not waiting for them",
                        expected,
                        event_id - 1,
                    )
            expected = event_id + 1
        return missing

    def _read(self, conn: Connection, after: int, gaps: list[IngestGap]) -> _Read:
        xmin = int(conn.execute(_XMIN_SQL).scalar_one()) if gaps and self._postgres else None
        gap_rows: list[tuple[int, str]] = []
        ids = [g.event_id for g in gaps]
        for start in range(0, len(ids), CHUNK):
            found = conn.execute(_READ_IDS_SQL, {"ids": ids[start : start + CHUNK]}).all()
            gap_rows += [(int(r[0]), str(r[1])) for r in found]
        seen = {event_id for event_id, _ in gap_rows}
        abandoned = [
            g.event_id
            for g in gaps
            if g.event_id not in seen
            and (xmin is None or g.snapshot_xmax is None or xmin >= g.snapshot_xmax)
        ]
        found_new = conn.execute(_READ_AFTER_SQL, {"after": after, "n": self._batch}).all()
        new_rows = [(int(r[0]), str(r[1])) for r in found_new]
        new_gaps = self._holes(after, new_rows)
        xmax = int(conn.execute(_XMAX_SQL).scalar_one()) if new_gaps and self._postgres else None
        return _Read(sorted(gap_rows), abandoned, new_rows, new_gaps, xmax)

    def run_once(self) -> int:
        """Fill or abandon open gaps and ingest at most one batch of new events.

        Returns:
            The number of events processed (0 if there was nothing new).

        Raises:
            StoreUnavailable: The store cannot be written (nothing was committed).
        """
        if not self._table_ready():
            return 0
        with self._store() as session:
            after = read_position(session, self.source)
            gaps = self._open_gaps(session)
        with self._events.connect() as conn:
            read = self._read(conn, after, gaps)
        if not (read.gap_rows or read.abandoned or read.new_rows):
            return 0
        rows = read.gap_rows + read.new_rows
        position = max(after, read.new_rows[-1][0]) if read.new_rows else after
        closed = [event_id for event_id, _ in read.gap_rows] + read.abandoned

        def bookkeeping(session: Session) -> None:
            for start in range(0, len(closed), CHUNK):
                session.execute(
                    delete(IngestGap).where(
                        IngestGap.source == self.source,
                        IngestGap.event_id.in_(closed[start : start + CHUNK]),
                    )
                )
            now = datetime.now(UTC)
            session.add_all(
                IngestGap(
                    source=self.source,
                    event_id=event_id,
                    first_seen_at=now,
                    snapshot_xmax=read.snapshot_xmax,
                )
                for event_id in read.new_gaps
            )

        result = self._writer.ingest(
            [Incoming(data, event_id) for event_id, data in rows],
            source=self.source,
            position=position,
            before_commit=bookkeeping,
        )
        self.stats.add(result)
        self.stats.gaps_filled += len(read.gap_rows)
        self.stats.gaps_abandoned += len(read.abandoned)
        if read.gap_rows:
            logger.info("Filled %d gap(s): late events ingested", len(read.gap_rows))
        if read.abandoned:
            logger.info("Abandoned %d gap(s): ids rolled back", len(read.abandoned))
        if read.new_gaps:
            logger.info("Waiting for %d missing event id(s)", len(read.new_gaps))
        logger.debug(
            "Ingested %d events (%d messages, %d duplicates, %d dead) up to id %d in %.3f s",
            len(rows),
            result.messages,
            result.duplicates,
            result.dead_letters,
            position,
            result.seconds,
        )
        return len(rows)

    def run(
        self, stop: threading.Event | None = None, *, max_idle: float | None = None
    ) -> PollStats:
        """Poll until stopped (or idle for ``max_idle`` seconds); never exits on an error.

        A poll that fails (store or events database unavailable, or anything else) is
        retried after a back-off, each attempt logged.

        Args:
            stop: Set it to stop after the current batch.
            max_idle: Return after this many seconds without new events (``None``: never).

        Returns:
            Totals of this run.
        """
        stop = stop or threading.Event()
        idle_since = time.monotonic()
        logger.info("Polling %s (checkpoint %s)", self.url, self.source)
        while not stop.is_set():
            try:
                n = self.run_once()
                self._backoff.reset()
            except Exception as error:  # noqa: BLE001 - the worker never exits on an error
                n = 0
                self.stats.retries += 1
                delay = self._backoff.next_delay()
                if is_store_unavailable(error):
                    logger.warning(
                        "Database unavailable (%s); retry %d in %.1f s",
                        error_class(error),
                        self._backoff.attempt,
                        delay,
                    )
                else:
                    logger.warning(
                        "Ingest poll failed (%s); retry %d in %.1f s",
                        error_class(error),
                        self._backoff.attempt,
                        delay,
                        exc_info=logger.isEnabledFor(logging.DEBUG),
                    )
                stop.wait(delay)
            if n:
                idle_since = time.monotonic()
                continue
            if max_idle is not None and time.monotonic() - idle_since >= max_idle:
                break
            stop.wait(self._poll)
        return self.stats
