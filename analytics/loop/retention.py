"""Retention: prune raw text from Rasa's databases once it is ingested and old enough.

``python -m analytics.loop.retention --days 30 [--dry-run]``; the scheduler
(:mod:`analytics.loop.schedule`) runs it on every tick. Two databases hold the customers' raw
words besides the analytics store (which only ever gets redacted text):

* Rasa's SQL **tracker store** (``RASA_TRACKER_DB``, default ``var/rasa_tracker.db``; a
  SQLite path or a SQLAlchemy URL): table ``events`` (``id``, ``sender_id``, ``type_name``,
  ``timestamp``, ``intent_name``, ``action_name``, ``data``), one JSON event per row;
* Rasa's SQL **event broker** (``RASA_EVENTS_DB``, default ``var/rasa_events.db``), which
  the ingest worker polls: table ``events`` (``id``, ``sender_id``, ``data``).

*Pruning* an event rewrites its JSON in place and keeps its structure, so Rasa still loads
the tracker (same rows, same types and timestamps, intents kept): the ``text`` of user and
bot events and ``parse_data.text`` become their redacted form (the same text the analytics
store holds), entity values, bot ``data`` and slot values are redacted (the identity slots
``customer_id``/``customer_name`` are emptied), and the identity keys
(:data:`analytics.core.identity.IDENTITY_KEYS`) are removed from every ``metadata``. A pruned
event starts with ``{"retention_pruned": true, ...}``; a client cannot forge that prefix
(Rasa writes ``event``, or the broker ``sender_id``, first), so pruned rows are skipped
cheaply in SQL.

Only events older than ``RETENTION_DAYS`` (default 30) **and provably ingested** are
pruned:

* broker rows: ``events.id <= `` the checkpoint of the SQL source
  (:func:`analytics.loop.ingest.sql_source.source_name`) and not an open ingest gap;
* tracker rows carry no broker id, so the store's *ingest watermark* is used, a time before
  which every published event has been processed (stored, dead-lettered or skipped):
  for the SQL source, the oldest event still pending in the broker (after the checkpoint,
  or in an open gap) minus an hour for ordering noise, or now if nothing is pending; for
  RabbitMQ (no position), the newest ingested Rasa message in the store minus a day: the
  queue is first-in first-out, so every event published a day before one that was
  consumed has been consumed too. With no ingest checkpoint at all nothing is pruned from
  the tracker store, and an ingest that is stuck holds pruning back (reported as
  *waiting*) instead of losing text it has not read.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, bindparam, create_engine, func, inspect, select, text
from sqlalchemy.exc import SQLAlchemyError
from tqdm import tqdm

from analytics.core.identity import IDENTITY_KEYS
from analytics.core.settings import Settings, get_settings, reveal
from analytics.loop.ingest.sql_source import events_url, source_name
from analytics.loop.privacy import redact, redact_value
from analytics.store.db import make_engine
from analytics.store.models import IngestCheckpoint, IngestGap, Message

logger = logging.getLogger(__name__)

#: ``RETENTION_DAYS``'s default (30), from the settings.
DEFAULT_DAYS: int = Settings.model_fields["retention_days"].default
EVENTS_TABLE = "events"
PRUNED_KEY = "retention_pruned"
PRUNED_LIKE = '{"' + PRUNED_KEY + '"%'
IDENTITY_SLOTS = frozenset({"customer_id", "customer_name"})
ORDER_SLACK_S = 3600.0
RABBITMQ_SLACK_S = 86400.0
RABBITMQ_SOURCE_PREFIX = "rabbitmq:"
RASA_EVENT_KEY_PREFIX = "rasa:"
PENDING_SAMPLE = 1000
BATCH = 500
DAY_S = 86400.0

_TRACKER_ROWS = text(
    "SELECT id, data FROM events WHERE id > :after AND timestamp < :limit "
    "AND data NOT LIKE :marker ORDER BY id LIMIT :n"
)
_TRACKER_COUNT = text(
    "SELECT count(*) FROM events WHERE timestamp < :before AND timestamp >= :since "
    "AND data NOT LIKE :marker"
)
_BROKER_ROWS = text(
    "SELECT id, data FROM events WHERE id > :after AND id <= :position "
    "AND data NOT LIKE :marker ORDER BY id LIMIT :n"
)
_BROKER_COUNT = text("SELECT count(*) FROM events WHERE id <= :position AND data NOT LIKE :marker")
_BROKER_PENDING = text("SELECT id, data FROM events WHERE id > :after ORDER BY id LIMIT :n")
_BROKER_IDS = text("SELECT id, data FROM events WHERE id IN :ids").bindparams(
    bindparam("ids", expanding=True)
)
_UPDATE = text("UPDATE events SET data = :data WHERE id = :id")
_LONG_AGO = -1e18


@dataclass
class RetentionReport:
    """What one retention run did (or would do, on a dry run).

    Attributes:
        cutoff: Events before this Unix time are old enough.
        watermark: Ingest watermark for the tracker store (Unix time), or ``None``.
        tracker_pruned: Tracker events pruned.
        tracker_waiting: Old tracker events kept because they are not provably ingested.
        events_pruned: Broker rows pruned.
        events_waiting: Old broker rows kept (after the checkpoint or in a gap).
        dry_run: Nothing was written.
    """

    cutoff: float
    watermark: float | None = None
    tracker_pruned: int = 0
    tracker_waiting: int = 0
    events_pruned: int = 0
    events_waiting: int = 0
    dry_run: bool = False

    def summary(self) -> str:
        """One log line."""
        verb = "would prune" if self.dry_run else "pruned"
        return (
            f"tracker store: {verb} {self.tracker_pruned}, waiting for ingest "
            f"{self.tracker_waiting}; event broker: {verb} {self.events_pruned}, waiting "
            f"{self.events_waiting}"
        )


# --- one event ----------------------------------------------------------------------------


def _clean_metadata(metadata: Any) -> Any:
    if not isinstance(metadata, dict):
        return metadata
    return {k: redact_value(v) for k, v in metadata.items() if k not in IDENTITY_KEYS}


def prune_event(event: dict[str, Any]) -> dict[str, Any]:
    """The pruned form of one Rasa event (same type, timestamp and structure).

    Args:
        event: The event JSON as Rasa stored it.

    Returns:
        A new dict starting with the ``retention_pruned`` marker.
    """
    out = {k: v for k, v in event.items() if k != PRUNED_KEY}
    kind = event.get("event")
    if kind in ("user", "bot") and isinstance(event.get("text"), str):
        out["text"] = redact(event["text"])
    if kind == "user" and isinstance(event.get("parse_data"), dict):
        parse = dict(event["parse_data"])
        if isinstance(parse.get("text"), str):
            parse["text"] = redact(parse["text"])
        if isinstance(parse.get("entities"), list):
            parse["entities"] = [
                {**e, "value": redact_value(e["value"])} if isinstance(e, dict) and "value" in e
                else e
                for e in parse["entities"]
            ]  # fmt: skip
        if "metadata" in parse:
            parse["metadata"] = _clean_metadata(parse["metadata"])
        out["parse_data"] = parse
    if kind == "bot" and "data" in event:
        out["data"] = redact_value(event["data"])
    if kind == "slot" and "value" in event:
        out["value"] = None if event.get("name") in IDENTITY_SLOTS else redact_value(event["value"])
    if "metadata" in event:
        out["metadata"] = _clean_metadata(event["metadata"])
    return {PRUNED_KEY: True, **out}


def _load(data: Any) -> dict[str, Any] | None:
    try:
        event = json.loads(data)
    except (TypeError, ValueError):
        return None
    return event if isinstance(event, dict) else None


def _timestamp(event: dict[str, Any] | None) -> float | None:
    value = event.get("timestamp") if event else None
    return float(value) if isinstance(value, int | float) else None


# --- databases ----------------------------------------------------------------------------


def database_url(path_or_url: str | Path) -> str:
    """A SQLAlchemy URL for a Rasa database given as a path (SQLite) or a URL."""
    return events_url(path_or_url)


def _engine(url: str) -> Engine | None:
    """An engine on a Rasa database that has an ``events`` table, or ``None``."""
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        return None
    connect_args = {"timeout": 30} if url.startswith("sqlite") else {}
    engine = create_engine(url, connect_args=connect_args)
    try:
        if inspect(engine).has_table(EVENTS_TABLE):
            return engine
    except SQLAlchemyError as exc:
        logger.warning("Cannot open %s: %s", engine.url.render_as_string(True), exc)
    engine.dispose()
    return None


@dataclass(frozen=True)
class IngestState:
    """Where the SQL source of the ingest has got to, read from the store."""

    position: int
    gaps: frozenset[int]
    rabbitmq_seen: bool
    newest_rasa_message: float | None


def read_ingest_state(store: Engine, events_source: str) -> IngestState | None:
    """The SQL source's checkpoint and open gaps, and whether RabbitMQ has run.

    Returns:
        The state, or ``None`` if the store has no ingest tables yet.
    """
    try:
        with store.connect() as conn:
            position = conn.scalar(
                select(IngestCheckpoint.position).where(IngestCheckpoint.source == events_source)
            )
            gaps = conn.scalars(select(IngestGap.event_id).where(IngestGap.source == events_source))
            rabbit = conn.scalar(
                select(func.count()).where(
                    IngestCheckpoint.source.like(RABBITMQ_SOURCE_PREFIX + "%")
                )
            )
            newest = conn.execute(
                select(func.max(Message.created_at)).where(
                    Message.event_key.like(RASA_EVENT_KEY_PREFIX + "%")
                )
            ).scalar()
    except SQLAlchemyError as exc:
        logger.warning("Cannot read the ingest checkpoints (%s); nothing is pruned", exc)
        return None
    return IngestState(
        position=int(position or 0),
        gaps=frozenset(int(g) for g in gaps),
        rabbitmq_seen=bool(rabbit),
        newest_rasa_message=newest.timestamp() if newest is not None else None,
    )


def _rows(engine: Engine, query: Any, params: dict[str, Any]) -> list[tuple[int, str]]:
    with engine.connect() as conn:
        return [(int(r[0]), str(r[1])) for r in conn.execute(query, params)]


def _batches(
    engine: Engine, query: Any, params: dict[str, Any], batch: int
) -> Iterator[list[tuple[int, str]]]:
    """``(id, data)`` rows of ``query`` in id order, ``batch`` at a time (``:after`` cursor)."""
    after = 0
    while rows := _rows(engine, query, {**params, "after": after, "n": batch}):
        yield rows
        after = rows[-1][0]


def _write(engine: Engine, updates: list[dict[str, Any]]) -> None:
    if updates:
        with engine.begin() as conn:
            conn.execute(_UPDATE, updates)


def _pruned(row_id: int, event: dict[str, Any]) -> dict[str, Any]:
    return {"id": row_id, "data": json.dumps(prune_event(event))}


def ingest_watermark(state: IngestState, events: Engine | None, now: float) -> float | None:
    """A time before which every event Rasa published has been processed by the ingest.

    Args:
        state: From :func:`read_ingest_state`.
        events: The broker database (``None`` if there is none).
        now: The current Unix time.

    Returns:
        The watermark, or ``None`` when nothing proves any event was ingested.
    """
    marks: list[float] = []
    if events is not None and state.position > 0:
        rows = _rows(events, _BROKER_PENDING, {"after": state.position, "n": PENDING_SAMPLE})
        if state.gaps:
            rows += _rows(events, _BROKER_IDS, {"ids": sorted(state.gaps)[:PENDING_SAMPLE]})
        pending = [t for t in (_timestamp(_load(data)) for _, data in rows) if t is not None]
        marks.append(min(pending) - ORDER_SLACK_S if pending else now)
    if state.rabbitmq_seen and state.newest_rasa_message is not None:
        marks.append(state.newest_rasa_message - RABBITMQ_SLACK_S)
    return max(marks) if marks else None


def _count(engine: Engine, query: Any, params: dict[str, Any]) -> int:
    with engine.connect() as conn:
        return int(conn.execute(query, {**params, "marker": PRUNED_LIKE}).scalar_one())


def prune_tracker(
    tracker: Engine, limit: float, *, dry_run: bool = False, progress: bool = False
) -> int:
    """Prune every unpruned tracker event older than ``limit``.

    Returns:
        The number of events pruned (or that would be, on a dry run).
    """
    total = _count(tracker, _TRACKER_COUNT, {"before": limit, "since": _LONG_AGO})
    if dry_run or not total:
        return total
    done = 0
    params = {"limit": limit, "marker": PRUNED_LIKE}
    with tqdm(
        total=total, desc="Pruning tracker events", unit="event", disable=not progress
    ) as bar:
        for rows in _batches(tracker, _TRACKER_ROWS, params, BATCH):
            updates = [_pruned(i, e) for i, d in rows if (e := _load(d)) is not None]
            _write(tracker, updates)
            done += len(updates)
            bar.update(len(rows))
    return done


def prune_broker(
    events: Engine, state: IngestState, cutoff: float, *, dry_run: bool = False,
    progress: bool = False,
) -> tuple[int, int]:  # fmt: skip
    """Prune broker rows up to the SQL checkpoint that are older than ``cutoff``.

    Rows are read in id order, which follows time up to :data:`ORDER_SLACK_S`: the scan
    stops at the first row younger than that, so a run costs the old rows only.

    Returns:
        ``(pruned, waiting)``: rows pruned (or that would be), and old rows kept because
        they are in an open ingest gap.
    """
    pruned = waiting = 0
    if state.position <= 0:
        return pruned, waiting
    total = _count(events, _BROKER_COUNT, {"position": state.position})
    params = {"position": state.position, "marker": PRUNED_LIKE}
    with tqdm(total=total, desc="Pruning broker events", unit="event", disable=not progress) as bar:
        for rows in _batches(events, _BROKER_ROWS, params, BATCH):
            updates: list[dict[str, Any]] = []
            young = False
            for row_id, data in rows:
                event = _load(data)
                at = _timestamp(event)
                if event is None or at is None or at >= cutoff:
                    young = at is not None and at >= cutoff + ORDER_SLACK_S
                    if young:
                        break
                elif row_id in state.gaps:
                    waiting += 1
                else:
                    updates.append(_pruned(row_id, event))
            _write(events, [] if dry_run else updates)
            pruned += len(updates)
            bar.update(len(rows))
            if young:
                break
    return pruned, waiting


# --- a whole run ------------------------------------------------------------------------------


def run(
    store_url: str,
    tracker_db: str | Path,
    events_db: str | Path,
    *,
    days: int = DEFAULT_DAYS,
    dry_run: bool = False,
    now: float | None = None,
    progress: bool = False,
) -> RetentionReport:
    """Prune both Rasa databases (a missing database is skipped).

    Args:
        store_url: The analytics store (ingest checkpoints, gaps and messages).
        tracker_db: Rasa's tracker store, a SQLite path or a URL.
        events_db: Rasa's SQL event broker database, a SQLite path or a URL.
        days: Retention in days (at least 1).
        dry_run: Count only, write nothing.
        now: The current Unix time (tests).
        progress: Show progress bars.

    Returns:
        The counts.
    """
    if days < 1:
        raise ValueError(f"retention must be at least 1 day, got {days}")
    now = time.time() if now is None else now
    report = RetentionReport(cutoff=now - days * DAY_S, dry_run=dry_run)
    events_source = source_name(database_url(events_db))
    store = make_engine(store_url)
    events = _engine(database_url(events_db))
    tracker = _engine(database_url(tracker_db))
    try:
        state = read_ingest_state(store, events_source)
        if state is None:
            return report
        if events is not None:
            report.events_pruned, report.events_waiting = prune_broker(
                events, state, report.cutoff, dry_run=dry_run, progress=progress
            )
        report.watermark = ingest_watermark(state, events, now)
        if tracker is not None:
            limit = _LONG_AGO
            if report.watermark is not None:
                limit = min(report.cutoff, report.watermark)
                report.tracker_pruned = prune_tracker(
                    tracker, limit, dry_run=dry_run, progress=progress
                )
            with tracker.connect() as conn:
                report.tracker_waiting = int(
                    conn.execute(
                        _TRACKER_COUNT,
                        {"before": report.cutoff, "since": limit, "marker": PRUNED_LIKE},
                    ).scalar_one()
                )
    finally:
        for engine in (store, events, tracker):
            if engine is not None:
                engine.dispose()
    logger.info("Retention (%d days): %s", days, report.summary())
    return report


def run_from_env(
    *, days: int | None = None, dry_run: bool = False, progress: bool = False
) -> RetentionReport | None:
    """Run with the settings of the environment; ``RETENTION_DAYS=0`` turns retention off.

    The settings (:func:`analytics.core.settings.get_settings`) are ``RETENTION_DAYS``,
    ``RASA_TRACKER_DB``, ``RASA_EVENTS_DB`` and the store URL; the settings give their
    defaults (30 days, ``var/rasa_tracker.db``, ``var/rasa_events.db``).

    Args:
        days: Retention in days (``None``: ``RETENTION_DAYS``).
        dry_run: Count only, write nothing.
        progress: Show progress bars.

    Returns:
        The report, or ``None`` when retention is off.
    """
    settings = get_settings()
    days = settings.retention_days if days is None else days
    if days < 1:
        logger.info("RETENTION_DAYS=%d: retention is off", days)
        return None
    return run(
        settings.database_url,
        reveal(settings.rasa_tracker_db),
        reveal(settings.rasa_events_db),
        days=days,
        dry_run=dry_run,
        progress=progress,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m analytics.loop.retention --days 30 [--dry-run]``."""
    parser = argparse.ArgumentParser(
        prog="python -m analytics.loop.retention", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--days", type=int, default=None, help="default RETENTION_DAYS or 30")
    parser.add_argument("--dry-run", action="store_true", help="count only, change nothing")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.days is not None and args.days < 1:
        parser.error("--days must be at least 1")
    report = run_from_env(days=args.days, dry_run=args.dry_run, progress=sys.stderr.isatty())
    print(report.summary() if report is not None else "retention is off (RETENTION_DAYS=0)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
