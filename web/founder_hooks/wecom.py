"""The founder's WeCom (企业微信) alert app: callbacks in, acknowledgements out.

WeCom signs every callback with ``msg_signature = sha1(sort(token, timestamp, nonce,
encrypt))`` and encrypts the message with AES-256-CBC under the EncodingAESKey (the corp id
inside the plaintext). The signature is computed and compared here in constant time, the
timestamp must be within :data:`MAX_SKEW_S` of the clock, and only then is the payload
decrypted with wechatpy's ``WeChatCrypto`` machinery (which also checks the corp id). The
outer and inner XML are read with :mod:`web.founder_hooks.safexml` (no DTD, no entities).

Acknowledgements go through the app's message-send API with an access token
(``gettoken``, cached until shortly before it expires).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import threading
import time
from typing import Any

import httpx
from wechatpy.enterprise.crypto import WeChatCrypto

from web.founder_hooks.config import HookSettings
from web.founder_hooks.door import MAX_REPLY_CHARS, Refused, clean_reply
from web.founder_hooks.message import KIND_WECOM, FounderMessage
from web.founder_hooks.safexml import XMLError, parse_flat_xml

logger = logging.getLogger(__name__)

#: How far a callback's timestamp may be from the clock (forged or replayed requests).
MAX_SKEW_S = 300
MAX_PARAM_CHARS = 1024
MAX_ECHO_CHARS = 4096
SEND_TIMEOUT_S = 10.0
TOKEN_MARGIN_S = 300
#: WeCom's longest text message, in bytes.
WECOM_MAX_BYTES = 2048
MSG_TYPE_TEXT = "text"
#: ``msg_signature`` is a SHA-1 in hex.
SIGNATURE_RE = re.compile(r"[0-9a-fA-F]{40}")
MAX_TS_DIGITS = 12


class Ignored(Exception):
    """An authentic callback that is not a message of the founder: 200, nothing done."""


def signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """WeCom's ``msg_signature`` of a callback."""
    parts = sorted([token, timestamp, nonce, encrypt])
    return hashlib.sha1("".join(parts).encode("utf-8", "surrogateescape")).hexdigest()


def _crypto(settings: HookSettings) -> WeChatCrypto:
    try:
        return WeChatCrypto(settings.wecom_token, settings.wecom_aes_key, settings.wecom_corp_id)
    except (AssertionError, ValueError) as error:  # a malformed EncodingAESKey
        raise Refused(503, "WECOM_ALERT_AES_KEY is not a valid EncodingAESKey") from error


def precheck(msg_signature: str, timestamp: str, nonce: str, now: float | None = None) -> None:
    """What can be checked before the body is read: the query's shape and the timestamp.

    Raises:
        Refused: 401 without a signature, 403 for a malformed one or a stale timestamp.
    """
    if not (msg_signature and timestamp and nonce):
        raise Refused(401, "no signature")
    if len(nonce) > MAX_PARAM_CHARS or not SIGNATURE_RE.fullmatch(msg_signature):
        raise Refused(403, "bad signature")
    moment = time.time() if now is None else now
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > MAX_TS_DIGITS:
        raise Refused(403, "expired timestamp")
    if abs(int(timestamp) - moment) > MAX_SKEW_S:
        raise Refused(403, "expired timestamp")


def _check(
    settings: HookSettings, msg_signature: str, timestamp: str, nonce: str, encrypt: str,
    now: float | None,
) -> None:  # fmt: skip
    if not (msg_signature and timestamp and nonce and encrypt):
        raise Refused(401, "no signature")
    if any(len(value) > MAX_PARAM_CHARS for value in (msg_signature, timestamp, nonce)):
        raise Refused(403, "bad signature")
    expected = signature(settings.wecom_token or "", timestamp, nonce, encrypt)
    if not hmac.compare_digest(
        expected.encode(), msg_signature.lower().encode("utf-8", "surrogateescape")
    ):
        raise Refused(403, "bad signature")
    moment = time.time() if now is None else now
    if not timestamp.isdigit() or abs(int(timestamp) - moment) > MAX_SKEW_S:
        raise Refused(403, "expired timestamp")


def _decrypt(settings: HookSettings, encrypt: str, msg_signature: str, ts: str, nonce: str) -> str:
    crypto = _crypto(settings)
    try:
        plain = crypto.decrypt_message({"Encrypt": encrypt}, msg_signature.lower(), ts, nonce)
    except Exception:  # noqa: BLE001 - signed but undecryptable: wrong corp, bad padding...
        raise Refused(400, "undecryptable payload") from None
    return str(plain)


def verify_url(
    settings: HookSettings, msg_signature: str, timestamp: str, nonce: str, echostr: str,
    *, now: float | None = None,
) -> str:  # fmt: skip
    """Answers WeCom's callback URL verification (``GET``).

    Returns:
        The decrypted ``echostr`` (WeCom expects it as the plain-text answer).

    Raises:
        Refused: For a missing, wrong or expired signature, or an undecryptable echostr.
    """
    if len(echostr) > MAX_ECHO_CHARS:
        raise Refused(400, "echostr too long")
    _check(settings, msg_signature, timestamp, nonce, echostr, now)
    return _decrypt(settings, echostr, msg_signature, timestamp, nonce)


def parse(
    settings: HookSettings, body: bytes, msg_signature: str, timestamp: str, nonce: str,
    *, now: float | None = None,
) -> FounderMessage:  # fmt: skip
    """Authenticates, decrypts and reads one callback (``POST``).

    The query's signature shape and timestamp are checked before the body is parsed, the
    signature over ``Encrypt`` right after the (linear-time) outer parse, and only then is
    anything decrypted. Blocking: the route runs it in a worker thread.

    Returns:
        The founder's message (text empty when it is not a text message).

    Raises:
        Refused: For a body that is not a WeCom callback, or a missing, wrong or expired
            signature.
        Ignored: For an event, or a message of someone other than the founder.
    """
    precheck(msg_signature, timestamp, nonce, now)
    try:
        outer = parse_flat_xml(body)
    except XMLError:
        raise Refused(400, "not a WeCom callback") from None
    _check(settings, msg_signature, timestamp, nonce, outer.get("Encrypt", ""), now)
    plain = _decrypt(settings, outer["Encrypt"], msg_signature, timestamp, nonce)
    try:
        inner = parse_flat_xml(plain.encode("utf-8", "surrogatepass"))
    except XMLError:
        raise Refused(400, "not a WeCom message") from None
    if inner.get("FromUserName", "") != settings.wecom_user_id:
        raise Ignored("another user")
    agent = inner.get("AgentID", "").strip()
    if settings.wecom_agent_id and agent and agent != settings.wecom_agent_id:
        raise Ignored("another app")
    msg_type = inner.get("MsgType", "")
    if msg_type == "event":
        raise Ignored("an event")
    msg_id = inner.get("MsgId", "").strip()[:64]
    if not msg_id:
        raise Refused(400, "no MsgId")
    text = inner.get("Content", "") if msg_type == MSG_TYPE_TEXT else ""
    return FounderMessage(
        kind=KIND_WECOM, delivery_id=msg_id, text=clean_reply(text[: MAX_REPLY_CHARS * 4])
    )


class TokenCache:
    """The alert app's access token, fetched with ``gettoken`` and kept until near expiry."""

    def __init__(self) -> None:
        self._token: tuple[str, str, float] | None = None  # (key, token, expires_at)
        self._lock = threading.Lock()

    def get(self, settings: HookSettings) -> str | None:
        """A valid access token, or ``None`` when WeCom does not give one (logged)."""
        key = hashlib.sha256(
            f"{settings.wecom_api_url}|{settings.wecom_corp_id}|{settings.wecom_secret}".encode()
        ).hexdigest()
        with self._lock:
            cached = self._token
            if cached and cached[0] == key and cached[2] > time.monotonic():
                return cached[1]
            try:
                response = httpx.get(
                    f"{settings.wecom_api_url}/cgi-bin/gettoken",
                    params={"corpid": settings.wecom_corp_id, "corpsecret": settings.wecom_secret},
                    timeout=SEND_TIMEOUT_S,
                )
                data: Any = response.json()
            except (httpx.HTTPError, ValueError) as error:
                logger.warning("WeCom gettoken failed: %s", type(error).__name__)
                return None
            token = data.get("access_token") if isinstance(data, dict) else None
            if not isinstance(token, str) or not token:
                logger.warning("WeCom gettoken refused: errcode %s", _errcode(data))
                return None
            expires = data.get("expires_in")
            life = expires if isinstance(expires, int) and expires > 0 else 7200
            self._token = (key, token, time.monotonic() + max(60, life - TOKEN_MARGIN_S))
            return token

    def clear(self) -> None:
        """Forgets the token (WeCom said it is invalid)."""
        with self._lock:
            self._token = None


TOKENS = TokenCache()
EXPIRED_TOKEN_CODES = frozenset({40014, 42001})


def _errcode(data: Any) -> Any:  # noqa: ANN401 - any JSON value
    return data.get("errcode") if isinstance(data, dict) else "?"


def _fit(text: str) -> str:
    encoded = text.encode("utf-8", "replace")
    if len(encoded) <= WECOM_MAX_BYTES:
        return text
    return encoded[: WECOM_MAX_BYTES - 3].decode("utf-8", "ignore") + "…"


def send_ack(settings: HookSettings, text: str) -> bool:
    """Sends ``text`` to the founder through the alert app (``message/send``).

    Returns:
        Whether WeCom accepted it (failures are logged, without the token).
    """
    if not settings.wecom_secret or not settings.wecom_agent_id.isdigit():
        logger.warning("WeCom acknowledgement not sent: WECOM_ALERT_SECRET/AGENT_ID unset")
        return False
    payload = {
        "touser": settings.wecom_user_id,
        "msgtype": MSG_TYPE_TEXT,
        "agentid": int(settings.wecom_agent_id),
        "text": {"content": _fit(text)},
    }
    for _ in range(2):  # once more with a fresh token if WeCom says it expired
        token = TOKENS.get(settings)
        if token is None:
            return False
        try:
            response = httpx.post(
                f"{settings.wecom_api_url}/cgi-bin/message/send",
                params={"access_token": token},
                json=payload,
                timeout=SEND_TIMEOUT_S,
            )
            data: Any = response.json()
        except (httpx.HTTPError, ValueError) as error:
            logger.warning("WeCom acknowledgement not sent: %s", type(error).__name__)
            return False
        code = _errcode(data)
        if code == 0:
            return True
        if code in EXPIRED_TOKEN_CODES:
            TOKENS.clear()
            continue
        logger.warning("WeCom acknowledgement refused: errcode %s", code)
        return False
    return False
