"""A customer's photo: its type by its first bytes, and a clean re-encoding.

:func:`clean_image` is the check and the cleaning of :mod:`bot.channels.uploads`: empty or
too large, not a JPEG, PNG or WebP by its first bytes (never by its name or declared type),
not decodable by Pillow as that format, or more than :data:`MAX_PIXELS` pixels (read from
the header before decoding) -> :class:`ImageRefused` with a bilingual message. Otherwise
the photo is re-encoded in its own format: first frame only, EXIF orientation applied,
longest side at most :data:`MAX_SIDE`, and nothing else (no EXIF/GPS, XMP, ICC profile,
comments, text chunks, nor bytes appended after the image, e.g. a polyglot's payload).
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps

from bot.channels.limits import ERROR_EMPTY, ERROR_TOO_LARGE, Refusal

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
#: Most pixels of a photo (read from its header before it is decoded).
MAX_PIXELS = 40_000_000
#: Longest side of the stored photo.
MAX_SIDE = 2560
JPEG_QUALITY = 88
WEBP_QUALITY = 85

JPEG, PNG, WEBP = "image/jpeg", "image/png", "image/webp"
#: Content type -> (Pillow format, file extension).
FORMATS: dict[str, tuple[str, str]] = {
    JPEG: ("JPEG", "jpg"),
    PNG: ("PNG", "png"),
    WEBP: ("WEBP", "webp"),
}

ERROR_BAD_TYPE = "bad_type"
ERROR_BAD_IMAGE = "bad_image"
ERROR_TOO_MANY_PIXELS = "too_many_pixels"
MESSAGE_EMPTY_PHOTO = "图片是空的。 / The photo is empty."
MESSAGE_BAD_TYPE = (
    "只能发送 JPEG、PNG 或 WebP 格式的图片。 / Only JPEG, PNG or WebP photos can be sent."
)
MESSAGE_BAD_IMAGE = "图片无法读取，可能已损坏。 / The photo could not be read; it may be damaged."
MESSAGE_TOO_MANY_PIXELS = (
    "图片尺寸太大了，请缩小后再发送。 / The photo's dimensions are too large; please resize it."
)


def too_large_message(limit: int) -> str:
    """The polite refusal of an over-large photo (zh / en)."""
    mib = limit / (1024 * 1024)
    return (
        f"图片太大了（最大 {mib:g} MB），请压缩后再发送。 / "
        f"The photo is too large ({mib:g} MB at most); please send a smaller one."
    )


def sniff(data: bytes) -> str | None:
    """The content type of an image by its first bytes: JPEG, PNG or WebP, else None."""
    if data[:3] == b"\xff\xd8\xff":
        return JPEG
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return PNG
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    return None


@dataclass(frozen=True)
class CleanImage:
    """A photo after :func:`clean_image`: re-encoded bytes and what they are."""

    content_type: str
    data: bytes
    width: int
    height: int

    @property
    def extension(self) -> str:
        """The file extension of its type."""
        return FORMATS[self.content_type][1]


class ImageRefused(ValueError):
    """A photo that is not stored; ``refusal`` says why and how to tell the customer."""

    def __init__(self, refusal: Refusal) -> None:
        """Wraps the refusal."""
        super().__init__(refusal.error)
        self.refusal = refusal


def _refuse(status: int, error: str, message: str, limit: int | None = None) -> ImageRefused:
    return ImageRefused(Refusal(status, error, message, limit=limit))


def clean_image(data: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> CleanImage:
    """Checks a photo and re-encodes it without any metadata.

    Args:
        data: The bytes the customer sent.
        max_bytes: The largest accepted photo.

    Returns:
        The cleaned photo (same format, first frame, orientation applied, at most
        :data:`MAX_SIDE` pixels on its longest side).

    Raises:
        ImageRefused: Empty, too large, not JPEG/PNG/WebP by its bytes, undecodable, or
            more than :data:`MAX_PIXELS` pixels.
    """
    if not data:
        raise _refuse(400, ERROR_EMPTY, MESSAGE_EMPTY_PHOTO)
    if len(data) > max_bytes:
        raise _refuse(413, ERROR_TOO_LARGE, too_large_message(max_bytes), limit=max_bytes)
    content_type = sniff(data)
    if content_type is None:
        raise _refuse(415, ERROR_BAD_TYPE, MESSAGE_BAD_TYPE)
    pil_format = FORMATS[content_type][0]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[pil_format])
            if image.width * image.height > MAX_PIXELS:
                raise _refuse(422, ERROR_TOO_MANY_PIXELS, MESSAGE_TOO_MANY_PIXELS)
            if content_type == JPEG:
                image.draft("RGB", (MAX_SIDE, MAX_SIDE))
            image.load()
            image = ImageOps.exif_transpose(image) or image
            image = _normalise_mode(image, content_type)
            image.thumbnail((MAX_SIDE, MAX_SIDE))
            image.info = {}
            out = io.BytesIO()
            if content_type == JPEG:
                image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
            elif content_type == PNG:
                image.save(out, "PNG", optimize=False)
            else:
                image.save(out, "WEBP", quality=WEBP_QUALITY)
    except ImageRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise _refuse(422, ERROR_TOO_MANY_PIXELS, MESSAGE_TOO_MANY_PIXELS) from error
    except Exception as error:  # noqa: BLE001 - any decoder failure means "not an image"
        logger.info("Refused a photo that does not decode: %s", type(error).__name__)
        raise _refuse(422, ERROR_BAD_IMAGE, MESSAGE_BAD_IMAGE) from error
    return CleanImage(content_type, out.getvalue(), image.width, image.height)


def _normalise_mode(image: Image.Image, content_type: str) -> Image.Image:
    """The image in a mode its format stores plainly (RGB or L for JPEG, RGB(A) otherwise)."""
    if content_type == JPEG:
        return image if image.mode in ("RGB", "L") else image.convert("RGB")
    if image.mode in ("RGB", "RGBA", "L", "LA") and content_type == PNG:
        return image
    if image.mode in ("RGB", "RGBA"):
        return image
    has_alpha = "A" in image.getbands() or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")
