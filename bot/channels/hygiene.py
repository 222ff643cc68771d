"""Text and metadata hygiene at the doors: what every stored string must be.

Lone surrogates and control characters (except newline and tab) are removed, carriage
returns become newlines and text is NFC-normalised: the result encodes as UTF-8 and is safe
for PostgreSQL (no NUL) and for the console. Metadata is cleaned string by string, keys too,
and may nest only :data:`MAX_METADATA_DEPTH` deep. Standard library only.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from typing import Any

#: Deepest nesting of lists and objects accepted in metadata.
MAX_METADATA_DEPTH = 8

# Python strings decoded from JSON hold a surrogate code point only when it was unpaired.
_SURROGATES = re.compile("[\ud800-\udfff]")
# C0 and C1 control characters and DEL, except tab and newline.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_text(text: str) -> str:
    r"""Removes lone surrogates and control characters (keeps ``\n`` and ``\t``), NFC.

    Carriage returns become newlines. The result is safe to store anywhere (PostgreSQL
    refuses NUL; UTF-8 encoders refuse lone surrogates).

    Args:
        text: Any string.

    Returns:
        The cleaned, NFC-normalised string.
    """
    text = _SURROGATES.sub("", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROLS.sub("", text)
    return unicodedata.normalize("NFC", text)


class MetadataError(ValueError):
    """Metadata that is not a JSON object of reasonable depth."""


def clean_metadata(value: Any, depth: int = 0) -> Any:
    """A copy of JSON metadata with every string (keys too) cleaned by :func:`clean_text`.

    Args:
        value: A JSON value (as decoded by ``json.loads``).
        depth: The current nesting depth (callers leave it at 0).

    Returns:
        The cleaned copy.

    Raises:
        MetadataError: If it nests deeper than :data:`MAX_METADATA_DEPTH` or holds something
            JSON cannot hold.
    """
    if depth > MAX_METADATA_DEPTH:
        raise MetadataError("metadata nests too deep")
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise MetadataError("metadata holds a non-finite number")
        return value
    if isinstance(value, list):
        return [clean_metadata(item, depth + 1) for item in value]
    if isinstance(value, dict):
        return {
            clean_text(str(key)): clean_metadata(item, depth + 1) for key, item in value.items()
        }
    raise MetadataError(f"metadata holds a {type(value).__name__}")


def json_size(value: Any) -> int:
    """Size in bytes of ``value`` as compact UTF-8 JSON (a lone surrogate counts 3 bytes)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return len(text.encode("utf-8", "surrogatepass"))
