"""Where each ingest source has got to, stored in the store itself.

The SQL-broker poller writes its position (the last ``events.id`` it processed) in the same
transaction as the messages of that batch, so after a crash it resumes exactly where the
last committed batch ended. The RabbitMQ consumer needs no position (unacknowledged
messages are redelivered), but records its counters here too, for monitoring.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from analytics.store.models import IngestCheckpoint

logger = logging.getLogger(__name__)


def read_position(session: Session, source: str) -> int:
    """The last processed position of a source (0 if it never ran).

    Args:
        session: A session on the store.
        source: The source name.

    Returns:
        The position.
    """
    row = session.get(IngestCheckpoint, source)
    return int(row.position) if row is not None else 0


def advance(
    session: Session, source: str, *, position: int | None, events: int, messages: int
) -> IngestCheckpoint:
    """Move a source's checkpoint forward (in the caller's transaction).

    Args:
        session: A session on the store (the batch's transaction).
        source: The source name.
        position: The new position, or ``None`` to keep it (RabbitMQ).
        events: Events processed in this batch.
        messages: Messages stored in this batch.

    Returns:
        The checkpoint row.
    """
    row = session.get(IngestCheckpoint, source, with_for_update=True)
    if row is None:
        row = IngestCheckpoint(source=source, position=0, events=0, messages=0)
        session.add(row)
    if position is not None:
        if position < row.position:
            raise RuntimeError(
                f"checkpoint of {source} would move back from {row.position} to {position}"
            )
        row.position = position
    row.events = (row.events or 0) + events
    row.messages = (row.messages or 0) + messages
    row.updated_at = datetime.now(UTC)
    session.flush()
    return row
