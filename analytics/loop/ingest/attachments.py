"""Recording the photos customers attached in the widget (the ``attachments`` table).

The widget channel stores a photo under ``UPLOAD_DIR`` as ``<upload id>.<ext>`` beside
``<upload id>.json`` (its session, type, size, dimensions, SHA-256; written by
``bot/channels/uploads.py``) and puts ``upload_id`` in the metadata of the user message that
carries it, only after checking that the upload belongs to the message's session. This
module trusts no more than it can check again: a user message's ``upload_id`` becomes an
:class:`~analytics.store.models.attachments.Attachment` only if it is 32 hex digits, its
description names the same conversation (sender id) and the photo file exists with the
described size. Anything else is logged and skipped (the message itself is stored as
usual); an upload already recorded is not recorded twice.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.store.models import Conversation, Message
from analytics.store.models.attachments import (
    ATTACHMENT_EXTENSIONS,
    ATTACHMENT_TYPES,
    Attachment,
)

logger = logging.getLogger(__name__)

UPLOAD_ID_RE = re.compile(r"^[0-9a-f]{32}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
#: Largest description file read (they are about 300 bytes).
MAX_DESCRIPTION_BYTES = 4096


def upload_id_of(metadata: dict[str, Any]) -> str | None:
    """The well-formed ``upload_id`` of a user message's metadata, or None."""
    value = metadata.get("upload_id")
    return value if isinstance(value, str) and UPLOAD_ID_RE.match(value) else None


@dataclass(frozen=True)
class UploadDescription:
    """What ``<upload id>.json`` says about a stored photo (checked)."""

    upload_id: str
    session_id: str
    content_type: str
    size_bytes: int
    width: int
    height: int
    sha256: str
    created_at: datetime


def _positive_int(value: Any) -> int | None:  # noqa: ANN401 - JSON
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return None
    return value


def read_description(upload_dir: Path, upload_id: str) -> UploadDescription | None:
    """The checked description of an upload, or None if it is missing, broken or inconsistent.

    Args:
        upload_dir: ``UPLOAD_DIR``.
        upload_id: A well-formed upload id (:func:`upload_id_of`).

    Returns:
        The description, only if the photo file exists with the described size.
    """
    if not UPLOAD_ID_RE.match(upload_id):
        return None
    path = upload_dir / f"{upload_id}.json"
    try:
        with path.open("rb") as handle:
            raw = json.loads(handle.read(MAX_DESCRIPTION_BYTES + 1)[:MAX_DESCRIPTION_BYTES])
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict) or raw.get("upload_id") != upload_id:
        return None
    content_type, session_id = raw.get("content_type"), raw.get("session_id")
    size, width, height = (_positive_int(raw.get(k)) for k in ("bytes", "width", "height"))
    sha256, created = raw.get("sha256"), raw.get("created_at")
    if (
        content_type not in ATTACHMENT_TYPES
        or not isinstance(session_id, str)
        or None in (size, width, height)
        or not isinstance(sha256, str)
        or not SHA256_RE.match(sha256)
        or isinstance(created, bool)
        or not isinstance(created, int | float)
    ):
        return None
    photo = upload_dir / f"{upload_id}.{ATTACHMENT_EXTENSIONS[content_type]}"
    try:
        if not photo.is_file() or photo.stat().st_size != size:
            return None
        at = datetime.fromtimestamp(float(created), tz=UTC)
    except (OSError, OverflowError, ValueError):
        return None
    assert size is not None and width is not None and height is not None
    return UploadDescription(upload_id, session_id, content_type, size, width, height, sha256, at)


@dataclass(frozen=True)
class CarriedUpload:
    """A stored user message that named an upload."""

    event_key: str
    sender_id: str
    upload_id: str


def record_attachments(session: Session, upload_dir: Path, carried: Sequence[CarriedUpload]) -> int:
    """Records the photos of freshly stored user messages (in the caller's transaction).

    Args:
        session: A session on the store (the messages and conversations are flushed).
        upload_dir: ``UPLOAD_DIR``.
        carried: The messages that named an upload.

    Returns:
        How many attachments were recorded.
    """
    if not carried:
        return 0
    ids = sorted({c.upload_id for c in carried})
    known = set(session.scalars(select(Attachment.upload_id).where(Attachment.upload_id.in_(ids))))
    rows = session.execute(
        select(Message.event_key, Message.id, Conversation.id, Conversation.sender_id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.event_key.in_(sorted({c.event_key for c in carried})))
    ).all()
    where = {
        key: (message_id, conversation_id, sender)
        for key, message_id, conversation_id, sender in rows
    }
    recorded = 0
    for item in carried:
        if item.upload_id in known or item.event_key not in where:
            continue
        message_id, conversation_id, sender = where[item.event_key]
        description = read_description(upload_dir, item.upload_id)
        if description is None or description.session_id != sender:
            logger.warning(
                "Skipped upload %s of conversation %s: no matching photo under %s",
                item.upload_id,
                item.sender_id,
                upload_dir,
            )
            continue
        session.add(
            Attachment(
                upload_id=description.upload_id,
                conversation_id=conversation_id,
                message_id=message_id,
                content_type=description.content_type,
                size_bytes=description.size_bytes,
                width=description.width,
                height=description.height,
                sha256=description.sha256,
                created_at=description.created_at,
            )
        )
        known.add(item.upload_id)
        recorded += 1
    session.flush()
    return recorded
