"""The ingest worker records the widget's photos (``attachments``), checking each again.

The files are written as the widget channel writes them (``bot/channels/uploads.py``):
``<id>.<ext>`` and ``<id>.json`` under ``UPLOAD_DIR``.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from analytics.core.settings import get_settings
from analytics.loop.ingest.attachments import read_description
from analytics.loop.ingest.synthetic import turn_events
from analytics.loop.ingest.writer import IngestWriter
from analytics.store.db import make_sessionmaker
from analytics.store.models import Attachment, Conversation, Message
from tests.analytics.conftest import REFERENCE

T0 = REFERENCE.timestamp() - 1800.0
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100


@pytest.fixture()
def upload_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "uploads"
    folder.mkdir()
    monkeypatch.setenv("UPLOAD_DIR", str(folder))
    get_settings.cache_clear()
    return folder


def stored_upload(folder: Path, owner: str, data: bytes = PNG, **override: Any) -> str:
    """Writes a photo and its description as the widget channel does; returns its id."""
    upload_id = secrets.token_hex(16)
    (folder / f"{upload_id}.png").write_bytes(data)
    description = {
        "upload_id": upload_id, "session_id": owner, "content_type": "image/png",
        "bytes": len(data), "width": 64, "height": 48, "created_at": T0,
        "sha256": hashlib.sha256(data).hexdigest(),
    }  # fmt: skip
    description.update(override)
    (folder / f"{upload_id}.json").write_text(json.dumps(description), encoding="utf-8")
    return upload_id


def photo_turn(sender: str, upload_id: Any, ts: float) -> list[dict[str, Any]]:  # noqa: ANN401
    return turn_events(
        sender, "/send_photo", "send_photo", ts, language="zh",
        metadata={"upload_id": upload_id, "display_text": "📷"},
        action="utter_photo_received", reply="收到你的照片了",
    )  # fmt: skip


def attachments_of(engine: Engine, sender: str) -> list[Attachment]:
    with make_sessionmaker(engine)() as session:
        return list(
            session.scalars(
                select(Attachment)
                .join(Conversation, Conversation.id == Attachment.conversation_id)
                .where(Conversation.sender_id == sender)
                .order_by(Attachment.id)
            )
        )


def user_messages(engine: Engine, sender: str) -> list[Message]:
    with make_sessionmaker(engine)() as session:
        return list(
            session.scalars(
                select(Message)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(Conversation.sender_id == sender, Message.role == "user")
            )
        )


def test_a_photo_of_the_conversation_is_recorded_once(
    store: Engine, writer: IngestWriter, upload_dir: Path
) -> None:
    sender = secrets.token_hex(16)
    upload_id = stored_upload(upload_dir, sender)
    events = photo_turn(sender, upload_id, T0) + photo_turn(sender, upload_id, T0 + 10)
    writer.write(events)
    writer.write(events)  # delivered again
    [attachment] = attachments_of(store, sender)
    first = min(user_messages(store, sender), key=lambda m: m.created_at)
    assert attachment.upload_id == upload_id and attachment.message_id == first.id
    assert (attachment.content_type, attachment.size_bytes) == ("image/png", len(PNG))
    assert (attachment.width, attachment.height) == (64, 48)
    assert attachment.filename == f"{upload_id}.png"


def test_uploads_that_do_not_check_out_are_skipped_but_the_message_is_kept(
    store: Engine, writer: IngestWriter, upload_dir: Path
) -> None:
    sender = secrets.token_hex(16)
    others = stored_upload(upload_dir, secrets.token_hex(16))  # another conversation's photo
    wrong_size = stored_upload(upload_dir, sender, bytes=999)
    svg = stored_upload(upload_dir, sender, content_type="image/svg+xml")
    broken = stored_upload(upload_dir, sender)
    (upload_dir / f"{broken}.json").write_text("{", encoding="utf-8")
    gone = stored_upload(upload_dir, sender)
    (upload_dir / f"{gone}.png").unlink()
    hostile: list[Any] = [others, wrong_size, svg, broken, gone, "../" + others, 42, None,
                          "A" * 32, {"id": others}]  # fmt: skip
    events = [e for i, u in enumerate(hostile) for e in photo_turn(sender, u, T0 + i)]
    result = writer.write(events)
    assert result.dead_letters == 0
    assert attachments_of(store, sender) == []
    assert len(user_messages(store, sender)) == len(hostile)


def test_descriptions_are_checked_field_by_field(upload_dir: Path) -> None:
    sender = "a" * 32
    good = stored_upload(upload_dir, sender)
    assert read_description(upload_dir, good) is not None
    for override in ({"width": 0}, {"height": True}, {"sha256": "x"}, {"created_at": "now"},
                     {"session_id": 7}, {"upload_id": "b" * 32}):  # fmt: skip
        bad = stored_upload(upload_dir, sender, **override)
        assert read_description(upload_dir, bad) is None, override
    assert read_description(upload_dir, "../../etc/passwd") is None
