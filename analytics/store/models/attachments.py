"""Photos customers attached in the website widget (``attachments``).

The widget channel stores the photo itself under ``UPLOAD_DIR`` (``bot/channels/uploads.py``:
checked by its bytes, re-encoded without metadata, a random 32-hex-digit id) and puts that
id in the metadata of the chat message that carries it; the ingest worker
(:mod:`analytics.loop.ingest.store`) records one row per such message, after checking that
the upload's description names the same conversation. The console shows the photo on that
conversation's page only (``web/console/routes/conversation.py``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from analytics.store.models.shop import Base, UTCDateTime

#: The content types the widget channel stores (and the only ones the console serves).
ATTACHMENT_TYPES = ("image/jpeg", "image/png", "image/webp")
#: File extension of each type under ``UPLOAD_DIR``.
ATTACHMENT_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


class Attachment(Base):
    """One photo a customer sent in a conversation."""

    __tablename__ = "attachments"
    __table_args__ = (
        CheckConstraint(
            "content_type IN ('image/jpeg', 'image/png', 'image/webp')", name="content_type"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    upload_id: Mapped[str] = mapped_column(String(32), unique=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), index=True
    )
    content_type: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    @property
    def filename(self) -> str:
        """The photo's file name under ``UPLOAD_DIR``."""
        return f"{self.upload_id}.{ATTACHMENT_EXTENSIONS[self.content_type]}"

    def __repr__(self) -> str:
        return f"Attachment(id={self.id!r}, upload_id={self.upload_id!r})"
