"""Photos a widget customer attaches: checked, cleaned, stored, flood-limited.

``POST /webhooks/widget/upload`` (a ``multipart/form-data`` body: ``session_id``,
``session_token`` and the image in ``photo``; a "simple" cross-origin request, so browsers
send no preflight) stores one photo of a widget session:

* the session token must be a valid one of that session (:mod:`bot.channels.widget_session`);
* the photo is at most ``UPLOAD_MAX_BYTES`` (default 5 MiB) and, by its first bytes (never
  by its name or declared type), a JPEG, PNG or WebP; Pillow must decode it as that format,
  with at most 40 million pixels (:mod:`bot.channels.photos`);
* it is re-encoded (first frame only, orientation applied, longest side at most 2560
  pixels), so no EXIF/GPS, XMP, ICC, comments, text chunks or bytes appended to the image
  (a polyglot's payload) survive;
* it is written under ``UPLOAD_DIR`` (default ``var/uploads``) as ``<id>.<jpg|png|webp>``
  with a random 32-hex-digit id, beside ``<id>.json`` naming its session, type, size and
  SHA-256;
* the body is read only by this route, up to ``UPLOAD_MAX_BYTES`` + 64 KiB (Sanic's global
  cap of every other route stays as :mod:`bot.serve` sets it);
* per session at most 5 photos a minute and 20 an hour, per client address (IPv6 per /64) at
  most 60 an hour (loopback exempt like the door's own limit); at most two are decoded at
  once.

The answer is ``201 {"ok": true, "upload_id", "content_type", "bytes", "width", "height"}``
or ``{"ok": false, "error", "message": "<zh> / <en>"}`` with 400 (``empty``, ``bad_request``),
401 (``unauthorized``), 403 (origin), 413 (``too_large``), 415 (``bad_type``), 422
(``bad_image``, ``too_many_pixels``) or 429 (``rate_limited`` with ``Retry-After``).

The customer then sends a chat message with ``upload_id`` beside ``client_id``; the widget
channel accepts it only for an upload of the same session (:meth:`UploadStore.owner`) and
records it as ``metadata.upload_id`` (the door drops any ``upload_id`` a client puts in the
metadata itself). Several Rasa servers must share ``UPLOAD_DIR`` (and the web app reads it
to show the photo in the console).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sanic import Blueprint, response
from sanic.exceptions import PayloadTooLarge
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.limits import (
    ERROR_EMPTY,
    ERROR_RATE_LIMITED,
    ERROR_TOO_LARGE,
    MESSAGE_TOO_FAST,
    DoorLimits,
    RateWindow,
    Refusal,
    client_address,
    is_loopback,
    rate_key,
)
from bot.channels.photos import (
    DEFAULT_MAX_BYTES,
    FORMATS,
    MESSAGE_EMPTY_PHOTO,
    CleanImage,
    ImageRefused,
    clean_image,
    too_large_message,
)

if TYPE_CHECKING:
    from bot.channels.widget import WidgetInput

logger = logging.getLogger(__name__)

ENV_UPLOAD_DIR = "UPLOAD_DIR"
ENV_UPLOAD_MAX_BYTES = "UPLOAD_MAX_BYTES"
DEFAULT_UPLOAD_DIR = "var/uploads"
DEFAULT_SESSION_PER_HOUR = 20
DEFAULT_IP_PER_HOUR = 60
SESSION_PER_MINUTE = 5
#: Multipart framing and the two form fields around the photo.
FORM_OVERHEAD_BYTES = 64 * 1024
#: Photos decoded at the same time (the rest wait).
MAX_CONCURRENT = 2
UPLOAD_ID_RE = re.compile(r"^[0-9a-f]{32}$")
META_UPLOAD_ID = "upload_id"


ERROR_UNAUTHORIZED = "unauthorized"
ERROR_BAD_REQUEST = "bad_request"
ERROR_BAD_UPLOAD = "bad_upload"
MESSAGE_UNAUTHORIZED = (
    "会话已失效，请刷新页面后再发送图片。 / Your chat session has expired; reload the page and "
    "send the photo again."
)
MESSAGE_BAD_REQUEST = "请求格式无效。 / The request is not valid."
MESSAGE_BAD_UPLOAD = (
    "找不到这张图片，请重新选择后再发送。 / That photo was not found; please attach it again."
)


@dataclass(frozen=True)
class StoredUpload:
    """One stored photo, as its ``<id>.json`` describes it."""

    upload_id: str
    session_id: str
    content_type: str
    bytes: int
    width: int
    height: int
    sha256: str
    created_at: float

    @property
    def filename(self) -> str:
        """The photo's file name under the upload folder."""
        return f"{self.upload_id}.{FORMATS[self.content_type][1]}"


class UploadStore:
    """The upload folder: photos with random names, each beside its JSON description."""

    def __init__(self, root: Path) -> None:
        """Uses ``root`` (created on the first upload)."""
        self.root = root

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> UploadStore:
        """The store at ``UPLOAD_DIR`` (default ``var/uploads``, relative to the working dir)."""
        env = os.environ if environ is None else environ
        return cls(Path(env.get(ENV_UPLOAD_DIR, "").strip() or DEFAULT_UPLOAD_DIR))

    def save(self, session_id: str, image: CleanImage) -> StoredUpload:
        """Writes a cleaned photo of ``session_id`` under a new random id.

        Args:
            session_id: The widget session it belongs to.
            image: The cleaned photo.

        Returns:
            What was stored.
        """
        self.root.mkdir(parents=True, exist_ok=True, mode=0o750)
        upload = StoredUpload(
            upload_id=secrets.token_hex(16),
            session_id=session_id,
            content_type=image.content_type,
            bytes=len(image.data),
            width=image.width,
            height=image.height,
            sha256=hashlib.sha256(image.data).hexdigest(),
            created_at=time.time(),
        )
        self._write(upload.filename, image.data)
        description = json.dumps(upload.__dict__, sort_keys=True).encode("utf-8")
        self._write(f"{upload.upload_id}.json", description)
        return upload

    def _write(self, name: str, data: bytes) -> None:
        """Writes a file atomically (a temporary file renamed into place)."""
        final = self.root / name
        temporary = self.root / f".{name}.{secrets.token_hex(4)}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(temporary, final)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    def get(self, upload_id: Any) -> StoredUpload | None:
        """The stored photo with this id, or None (malformed id, missing or broken files)."""
        if not isinstance(upload_id, str) or not UPLOAD_ID_RE.match(upload_id):
            return None
        try:
            raw = json.loads((self.root / f"{upload_id}.json").read_text(encoding="utf-8"))
            upload = StoredUpload(**raw)
        except (OSError, ValueError, TypeError):
            return None
        if upload.upload_id != upload_id or upload.content_type not in FORMATS:
            return None
        if not (self.root / upload.filename).is_file():
            return None
        return upload

    def owner(self, upload_id: Any) -> str | None:
        """The session a stored photo belongs to, or None if there is no such photo."""
        upload = self.get(upload_id)
        return upload.session_id if upload is not None else None


def _env_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    if raw:
        logger.warning("%s=%r is not a positive whole number; using %d", name, raw, default)
    return default


class UploadGuard:
    """The flood limits of uploads: per session (a minute, an hour) and per client address."""

    def __init__(
        self,
        limits: DoorLimits,
        *,
        session_per_hour: int = DEFAULT_SESSION_PER_HOUR,
        ip_per_hour: int = DEFAULT_IP_PER_HOUR,
    ) -> None:
        """Creates the counters.

        Args:
            limits: The door limits (loopback exemption of the address limit).
            session_per_hour: Most photos of one session in an hour.
            ip_per_hour: Most photos of one client address (IPv6: /64) in an hour.
        """
        self.limits = limits
        self.session_minute = RateWindow(SESSION_PER_MINUTE)
        self.session_hour = RateWindow(session_per_hour, 3600.0)
        self.addresses = RateWindow(ip_per_hour, 3600.0)

    def admit(self, session_id: str, address: str) -> Refusal | None:
        """Counts one upload; a 429 refusal when the session or the address is over its limit."""
        if not (self.limits.exempt_loopback and is_loopback(address)):
            wait = self.addresses.hit(rate_key(address))
            if wait:
                logger.warning("Upload limit: client %s is over its hourly limit", address)
                return Refusal(429, ERROR_RATE_LIMITED, MESSAGE_TOO_FAST, retry_after=wait)
        wait = self.session_minute.hit(session_id) or self.session_hour.hit(session_id)
        if wait:
            logger.warning("Upload limit: session %s is over its limit", session_id)
            return Refusal(429, ERROR_RATE_LIMITED, MESSAGE_TOO_FAST, retry_after=wait)
        return None


class Uploads:
    """Everything the widget channel needs for photos: settings, store, limits."""

    def __init__(
        self, store: UploadStore, guard: UploadGuard, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        """Creates the upload handling of one channel."""
        self.store = store
        self.guard = guard
        self.max_bytes = max_bytes
        self._decoding = asyncio.Semaphore(MAX_CONCURRENT)

    @classmethod
    def from_env(cls, limits: DoorLimits, environ: Mapping[str, str] | None = None) -> Uploads:
        """The upload handling configured by ``UPLOAD_DIR`` and ``UPLOAD_MAX_BYTES``."""
        env = os.environ if environ is None else environ
        guard = UploadGuard(limits)
        return cls(
            UploadStore.from_env(env), guard, _env_int(env, ENV_UPLOAD_MAX_BYTES, DEFAULT_MAX_BYTES)
        )

    async def clean(self, data: bytes) -> CleanImage:
        """:func:`clean_image` in a worker thread, at most :data:`MAX_CONCURRENT` at once."""
        async with self._decoding:
            return await asyncio.get_running_loop().run_in_executor(
                None, clean_image, data, self.max_bytes
            )


def _answer(refusal: Refusal, headers: dict[str, str]) -> HTTPResponse:
    if refusal.retry_after is not None:
        headers = {**headers, "Retry-After": str(refusal.retry_after)}
    return response.json({"ok": False, **refusal.body()}, status=refusal.status, headers=headers)


async def _receive_body(request: Request, limit: int) -> bool:
    """Reads the body of a streamed request up to ``limit`` bytes; False if it is larger.

    The route streams, so Sanic has not read the body (nor applied its global cap, which
    stays small for every other route): a larger announced body is refused on its headers,
    and the reading stops at ``limit`` bytes.
    """
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        return False
    stream = request.stream
    if stream is not None and hasattr(stream, "request_max_size"):
        stream.request_max_size = limit
    try:
        await request.receive_body()
    except PayloadTooLarge:
        return False
    return len(request.body or b"") <= limit


def add_upload_route(bp: Blueprint, channel: WidgetInput, cors_flag: str) -> None:
    """Adds ``POST /upload`` (see the module docstring) to the channel's blueprint.

    Args:
        bp: The channel's blueprint.
        channel: The widget channel (tokens, limits, uploads).
        cors_flag: The request attribute telling Sanic-CORS the headers are set.
    """

    @bp.route("/upload", methods=["POST"], stream=True)
    async def upload(request: Request) -> HTTPResponse:
        setattr(request.ctx, cors_flag, True)
        headers = {"Cache-Control": "no-store", "Vary": "Origin"}
        origin = request.headers.get("Origin")
        if origin is not None:
            if not channel.limits.origin_allowed(origin):
                return response.json({"error": "origin not allowed"}, status=403, headers=headers)
            headers["Access-Control-Allow-Origin"] = origin
        uploads = channel.uploads
        if not await _receive_body(request, uploads.max_bytes + FORM_OVERHEAD_BYTES):
            limit = uploads.max_bytes
            refusal = Refusal(413, ERROR_TOO_LARGE, too_large_message(limit), limit=limit)
            return _answer(refusal, headers)
        try:
            form, files = request.form, request.files
        except Exception:  # noqa: BLE001 - a malformed multipart body
            return _answer(Refusal(400, ERROR_BAD_REQUEST, MESSAGE_BAD_REQUEST), headers)
        session_id = form.get("session_id") if form else None
        token = form.get("session_token") if form else None
        if not channel.tokens.verify(session_id, token):
            return _answer(Refusal(401, ERROR_UNAUTHORIZED, MESSAGE_UNAUTHORIZED), headers)
        assert isinstance(session_id, str)
        photo = files.get("photo") if files else None
        if photo is None:
            return _answer(Refusal(400, ERROR_EMPTY, MESSAGE_EMPTY_PHOTO), headers)
        address = client_address(
            request.ip or "", request.headers.get("X-Forwarded-For"), channel.limits.trusted_proxies
        )
        if (refusal := uploads.guard.admit(session_id, address)) is not None:
            return _answer(refusal, headers)
        try:
            image = await uploads.clean(bytes(photo.body))
        except ImageRefused as refused:
            return _answer(refused.refusal, headers)
        stored = await asyncio.get_running_loop().run_in_executor(
            None, uploads.store.save, session_id, image
        )
        logger.info(
            "Stored photo %s of widget session %s (%s, %d bytes)",
            stored.upload_id,
            session_id,
            stored.content_type,
            stored.bytes,
        )
        body = {
            "ok": True,
            "upload_id": stored.upload_id,
            "content_type": stored.content_type,
            "bytes": stored.bytes,
            "width": stored.width,
            "height": stored.height,
        }
        return response.json(body, status=201, headers=headers)
