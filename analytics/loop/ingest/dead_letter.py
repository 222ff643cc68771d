"""Events the ingest worker could not process, and id gaps it is still waiting on.

A *dead letter* is one broker event that failed (a store error, a value the store refuses,
anything): it is recorded here, redacted and truncated, with the error, and the worker moves
on. The console lists them (:func:`recent`, :func:`count`). The payload is stored with the
identity claims removed (:data:`analytics.core.identity.CLAIM_KEYS`: a token or hash is
never stored; the door's verified customer id is kept),
personal data redacted (:func:`analytics.loop.privacy.redact`) and cut to about 8 KB.

An *ingest gap* is an ``events.id`` the SQL poller has not seen
although a later id is committed (a slower transaction may still commit it); the poller
keeps re-reading gaps until they are filled or provably abandoned.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from analytics.core.identity import CLAIM_KEYS
from analytics.loop.ingest.clean import clean_text
from analytics.loop.privacy import redact
from analytics.store.models import DeadLetter

logger = logging.getLogger(__name__)

#: Longest stored payload (characters, after redaction).
MAX_PAYLOAD_CHARS = 8192
#: Longest stored error description.
MAX_ERROR_CHARS = 1000
REMOVED = "[REMOVED]"
_MAX_SCRUB_DEPTH = 30
_CLAIM_TEXT_RE = re.compile(
    r'("(?:' + "|".join(sorted(CLAIM_KEYS)) + r')"\s*:\s*)("(?:[^"\\]|\\.)*"|-?[0-9.eE+\-]+)'
)


def _scrub(value: Any, depth: int = 0) -> Any:  # noqa: ANN401
    """Drop identity claims from a decoded JSON value (recursively)."""
    if depth > _MAX_SCRUB_DEPTH:
        return REMOVED
    if isinstance(value, Mapping):
        return {str(k): _scrub(v, depth + 1) for k, v in value.items() if str(k) not in CLAIM_KEYS}
    if isinstance(value, list):
        return [_scrub(v, depth + 1) for v in value]
    return value


def payload_text(payload: Any) -> str:  # noqa: ANN401
    """The stored form of an event payload: claims removed, cleaned, redacted, cut.

    Args:
        payload: The raw body (``bytes`` or ``str``) or the decoded event.

    Returns:
        At most :data:`MAX_PAYLOAD_CHARS` characters.
    """
    if isinstance(payload, bytes | bytearray):
        text = bytes(payload[: MAX_PAYLOAD_CHARS * 8]).decode("utf-8", "replace")
    elif isinstance(payload, str):
        text = payload[: MAX_PAYLOAD_CHARS * 2]
    else:
        try:
            text = json.dumps(_scrub(payload), ensure_ascii=False, default=str)
        except (TypeError, ValueError, RecursionError):
            text = repr(payload)
        text = text[: MAX_PAYLOAD_CHARS * 2]
    text = _CLAIM_TEXT_RE.sub(lambda m: f'{m.group(1)}"{REMOVED}"', text)
    return redact(clean_text(text))[:MAX_PAYLOAD_CHARS]


def _short(value: str | None, limit: int = 255) -> str | None:
    return None if value is None else clean_text(str(value), limit)


def record(
    session: Session,
    *,
    source: str,
    position: int | None,
    event_key: str | None,
    sender_id: str | None,
    error: str,
    payload: Any,  # noqa: ANN401
) -> DeadLetter:
    """Record one event the worker could not process (in the caller's transaction).

    The same event recorded again (a redelivery) keeps its first row: an event is the same
    when its source and position match, else its source and event key, else its source
    and stored payload.

    Args:
        session: A session on the store.
        source: The ingest source (checkpoint name).
        position: The event's position in the source (``events.id``), if it has one.
        event_key: The event's idempotency key, if it could be computed.
        sender_id: The Rasa sender id, if known.
        error: What went wrong (class and message; cut to :data:`MAX_ERROR_CHARS`).
        payload: The raw body or decoded event (see :func:`payload_text`).

    Returns:
        The row (new or the earlier one).
    """
    source = clean_text(source, 255)
    text = payload_text(payload)
    query = select(DeadLetter).where(DeadLetter.source == source)
    if position is not None:
        query = query.where(DeadLetter.position == position)
    elif event_key is not None:
        query = query.where(DeadLetter.event_key == event_key)
    else:
        query = query.where(DeadLetter.payload == text)
    earlier = session.scalars(query.order_by(DeadLetter.id).limit(1)).first()
    if earlier is not None:
        return earlier
    row = DeadLetter(
        source=source,
        position=position,
        event_key=_short(event_key),
        sender_id=_short(sender_id),
        error=clean_text(error, MAX_ERROR_CHARS),
        payload=text,
        created_at=datetime.now(UTC),
    )
    session.add(row)
    session.flush()
    return row


def recent(session: Session, limit: int = 50) -> list[DeadLetter]:
    """The latest dead letters, newest first.

    Args:
        session: A session on the store.
        limit: How many at most.

    Returns:
        The rows.
    """
    query = select(DeadLetter).order_by(DeadLetter.created_at.desc(), DeadLetter.id.desc())
    return list(session.scalars(query.limit(limit)))


def count(session: Session) -> int:
    """How many dead letters there are.

    Args:
        session: A session on the store.

    Returns:
        The number of rows.
    """
    return int(session.scalar(select(func.count()).select_from(DeadLetter)) or 0)
