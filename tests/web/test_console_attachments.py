"""The customer's photos on the console's conversation page (``attachments``, issue 15).

Shown on their own conversation's page, served behind the login with ``nosniff``, never
cached, never as a document, and refused for any other conversation, a missing file or an
id that could leave ``UPLOAD_DIR``.
"""

from __future__ import annotations

import hashlib
import io
import secrets
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from analytics.core.settings import get_settings
from analytics.store.models import Attachment, Message
from tests.web.conftest import Console
from tests.web.console_data import add_conversation, store_session


@pytest.fixture()
def upload_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "uploads"
    folder.mkdir()
    monkeypatch.setenv("UPLOAD_DIR", str(folder))
    get_settings.cache_clear()
    return folder


def png(size: tuple[int, int] = (640, 480)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (30, 120, 60)).save(out, "PNG")
    return out.getvalue()


def add_photo(
    console: Console, folder: Path, conversation_id: int, data: bytes, *, upload_id: str = ""
) -> int:
    """A photo file and its ``attachments`` row on the conversation's first user message."""
    upload_id = upload_id or secrets.token_hex(16)
    if "/" not in upload_id:
        (folder / f"{upload_id}.png").write_bytes(data)
    engine, db = store_session(console)
    try:
        message_id = db.scalar(
            select(Message.id).where(
                Message.conversation_id == conversation_id, Message.role == "user"
            )
        )
        row = Attachment(
            upload_id=upload_id, conversation_id=conversation_id, message_id=message_id,
            content_type="image/png", size_bytes=len(data), width=640, height=480,
            sha256=hashlib.sha256(data).hexdigest(), created_at=datetime.now(UTC),
        )  # fmt: skip
        db.add(row)
        db.commit()
        return row.id
    finally:
        db.close()
        engine.dispose()


def test_the_photo_is_shown_in_its_conversation_and_served_safely(
    client: TestClient, console_env: Console, upload_dir: Path
) -> None:
    cid = add_conversation(console_env, [("user", "/send_photo", "send_photo")], sender="ph-1")
    data = png()
    aid = add_photo(console_env, upload_dir, cid, data)
    page = client.get(f"/console/conversations/{cid}").text
    url = f"/console/conversations/{cid}/attachments/{aid}"
    assert f'src="{url}"' in page and 'width="320" height="240"' in page
    photo = client.get(url)
    assert photo.status_code == 200 and photo.content == data
    assert photo.headers["content-type"] == "image/png"
    assert photo.headers["x-content-type-options"] == "nosniff"
    assert "no-store" in photo.headers["cache-control"]
    assert "sandbox" in photo.headers["content-security-policy"]
    assert photo.headers["cross-origin-resource-policy"] == "same-origin"


def test_another_conversations_photo_is_refused(
    client: TestClient, console_env: Console, upload_dir: Path
) -> None:
    mine = add_conversation(console_env, [("user", "/send_photo", "send_photo")], sender="ph-a")
    other = add_conversation(console_env, [("user", "hello", "greet")], sender="ph-b")
    aid = add_photo(console_env, upload_dir, mine, png())
    assert client.get(f"/console/conversations/{other}/attachments/{aid}").status_code == 404
    assert f"/attachments/{aid}" not in client.get(f"/console/conversations/{other}").text
    for path in (
        f"/console/conversations/{mine}/attachments/{aid + 1000}",
        f"/console/conversations/999999/attachments/{aid}",
        f"/console/conversations/{mine}/attachments/..%2F..%2Fetc%2Fpasswd",
        f"/console/conversations/{mine}/attachments/-1",
    ):
        assert client.get(path).status_code in (404, 422), path


def test_a_missing_file_or_a_tampered_row_serves_nothing(
    client: TestClient, console_env: Console, upload_dir: Path
) -> None:
    cid = add_conversation(console_env, [("user", "/send_photo", "send_photo")], sender="ph-c")
    gone = add_photo(console_env, upload_dir, cid, png())
    for path in upload_dir.iterdir():
        path.unlink()
    (upload_dir.parent / "secret.png").write_bytes(b"not yours")
    tampered = add_photo(console_env, upload_dir, cid, png(), upload_id="../secret")
    for aid in (gone, tampered):
        assert client.get(f"/console/conversations/{cid}/attachments/{aid}").status_code == 404


def test_photos_need_the_login(anon: TestClient, console_env: Console, upload_dir: Path) -> None:
    cid = add_conversation(console_env, [("user", "/send_photo", "send_photo")], sender="ph-d")
    aid = add_photo(console_env, upload_dir, cid, png())
    reply = anon.get(f"/console/conversations/{cid}/attachments/{aid}", follow_redirects=False)
    assert reply.status_code in (303, 401) and reply.content != png()
    assert "image" not in reply.headers.get("content-type", "")


def test_the_live_transcript_lists_the_photo_of_its_message(
    client: TestClient, console_env: Console, upload_dir: Path
) -> None:
    cid = add_conversation(
        console_env, [("user", "/send_photo", "send_photo"), ("bot", "收到", None)], sender="ph-e"
    )
    aid = add_photo(console_env, upload_dir, cid, png())
    rows = client.get(f"/console/api/conversations/{cid}/messages").json()
    assert [r["photos"] for r in rows] == [[f"/console/conversations/{cid}/attachments/{aid}"], []]
