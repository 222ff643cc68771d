"""Photos in the widget (``bot.channels.uploads``): checks, cleaning, storage, limits.

The checks and the cleaning are tested directly on hostile files; the route and the chat
message that carries a photo against the shared door server (``tests/bot/door_server.py``,
a real ``rasa run`` whose ``UPLOAD_DIR`` is in its work folder).
"""

from __future__ import annotations

import asyncio
import io
import json
import secrets
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("rasa")

from PIL import Image  # noqa: E402

from bot.channels.door import prepare_message  # noqa: E402
from bot.channels.limits import DoorLimits  # noqa: E402
from bot.channels.photos import MAX_SIDE, CleanImage, ImageRefused, clean_image, sniff  # noqa: E402
from bot.channels.uploads import UploadGuard, UploadStore  # noqa: E402
from bot.channels.widget_routes import history_item  # noqa: E402
from tests.bot.door_server import SITE_ORIGIN, DoorServer, Reply, http  # noqa: E402
from tests.bot.test_widget_channel import Client, run  # noqa: E402

pytestmark = pytest.mark.rasa_env

SECRET_TEXT = b"GPS-SECRET-Hangzhou-Xihu"
SCRIPT = b"<html><script>alert(document.cookie)</script></html>"


# -- hostile and honest files -------------------------------------------------------------
def image_bytes(
    fmt: str, size: tuple[int, int] = (64, 48), mode: str = "RGB", **save: Any
) -> bytes:
    """A small picture in ``fmt``."""
    out = io.BytesIO()
    Image.new(mode, size, (200, 30, 30) if mode == "RGB" else 128).save(out, fmt, **save)
    return out.getvalue()


def jpeg_with_metadata() -> bytes:
    """A JPEG carrying EXIF (camera, GPS, orientation 6 = rotated), a comment and an ICC profile."""
    exif = Image.Exif()
    exif[0x010F] = SECRET_TEXT.decode()  # Make
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    gps = exif.get_ifd(0x8825)
    gps[2] = (30.0, 15.0, 0.0)  # GPSLatitude
    return image_bytes(
        "JPEG", (80, 40), exif=exif.tobytes(), comment=SECRET_TEXT, icc_profile=b"ICC" + SECRET_TEXT
    )


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb)."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    data = zlib.compress(b"\x00" * 1000)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", data)
        + png_chunk(b"IEND", b"")
    )


def png_with_text() -> bytes:
    """A PNG with a text chunk holding a script."""
    plain = image_bytes("PNG")
    end = plain.rindex(b"IEND") - 4
    return plain[:end] + png_chunk(b"tEXt", b"Comment\x00" + SCRIPT) + plain[end:]


def multipart(fields: dict[str, str], photo: bytes | None, name: str = "photo.jpg",
              content_type: str = "image/jpeg") -> tuple[bytes, str]:  # fmt: skip
    """A ``multipart/form-data`` body as a browser's FormData sends it."""
    boundary = "----lb" + secrets.token_hex(8)
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    if photo is not None:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="{name}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n".encode()
            + photo
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


# -- checks and cleaning ------------------------------------------------------------------
def test_the_type_is_decided_by_the_first_bytes() -> None:
    assert sniff(image_bytes("JPEG")) == "image/jpeg"
    assert sniff(image_bytes("PNG")) == "image/png"
    assert sniff(image_bytes("WEBP")) == "image/webp"
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
    for other in (b"", b"\xff\xd8", image_bytes("GIF"), image_bytes("BMP"), svg, SCRIPT):
        assert sniff(other) is None


def refusal_of(data: bytes, max_bytes: int = 5 * 1024 * 1024) -> tuple[int, str, str]:
    with pytest.raises(ImageRefused) as refused:
        clean_image(data, max_bytes)
    r = refused.value.refusal
    return r.status, r.error, r.message


@pytest.mark.parametrize(
    ("data", "status", "error"),
    [
        (b"", 400, "empty"),
        (SCRIPT, 415, "bad_type"),  # an HTML page named photo.jpg
        (
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            415,
            "bad_type",
        ),
        (image_bytes("GIF"), 415, "bad_type"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 100, 422, "bad_image"),  # JPEG magic, no image
        (b"\x89PNG\r\n\x1a\n" + SCRIPT, 422, "bad_image"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 " + SCRIPT, 422, "bad_image"),
        (image_bytes("JPEG")[:200], 422, "bad_image"),  # truncated
        (png_claiming(20_000, 20_000), 422, "too_many_pixels"),
    ],
)
def test_hostile_files_are_refused_politely(data: bytes, status: int, error: str) -> None:
    got_status, got_error, message = refusal_of(data)
    assert (got_status, got_error) == (status, error)
    zh, en = message.split(" / ")
    assert any("\u4e00" <= c <= "\u9fff" for c in zh) and en.isascii()


def test_a_photo_over_the_limit_is_refused_before_it_is_decoded() -> None:
    status, error, message = refusal_of(image_bytes("PNG"), max_bytes=100)
    assert (status, error) == (413, "too_large")
    assert "MB" in message


def test_metadata_is_stripped_and_the_orientation_applied() -> None:
    raw = jpeg_with_metadata()
    assert SECRET_TEXT in raw
    clean = clean_image(raw)
    assert clean.content_type == "image/jpeg" and clean.data[:3] == b"\xff\xd8\xff"
    assert SECRET_TEXT not in clean.data and b"Exif" not in clean.data and b"ICC" not in clean.data
    reopened = Image.open(io.BytesIO(clean.data))
    assert not reopened.getexif() and "icc_profile" not in reopened.info
    assert (clean.width, clean.height) == (40, 80) == reopened.size  # rotated upright


def test_text_chunks_and_appended_payloads_do_not_survive() -> None:
    png = clean_image(png_with_text())
    assert SCRIPT not in png.data and b"tEXt" not in png.data
    polyglot = image_bytes("JPEG") + SCRIPT + b"PK\x03\x04" + b"\x00" * 30  # JPEG + HTML + ZIP
    assert Image.open(io.BytesIO(polyglot)).format == "JPEG"
    clean = clean_image(polyglot)
    assert SCRIPT not in clean.data and b"PK\x03\x04" not in clean.data
    webp = clean_image(image_bytes("WEBP", mode="RGB") + SCRIPT)
    assert webp.content_type == "image/webp" and SCRIPT not in webp.data


def test_big_photos_are_scaled_down_and_palettes_kept_as_pixels() -> None:
    big = clean_image(image_bytes("PNG", (3000, 1000)))
    assert (big.width, big.height) == (MAX_SIDE, 853)
    palette = clean_image(image_bytes("PNG", mode="P"))
    assert Image.open(io.BytesIO(palette.data)).mode in ("RGB", "RGBA")


# -- storage and limits -------------------------------------------------------------------
def test_the_store_names_photos_randomly_and_knows_their_session(tmp_path: Path) -> None:
    store = UploadStore(tmp_path / "uploads")
    image = clean_image(image_bytes("PNG"))
    first, second = store.save("a" * 32, image), store.save("a" * 32, image)
    assert first.upload_id != second.upload_id
    assert sorted(p.name for p in store.root.iterdir()) == sorted(
        [f"{first.upload_id}.png", f"{first.upload_id}.json",
         f"{second.upload_id}.png", f"{second.upload_id}.json"]
    )  # fmt: skip
    assert (store.root / first.filename).read_bytes() == image.data
    assert store.owner(first.upload_id) == "a" * 32
    for bad in (None, 3, "", "../" * 10 + "etc/passwd", "A" * 32, first.upload_id + "0"):
        assert store.owner(bad) is None
    (store.root / first.filename).unlink()
    assert store.owner(first.upload_id) is None  # its photo is gone
    (store.root / f"{second.upload_id}.json").write_text("{not json", encoding="utf-8")
    assert store.owner(second.upload_id) is None


def test_uploads_are_limited_per_session_and_per_address() -> None:
    guard = UploadGuard(DoorLimits(), session_per_hour=8, ip_per_hour=7)
    for i in range(5):
        assert guard.admit("s1", f"2001:db8:1:2::{i + 1}") is None  # one /64
    refused = guard.admit("s1", "198.51.100.1")
    assert refused is not None and (refused.status, refused.error) == (429, "rate_limited")
    assert refused.retry_after and refused.retry_after >= 1
    assert guard.admit("s2", "2001:db8:1:2::99") is None
    assert guard.admit("s3", "2001:db8:1:2:ffff::1") is None
    over = guard.admit("s4", "2001:db8:1:2::abc")  # the /64's 8th photo this hour
    assert over is not None and over.error == "rate_limited"
    for i in range(10):  # loopback (a local proxy, load tests) is not counted per address
        assert guard.admit(f"local{i}", "127.0.0.1") is None


def test_a_client_cannot_put_an_upload_id_in_the_metadata_itself() -> None:
    prepared = prepare_message(
        "look", {"upload_id": "f" * 32, "display_text": "x"}, DoorLimits(),
        secrets=[], accept_legacy=False,
    )  # fmt: skip
    assert not isinstance(prepared, type(None)) and "upload_id" not in prepared.metadata  # type: ignore[union-attr]


def test_history_marks_the_customers_photo_without_serving_it() -> None:
    from rasa.shared.core.events import UserUttered

    event = UserUttered("/send_photo", metadata={"upload_id": "a" * 32, "display_text": "📷"})
    item = history_item(event)
    assert item is not None and item["photo"] is True and item["text"] == "📷"
    assert "a" * 32 not in json.dumps(item)


# -- the route and the message, against a real Rasa server -----------------------------------
def upload(
    server: DoorServer, fields: dict[str, str], photo: bytes | None, **headers: str
) -> Reply:
    body, content_type = multipart(fields, photo)
    return http(
        f"{server.url}/webhooks/widget/upload",
        raw=body,
        headers={"Content-Type": content_type, **headers},
    )


def uploads_dir(server: DoorServer) -> Path:
    return server.log.parent / "uploads"


def stored_files(server: DoorServer) -> set[str]:
    folder = uploads_dir(server)
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def test_a_photo_is_stored_and_carried_by_the_next_message(door_server: DoorServer) -> None:
    async def scenario() -> tuple[str, dict[str, Any], dict[str, Any], list[Any]]:
        client = Client(door_server)
        session = await client.start()
        assert client.token
        fields = {"session_id": session, "session_token": client.token}
        reply = upload(door_server, fields, jpeg_with_metadata(), Origin=SITE_ORIGIN)
        assert reply.status == 201, reply.body
        assert reply.headers["access-control-allow-origin"] == SITE_ORIGIN
        ack = await client.say(
            "/send_photo", "p1", upload_id=reply.body["upload_id"],
            metadata={"display_text": "📷 图片"},
        )  # fmt: skip
        again = Client(door_server)
        await again.start(session, client.token)
        await client.close()
        await again.close()
        return session, reply.body, ack, again.named("history")[-1]["messages"]

    session, body, ack, messages = run(scenario())
    assert ack["ok"] is True, ack
    upload_id = body["upload_id"]
    assert body["content_type"] == "image/jpeg" and (body["width"], body["height"]) == (40, 80)
    photo = uploads_dir(door_server) / f"{upload_id}.jpg"
    assert SECRET_TEXT not in photo.read_bytes()
    described = json.loads((uploads_dir(door_server) / f"{upload_id}.json").read_text())
    assert described["session_id"] == session and described["bytes"] == photo.stat().st_size
    users = door_server.user_events(session)
    assert users[-1]["metadata"]["upload_id"] == upload_id
    assert [m.get("photo") for m in messages if m["role"] == "user"] == [True]


def test_uploads_need_the_sessions_token(door_server: DoorServer) -> None:
    async def scenario() -> tuple[str, str, str, str]:
        a, b = Client(door_server), Client(door_server)
        session_a, session_b = await a.start(), await b.start()
        assert a.token and b.token
        tokens = (a.token, b.token)
        await a.close()
        await b.close()
        return session_a, session_b, *tokens

    session_a, session_b, token_a, token_b = run(scenario())
    before = stored_files(door_server)
    for fields in (
        {"session_id": session_a},
        {"session_id": session_a, "session_token": token_b},  # another session's token
        {"session_id": session_a, "session_token": token_a[:-2] + "00"},
        {"session_id": "../../etc", "session_token": token_a},
        {},
    ):
        reply = upload(door_server, fields, image_bytes("PNG"))
        assert reply.status == 401 and reply.body["error"] == "unauthorized", fields
        assert " / " in reply.body["message"]
    assert upload(door_server, {"session_id": session_a, "session_token": token_a},
                  image_bytes("PNG"), Origin="https://evil.test").status == 403  # fmt: skip
    assert stored_files(door_server) == before


def test_hostile_uploads_get_polite_refusals_and_store_nothing(door_server: DoorServer) -> None:
    async def scenario() -> tuple[str, str]:
        client = Client(door_server)
        session = await client.start()
        await client.close()
        assert client.token
        return session, client.token

    session, token = run(scenario())
    fields = {"session_id": session, "session_token": token}
    before = stored_files(door_server)
    cases = [
        (b"", 400, "empty"),
        (SCRIPT, 415, "bad_type"),
        (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', 415, "bad_type"),
        (b"\xff\xd8\xff\xe0" + secrets.token_bytes(2000), 422, "bad_image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * (5 * 1024 * 1024 - 7), 413, "too_large"),
    ]
    for photo, status, error in cases:
        reply = upload(door_server, fields, photo)
        assert (reply.status, reply.body["error"]) == (status, error), (error, reply.body)
        assert reply.body["ok"] is False and " / " in reply.body["message"]
    missing = upload(door_server, fields, None)
    assert missing.status == 400 and missing.body["error"] == "empty"
    assert stored_files(door_server) == before
    assert run(announce_huge_upload(door_server)).startswith("HTTP/1.1 413")
    assert stored_files(door_server) == before


async def announce_huge_upload(server: DoorServer, length: int = 50_000_000) -> str:
    """Announces a ``length``-byte upload, sends 1 MB of it; returns the status line."""
    host, port = server.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"POST /webhooks/widget/upload HTTP/1.1\r\nHost: {host}\r\nContent-Length: {length}\r\n"
        "Content-Type: multipart/form-data; boundary=x\r\n\r\n".encode()
    )
    try:
        writer.write(b"x" * 1_000_000)
        await writer.drain()
    except (ConnectionError, OSError):
        pass  # refused and closed on the headers alone
    line = await asyncio.wait_for(reader.readline(), 30)
    writer.close()
    return line.decode()


def test_a_polyglot_is_stored_as_a_plain_image(door_server: DoorServer) -> None:
    async def scenario() -> tuple[str, str]:
        client = Client(door_server)
        session = await client.start()
        await client.close()
        assert client.token
        return session, client.token

    session, token = run(scenario())
    polyglot = image_bytes("JPEG") + SCRIPT + b"PK\x03\x04" + b"\x00" * 30
    reply = upload(door_server, {"session_id": session, "session_token": token}, polyglot)
    assert reply.status == 201, reply.body
    stored = (uploads_dir(door_server) / f"{reply.body['upload_id']}.jpg").read_bytes()
    assert SCRIPT not in stored and Image.open(io.BytesIO(stored)).format == "JPEG"


def test_a_message_cannot_carry_another_sessions_photo(door_server: DoorServer) -> None:
    async def scenario() -> tuple[str, list[dict[str, Any]]]:
        owner, other = Client(door_server), Client(door_server)
        await owner.start()
        session = await other.start()
        assert owner.token
        fields = {"session_id": owner.session_id or "", "session_token": owner.token}
        photo_id = upload(door_server, fields, image_bytes("PNG")).body["upload_id"]
        acks = [
            await other.say("/send_photo", "x1", upload_id=photo_id),
            await other.say("/send_photo", "x2", upload_id="0" * 32),
            await other.say("/send_photo", "x3", upload_id="../" + photo_id),
            await other.say("hello", "x4", metadata={"upload_id": photo_id}),
        ]
        await owner.close()
        await other.close()
        return session, acks

    session, acks = run(scenario())
    for ack in acks[:3]:
        assert ack["ok"] is False and ack["error"] == "bad_upload" and " / " in ack["message"]
    assert acks[3]["ok"] is True  # sent, but without the photo the client named itself
    assert [e["metadata"].get("upload_id") for e in door_server.user_events(session)] == [None]


def test_a_flooding_session_is_refused(door_server: DoorServer) -> None:
    async def scenario() -> tuple[str, str]:
        client = Client(door_server)
        session = await client.start()
        await client.close()
        assert client.token
        return session, client.token

    session, token = run(scenario())
    fields = {"session_id": session, "session_token": token}
    statuses = [upload(door_server, fields, image_bytes("PNG")) for _ in range(6)]
    assert [r.status for r in statuses] == [201] * 5 + [429]
    assert (
        statuses[-1].body["error"] == "rate_limited"
        and int(statuses[-1].headers["retry-after"]) >= 1
    )


def test_clean_image_type_is_usable_by_callers() -> None:
    clean = clean_image(image_bytes("WEBP"))
    assert isinstance(clean, CleanImage) and clean.extension == "webp"


def test_uploads_run_concurrently_without_blocking_the_loop(door_server: DoorServer) -> None:
    async def scenario() -> list[int]:
        clients = [Client(door_server) for _ in range(3)]
        sessions = [await c.start() for c in clients]
        photo = image_bytes("JPEG", (2000, 1500))
        loop = asyncio.get_running_loop()
        replies = await asyncio.gather(*(
            loop.run_in_executor(None, lambda s=s, c=c: upload(
                door_server, {"session_id": s, "session_token": c.token or ""}, photo))
            for s, c in zip(sessions, clients, strict=True)
        ))  # fmt: skip
        for c in clients:
            await c.close()
        return [r.status for r in replies]

    assert run(scenario()) == [201, 201, 201]


def test_malformed_upload_requests_are_refused(door_server: DoorServer) -> None:
    url = f"{door_server.url}/webhooks/widget/upload"
    bodies: list[tuple[bytes, str]] = [
        (json.dumps({"session_id": "a" * 32, "photo": "x"}).encode(), "application/json"),
        (b"\xff\xfe\x00garbage", "multipart/form-data; boundary=nothing"),
        (
            b'--b\r\nContent-Disposition: form-data; name="session_id"\r\n\r\n'
            b"\xff\xfe\xed\xa0\x80\r\n--b--\r\n",  # invalid UTF-8, an encoded lone surrogate
            "multipart/form-data; boundary=b",
        ),
        (b"", "image/jpeg"),
    ]  # fmt: skip
    before = stored_files(door_server)
    for body, content_type in bodies:
        reply = http(url, raw=body, headers={"Content-Type": content_type})
        assert reply.status in (400, 401), (content_type, reply.status, reply.body)
        assert reply.body["ok"] is False and " / " in reply.body["message"]
    assert stored_files(door_server) == before
