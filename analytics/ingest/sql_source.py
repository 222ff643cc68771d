"""Polls Rasa's SQL event broker table (``events``: id, sender_id, data) for the embedded default.

Rasa's SQL broker appends every event as a row with an autoincrement ``id``. The poller
reads rows after its checkpoint in id order, writes them in batches with
:class:`~analytics.ingest.writer.IngestWriter`, and moves the checkpoint in the same
transaction, so a restart resumes after the last committed batch and nothing is read twice
into the store (and if it were, the event keys would make it a no-op).

Ids that are skipped (a writer that has taken an id but not committed yet, possible on
PostgreSQL) make the poller wait at the gap for up to ``gap_timeout`` seconds before it
moves past it; on SQLite writes are serialised, so ids appear in order.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from analytics.db import make_sessionmaker
from analytics.ingest.checkpoint import read_position
from analytics.ingest.writer import BatchResult, IngestWriter, parse_json_event

logger = logging.getLogger(__name__)

DEFAULT_BATCH = 500
DEFAULT_POLL_S = 0.2
DEFAULT_GAP_TIMEOUT_S = 5.0


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
    """

    batches: int = 0
    events: int = 0
    messages: int = 0
    duplicates: int = 0

    def add(self, result: BatchResult) -> None:
        """Add one batch."""
        self.batches += 1
        self.events += result.events
        self.messages += result.messages
        self.duplicates += result.duplicates


class SqlEventPoller:
    """Reads Rasa's ``events`` table after a checkpoint and ingests it in batches."""

    def __init__(
        self,
        writer: IngestWriter,
        store_engine: Engine,
        events_db: str | Path,
        *,
        batch_size: int = DEFAULT_BATCH,
        poll_interval: float = DEFAULT_POLL_S,
        gap_timeout: float = DEFAULT_GAP_TIMEOUT_S,
    ) -> None:
        """Create a poller.

        Args:
            writer: The writer (owns the store sessions).
            store_engine: The store's engine (to read the checkpoint).
            events_db: Path or URL of Rasa's event broker database.
            batch_size: Events per transaction.
            poll_interval: Seconds to sleep when there is nothing new.
            gap_timeout: Seconds to wait at a gap in the ids before skipping it.
        """
        self.url = events_url(events_db)
        self.source = source_name(self.url)
        self._writer = writer
        self._store = make_sessionmaker(store_engine)
        self._batch = batch_size
        self._poll = poll_interval
        self._gap_timeout = gap_timeout
        self._gap_since: float | None = None
        connect_args = {"timeout": 30} if self.url.startswith("sqlite") else {}
        self._events: Engine = create_engine(self.url, connect_args=connect_args)
        self.stats = PollStats()

    def close(self) -> None:
        """Release the events database connections."""
        self._events.dispose()

    def position(self) -> int:
        """The committed checkpoint (last processed ``events.id``)."""
        with self._store() as session:
            return read_position(session, self.source)

    def _table_ready(self) -> bool:
        try:
            return inspect(self._events).has_table("events")
        except OperationalError:
            return False

    def _read(self, after: int) -> list[tuple[int, str]]:
        with self._events.connect() as conn:
            rows = conn.execute(
                text("SELECT id, data FROM events WHERE id > :after ORDER BY id LIMIT :n"),
                {"after": after, "n": self._batch},
            ).all()
        return [(int(r[0]), str(r[1])) for r in rows]

    def _contiguous(self, after: int, rows: list[tuple[int, str]]) -> list[tuple[int, str]]:
        """Rows up to the first gap in ids, unless the gap has been open long enough."""
        expected = after + 1
        for i, (event_id, _) in enumerate(rows):
            if event_id != expected:
                if after == 0 and i == 0:
                    return rows  # first run: ids need not start at 1
                now = time.monotonic()
                if self._gap_since is None:
                    self._gap_since = now
                if now - self._gap_since >= self._gap_timeout:
                    logger.warning("Skipping missing event ids %d..%d", expected, event_id - 1)
                    self._gap_since = None
                    return rows
                return rows[:i]
            expected = event_id + 1
        self._gap_since = None
        return rows

    def run_once(self) -> int:
        """Ingest at most one batch.

        Returns:
            The number of events processed (0 if there was nothing new).
        """
        if not self._table_ready():
            return 0
        after = self.position()
        rows = self._contiguous(after, self._read(after))
        if not rows:
            return 0
        events = [e for e in (parse_json_event(data) for _, data in rows) if e is not None]
        result = self._writer.write(events, source=self.source, position=rows[-1][0])
        result.events = len(rows)
        self.stats.add(result)
        logger.debug(
            "Ingested %d events (%d messages, %d duplicates) up to id %d in %.3f s",
            len(rows),
            result.messages,
            result.duplicates,
            rows[-1][0],
            result.seconds,
        )
        return len(rows)

    def run(
        self, stop: threading.Event | None = None, *, max_idle: float | None = None
    ) -> PollStats:
        """Poll until stopped (or idle for ``max_idle`` seconds).

        Args:
            stop: Set it to stop after the current batch.
            max_idle: Return after this many seconds without new events (``None``: never).

        Returns:
            Totals of this run.
        """
        stop = stop or threading.Event()
        idle_since = time.monotonic()
        logger.info("Polling %s (checkpoint %s at %d)", self.url, self.source, self.position())
        while not stop.is_set():
            try:
                n = self.run_once()
            except OperationalError as exc:  # database locked or briefly unavailable
                logger.warning("Ingest batch failed, retrying: %s", exc)
                n = 0
                stop.wait(1.0)
            if n:
                idle_since = time.monotonic()
                continue
            if max_idle is not None and time.monotonic() - idle_since >= max_idle:
                break
            stop.wait(self._poll)
        return self.stats
