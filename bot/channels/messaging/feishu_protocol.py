"""Feishu / Lark wire format: request signatures, AES bodies, message content, cards.

Pure functions of :mod:`bot.channels.messaging.feishu` (and of its tests' vectors):

* :func:`signature`: ``X-Lark-Signature`` = SHA-256 hex of ``timestamp + nonce + encrypt key
  + raw body``;
* :func:`decrypt` / :func:`encrypt`: ``{"encrypt": ...}`` bodies, AES-256-CBC with key
  SHA-256(encrypt key), the IV the first 16 bytes of the base64-decoded data, PKCS#7 (the
  documented example: key ``test key``, ``P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=`` is
  ``hello world``);
* :func:`message_text`: the text of an ``im.message.receive_v1`` message (``text`` or rich text
  ``post``), ``@`` mentions removed;
* :func:`card_of`: an interactive card with buttons.

Rasa environment (``cryptography``); no Rasa import.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

_MENTION_RE = re.compile(r"@_(?:user_\d+|all)")


class FeishuCryptoError(ValueError):
    """An encrypted body that does not decrypt (bad base64, length, padding or UTF-8)."""


def signature(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    """Feishu's request signature: SHA-256 hex of ``timestamp + nonce + key + body``."""
    data = (timestamp + nonce + encrypt_key).encode("utf-8", "surrogateescape") + body
    return hashlib.sha256(data).hexdigest()


def _aes_key(encrypt_key: str) -> bytes:
    return hashlib.sha256(encrypt_key.encode("utf-8")).digest()


def decrypt(encrypt_key: str, encrypted: str) -> str:
    """Decrypts an ``{"encrypt": ...}`` body's value to its JSON text.

    Raises:
        FeishuCryptoError: If it is not base64 of an IV and whole AES blocks with valid PKCS#7
            padding, or the plaintext is not UTF-8.
    """
    try:
        data = base64.b64decode(encrypted.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as error:
        raise FeishuCryptoError("not base64") from error
    if len(data) < 32 or len(data) % 16:
        raise FeishuCryptoError("not whole AES blocks")
    decryptor = Cipher(algorithms.AES(_aes_key(encrypt_key)), modes.CBC(data[:16])).decryptor()
    padded = decryptor.update(data[16:]) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        plain = unpadder.update(padded) + unpadder.finalize()
        return plain.decode("utf-8")
    except (ValueError, UnicodeDecodeError) as error:
        raise FeishuCryptoError("bad padding or not UTF-8") from error


def encrypt(encrypt_key: str, plaintext: str, iv: bytes) -> str:
    """Encrypts like Feishu does (tests and vectors; the channel only decrypts)."""
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext.encode("utf-8")) + padder.finalize()
    encryptor = Cipher(algorithms.AES(_aes_key(encrypt_key)), modes.CBC(iv)).encryptor()
    return base64.b64encode(iv + encryptor.update(padded) + encryptor.finalize()).decode("ascii")


def _post_text(content: dict[str, Any]) -> str:
    """The text of a rich-text (``post``) message: its title and text runs, line by line."""
    body = content
    if "content" not in body:  # {"zh_cn": {...}} form: the first language given
        body = next((v for v in content.values() if isinstance(v, dict)), {})
    lines = []
    title = body.get("title")
    if isinstance(title, str) and title.strip():
        lines.append(title)
    paragraphs = body.get("content")
    for paragraph in paragraphs if isinstance(paragraphs, list) else []:
        runs = paragraph if isinstance(paragraph, list) else []
        parts = [
            run["text"]
            for run in runs
            if isinstance(run, dict)
            and run.get("tag") in ("text", "a", "md")
            and isinstance(run.get("text"), str)
        ]
        lines.append("".join(parts))
    return "\n".join(lines)


def message_text(message: dict[str, Any]) -> str | None:
    """The text a customer wrote: a ``text`` or ``post`` message, ``@`` mentions removed.

    Returns:
        The text, or None for other message types (images, files, stickers...) and bad
        content.
    """
    kind = message.get("message_type")
    raw = message.get("content")
    if kind not in ("text", "post") or not isinstance(raw, str):
        return None
    try:
        content = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(content, dict):
        return None
    if kind == "text":
        text = content.get("text")
        if not isinstance(text, str):
            return None
    else:
        text = _post_text(content)
    mentions = message.get("mentions")
    for mention in mentions if isinstance(mentions, list) else []:
        key = mention.get("key") if isinstance(mention, dict) else None
        if isinstance(key, str) and key:
            text = text.replace(key, "")
    return _MENTION_RE.sub("", text).strip()


def card_of(text: str, buttons: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """An interactive card: the text, then one button per quick reply.

    A button's ``value`` (signed back to us by Feishu when pressed, not editable by the
    customer) holds the payload; a press is answered in the presser's private chat.
    """
    elements: list[dict[str, Any]] = []
    if text:
        elements.append({"tag": "div", "text": {"tag": "plain_text", "content": text}})
    elements.append(
        {
            "tag": "action",
            "actions": [
                {
                    "tag": "button",
                    "text": {"tag": "plain_text", "content": title},
                    "type": "default",
                    "value": {"payload": payload},
                }
                for title, payload in buttons
            ],
        }
    )
    return {"config": {"wide_screen_mode": True}, "elements": elements}
