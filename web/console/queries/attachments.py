"""The photos of a conversation (``attachments``) for its console page.

A photo is shown, and served, only through the conversation it was sent in: the page lists
the conversation's own rows, and :func:`photo_file` answers only for a (conversation,
attachment) pair that belongs together and a file that is really inside ``UPLOAD_DIR``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.store.models.attachments import ATTACHMENT_EXTENSIONS, Attachment

logger = logging.getLogger(__name__)

UPLOAD_ID_RE = re.compile(r"^[0-9a-f]{32}$")


def photos_by_message(db: Session, conversation_id: int) -> dict[int, list[Attachment]]:
    """The conversation's photos, by the id of the message that carried them."""
    photos: dict[int, list[Attachment]] = {}
    for attachment in db.scalars(
        select(Attachment)
        .where(Attachment.conversation_id == conversation_id)
        .order_by(Attachment.id)
    ):
        if attachment.message_id is not None:
            photos.setdefault(attachment.message_id, []).append(attachment)
    return photos


@dataclass(frozen=True)
class PhotoFile:
    """A photo ready to be sent: its bytes and its content type."""

    data: bytes
    content_type: str


def photo_file(
    db: Session, upload_dir: Path, conversation_id: int, attachment_id: int
) -> PhotoFile | None:
    """The photo ``attachment_id`` of ``conversation_id``, or None.

    Args:
        db: A session on the store.
        upload_dir: ``UPLOAD_DIR``.
        conversation_id: The conversation whose page asks.
        attachment_id: The attachment.

    Returns:
        None when the attachment does not exist, belongs to another conversation, or its
        file is missing or outside ``upload_dir``.
    """
    attachment = db.get(Attachment, attachment_id)
    if attachment is None or attachment.conversation_id != conversation_id:
        return None
    extension = ATTACHMENT_EXTENSIONS.get(attachment.content_type)
    if extension is None or not UPLOAD_ID_RE.match(attachment.upload_id):
        return None
    root = upload_dir.resolve()
    path = (root / f"{attachment.upload_id}.{extension}").resolve()
    if path.parent != root:
        return None
    try:
        data = path.read_bytes()
    except OSError:
        logger.warning("The photo of attachment %d is missing from %s", attachment_id, root)
        return None
    return PhotoFile(data, attachment.content_type)
