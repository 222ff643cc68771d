"""Attaching a photo in the chat widget (Debian Chromium, the real stack; issue 15).

The customer picks a file with the 📎 button: a photo shows as a preview and, once sent,
in the conversation; the Rasa server stores it re-encoded (no EXIF) under ``UPLOAD_DIR``
and the message that carries it names its upload id; the bot acknowledges it. A file that
is not a JPEG/PNG/WebP by its bytes, or is too large, is refused in the widget with a
bilingual note before anything is sent. Only the widget is asked for a photo.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from tests.browser.chat import REPLY_TIMEOUT_MS, Widget, founder_jwt, history
from tests.browser.conftest import Stack

pytestmark = pytest.mark.browser
SECRET = "Hangzhou-GPS-30.25N"


def photo_with_exif(path: Path) -> Path:
    """A JPEG whose EXIF names a camera and a place."""
    exif = Image.Exif()
    exif[0x010F] = SECRET  # Make
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (180, 40, 40)).save(out, "JPEG", exif=exif.tobytes())
    path.write_bytes(out.getvalue())
    return path


def tracker_user_events(stack: Stack, session_id: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{stack.rasa_url}/conversations/{session_id}/tracker",
        headers={"Authorization": f"Bearer {founder_jwt(stack.jwt_secret)}"},
        timeout=10,
    )
    response.raise_for_status()
    return [e for e in response.json()["events"] if e["event"] == "user"]


def uploads(stack: Stack) -> set[str]:
    folder = stack.workdir / "uploads"
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def test_a_customer_attaches_a_photo_and_the_bot_acknowledges_it(
    page: Page, stack: Stack, tmp_path: Path
) -> None:
    widget = Widget.visit(page, stack.web_url)
    widget.open()
    page.locator(".lb-file").set_input_files(str(photo_with_exif(tmp_path / "破损.jpg")))
    preview = page.locator(".lb-preview")
    expect(preview).to_be_visible()
    expect(preview.locator("img")).to_have_attribute("src", re.compile(r"^data:image/jpeg;base64,"))
    expect(preview).to_contain_text("破损.jpg")
    before = widget.bubbles("bot").count()
    widget.input.press("Enter")
    reply = widget.wait_for_bot(before)
    assert "照片" in reply, reply
    expect(preview).to_be_hidden()
    sent = widget.bubbles("user").last
    expect(sent.locator("img.lb-image")).to_be_visible()
    expect(sent).to_contain_text("📷")

    session = widget.session_id()
    [event] = tracker_user_events(stack, session)
    upload_id = event["metadata"]["upload_id"]
    assert event["text"] == "/send_photo"
    stored = stack.workdir / "uploads" / f"{upload_id}.jpg"
    assert stored.is_file() and SECRET.encode() not in stored.read_bytes()
    assert not Image.open(stored).getexif()

    # After a reload the history says a photo was sent (the photo is not served back).
    page.reload()
    widget.open()
    expect(widget.bubbles("user")).to_have_count(1)
    expect(widget.bubbles("user").first).to_contain_text("📷")
    messages = history(stack.rasa_url, stack.jwt_secret, session)["messages"]
    assert [m.get("photo") for m in messages if m["role"] == "user"] == [True]


def test_a_caption_goes_with_the_photo_in_english(page: Page, stack: Stack, tmp_path: Path) -> None:
    widget = Widget.visit(page, stack.web_url, lang="en")
    widget.open()
    image = tmp_path / "lid.png"
    Image.new("RGB", (64, 64), (0, 90, 40)).save(image, "PNG")
    page.locator(".lb-file").set_input_files(str(image))
    expect(page.locator(".lb-preview")).to_be_visible()
    before = widget.bubbles("bot").count()
    widget.send("The tea tin arrived dented")
    widget.wait_for_bot(before)
    sent = widget.bubbles("user").last
    expect(sent).to_contain_text("The tea tin arrived dented")
    expect(sent.locator("img.lb-image")).to_be_visible()
    [event] = tracker_user_events(stack, widget.session_id())
    assert event["text"] == "The tea tin arrived dented" and event["metadata"]["upload_id"]


@pytest.mark.parametrize(
    ("name", "data", "lang", "note"),
    [
        ("photo.jpg", b"<html><script>alert(1)</script></html>", "zh", "只能发送 JPEG、PNG 或 WebP"),
        ("drawing.svg", b'<svg xmlns="http://www.w3.org/2000/svg"/>', "en", "Only JPEG, PNG or WebP"),
        ("empty.png", b"", "en", "This file is empty."),
        ("huge.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * (5 * 1024 * 1024), "zh", "图片太大了（最大 5 MB）"),
    ],
)  # fmt: skip
def test_files_that_are_not_photos_or_too_big_are_refused_in_the_widget(
    page: Page, stack: Stack, tmp_path: Path, name: str, data: bytes, lang: str, note: str
) -> None:
    widget = Widget.visit(page, stack.web_url, lang=lang)
    widget.open()
    before = uploads(stack)
    path = tmp_path / name
    path.write_bytes(data)
    page.locator(".lb-file").set_input_files(str(path))
    expect(page.locator(".lb-note")).to_contain_text(note)
    expect(page.locator(".lb-preview")).to_be_hidden()
    widget.input.press("Enter")  # nothing to send
    page.wait_for_timeout(500)
    expect(widget.bubbles("user")).to_have_count(0)
    assert uploads(stack) == before


def test_only_the_widget_is_asked_for_a_photo(page: Page, stack: Stack) -> None:
    widget = Widget.visit(page, stack.web_url, lang="en")
    widget.open()
    before = widget.bubbles("bot").count()
    widget.send("/report_problem")
    assert "📎" in widget.wait_for_bot(before)
    rest = httpx.post(
        f"{stack.rasa_url}/webhooks/rest/webhook",
        json={"sender": "rest-photo-check", "message": "/report_problem"},
        timeout=REPLY_TIMEOUT_MS / 1000,
    )
    rest.raise_for_status()
    texts = " ".join(str(m.get("text", "")) for m in rest.json())
    assert texts and "photo" not in texts.lower() and "照片" not in texts
