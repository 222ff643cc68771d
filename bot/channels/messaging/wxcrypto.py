"""WXBizMsgCrypt: the message encryption of WeCom (企业微信) and WeChat (微信公众号) callbacks.

Both platforms document the same algorithm (WeCom: "加解密方案说明"; WeChat Official
Account: "消息加解密说明", safe mode):

* ``signature = sha1("".join(sorted([token, timestamp, nonce, encrypted])))`` in lower-case
  hex (WeChat's plaintext-mode ``signature`` is the same without ``encrypted``);
* ``key = base64decode(EncodingAESKey + "=")`` (43 characters -> 32 bytes), AES-256-CBC with
  ``IV = key[:16]``;
* plaintext = 16 random bytes + the message length (4 bytes, big-endian) + the message
  (UTF-8) + the receive id (the WeCom corp id or the WeChat app id), padded with PKCS#7 to
  a multiple of **32** bytes; the ciphertext travels base64-encoded;
* on decryption the receive id must equal ours.

We implement it here rather than import an SDK into the Rasa environment: the SDKs
(``wechatpy``) pull in blocking ``requests`` clients that have no place in Rasa's event
loop, and the algorithm is 60 lines. The tests hold it to WeCom's documented worked example
and cross-check it both ways against ``wechatpy`` in the main environment.
Uses ``cryptography`` (a Rasa dependency).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

#: The block size of the PKCS#7 padding both platforms use (not AES's 16).
PAD_BLOCK = 32
#: Length of an EncodingAESKey (base64 of 32 bytes without the trailing "=").
AES_KEY_CHARS = 43
#: Largest ciphertext accepted, in base64 characters.
MAX_ENCRYPTED_CHARS = 64 * 1024
_B64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
_KEY = re.compile(r"^[A-Za-z0-9+/]{43}$")


class WXCryptoError(ValueError):
    """A message that cannot be authenticated or decrypted."""


class SignatureError(WXCryptoError):
    """The signature does not match."""


class ReceiveIdError(WXCryptoError):
    """The decrypted message is for another corp id / app id."""


def sha1_signature(*parts: str) -> str:
    """The platforms' signature: sha1 of the sorted parts concatenated, lower-case hex.

    Args:
        parts: The token, timestamp, nonce and (in safe mode) the encrypted message.

    Returns:
        40 hex digits.
    """
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def signature_matches(expected: str, given: str | None) -> bool:
    """Whether ``given`` equals ``expected``, in constant time (``None`` never matches)."""
    if not given or not given.isascii():
        return False
    return hmac.compare_digest(expected, given.lower())


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key of an EncodingAESKey.

    Raises:
        ValueError: If it is not 43 base64 characters.
    """
    if not _KEY.match(encoding_aes_key or ""):
        raise ValueError("EncodingAESKey must be 43 base64 characters")
    return base64.b64decode(encoding_aes_key + "=")


class WXBizMsgCrypt:
    """Signs, encrypts and decrypts callback messages of one WeCom app or WeChat account.

    Args:
        token: The callback Token.
        encoding_aes_key: The 43-character EncodingAESKey.
        receive_id: The corp id (WeCom) or app id (WeChat).
    """

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str) -> None:
        self.token = token
        self.key = aes_key(encoding_aes_key)
        self.receive_id = receive_id.encode("utf-8")

    def signature(self, timestamp: str, nonce: str, encrypted: str = "") -> str:
        """The signature of a message (``msg_signature``), or the plain ``signature``."""
        if encrypted:
            return sha1_signature(self.token, timestamp, nonce, encrypted)
        return sha1_signature(self.token, timestamp, nonce)

    def check(self, signature: str | None, timestamp: str, nonce: str, encrypted: str) -> None:
        """Raises :class:`SignatureError` unless ``signature`` signs the message."""
        if not signature_matches(self.signature(timestamp, nonce, encrypted), signature):
            raise SignatureError("bad signature")

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def encrypt(self, message: bytes | str, random16: bytes | None = None) -> str:
        """Encrypts one message for the platform (base64 text).

        Args:
            message: The plaintext (text is encoded as UTF-8).
            random16: The 16 leading random bytes (tests pass fixed ones).

        Returns:
            The base64 ciphertext.
        """
        body = message.encode("utf-8") if isinstance(message, str) else message
        prefix = random16 if random16 is not None else os.urandom(16)
        if len(prefix) != 16:
            raise ValueError("random16 must be 16 bytes")
        plain = prefix + struct.pack(">I", len(body)) + body + self.receive_id
        pad = PAD_BLOCK - len(plain) % PAD_BLOCK
        plain += bytes([pad]) * pad
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode("ascii")

    def decrypt(self, encrypted: str) -> bytes:
        """Decrypts one base64 ciphertext and checks its receive id.

        Returns:
            The message bytes.

        Raises:
            WXCryptoError: Not base64, not whole blocks, bad padding or length.
            ReceiveIdError: For another corp id / app id.
        """
        if len(encrypted) > MAX_ENCRYPTED_CHARS or not _B64.match(encrypted):
            raise WXCryptoError("not base64")
        try:
            raw = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise WXCryptoError("not base64") from None
        if not raw or len(raw) % 16:
            raise WXCryptoError("not whole AES blocks")
        decryptor = self._cipher().decryptor()
        plain = decryptor.update(raw) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= PAD_BLOCK or pad > len(plain):
            raise WXCryptoError("bad padding")
        content = plain[16:-pad]
        if len(content) < 4:
            raise WXCryptoError("too short")
        (length,) = struct.unpack(">I", content[:4])
        if length > len(content) - 4:
            raise WXCryptoError("bad length")
        message, receive_id = content[4 : 4 + length], content[4 + length :]
        if not hmac.compare_digest(receive_id, self.receive_id):
            raise ReceiveIdError("message for another receive id")
        return message

    def decrypt_signed(
        self, signature: str | None, timestamp: str, nonce: str, encrypted: str
    ) -> bytes:
        """Checks the signature, then decrypts (the receive id checked too)."""
        self.check(signature, timestamp, nonce, encrypted)
        return self.decrypt(encrypted)

    def encrypt_reply(self, xml: str, timestamp: str, nonce: str) -> dict[str, str]:
        """The fields of an encrypted passive reply: Encrypt, MsgSignature, TimeStamp, Nonce.

        Args:
            xml: The plaintext reply document.
            timestamp: The timestamp to sign (seconds, as text).
            nonce: The nonce to sign.

        Returns:
            The fields, in the documented order (render with ``wxxml.render_xml``).
        """
        encrypted = self.encrypt(xml)
        return {
            "Encrypt": encrypted,
            "MsgSignature": self.signature(timestamp, nonce, encrypted),
            "TimeStamp": timestamp,
            "Nonce": nonce,
        }
