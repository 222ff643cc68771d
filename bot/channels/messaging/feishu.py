"""Feishu / Lark (飞书): an event-subscription channel (``/webhooks/feishu/webhook``).

The app's *request URL* receives event subscription v2 deliveries (``"schema": "2.0"``):

* the URL check (``{"type": "url_verification", "challenge", "token"}``, encrypted or not) is
  answered ``{"challenge": ...}`` when its token is ``FEISHU_VERIFICATION_TOKEN``;
* every other delivery must carry ``X-Lark-Request-Timestamp``, ``X-Lark-Request-Nonce`` and
  ``X-Lark-Signature`` = SHA-256 hex of ``timestamp + nonce + FEISHU_ENCRYPT_KEY + raw body``
  (401 missing, 403 wrong, compared in constant time; a timestamp more than a day away from
  now is refused too), and its ``header.token`` must be the verification token (403);
* an encrypted body ``{"encrypt": ...}`` is AES-256-CBC with key SHA-256(encrypt key), the IV
  the first 16 bytes of the base64-decoded data, PKCS#7 padding;
* ``im.message.receive_v1`` text (and rich-text ``post``) messages from users are answered,
  ``@`` mentions removed; ``card.action.trigger`` (a button of our card pressed) is the button's
  payload, always answered to the presser in their private chat (the event does not tell a
  group's card from a private one); the base de-duplicates on ``header.event_id`` (Feishu
  redelivers after 3 s);
* group chats are anonymous conversations of one person in one group (user id
  ``<open_id>@<chat_id>``): an account bound in the private chat never answers personal data
  in front of a group.

Replies: ``POST /open-apis/im/v1/messages/{message_id}/reply`` while the customer's message is
recent (:data:`REPLY_WINDOW_S`), otherwise (founder take-over, late answers) ``POST
/open-apis/im/v1/messages?receive_id_type=open_id`` (``chat_id`` for a group), with a
``tenant_access_token`` (``/open-apis/auth/v3/tenant_access_token/internal``) cached until
shortly before it expires. Buttons become an interactive card (``msg_type: interactive``)
whose buttons carry the payload. Feishu limits a text message's request body to 150 KB and a
card's to 30 KB (error 230025); :data:`MAX_MESSAGE_CHARS` characters stay under 30 KB even at
seven bytes a character once escaped twice (the ``content`` is JSON inside JSON).

Not ``lark-oapi``: it is blocking (``requests``) inside Rasa's event loop and brings its own
pins into Rasa's environment. Rasa environment only (``cryptography`` for AES).
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import time
from collections import OrderedDict
from typing import Any, ClassVar
from urllib.parse import quote

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.messaging.base import Inbound, MessagingInput, OutMessage, PlatformError
from bot.channels.messaging.feishu_protocol import card_of, decrypt, message_text, signature
from bot.channels.messaging.http import (
    HEADER_RETRY_AFTER,
    AccessTokenCache,
    Answer,
    failure,
    post_json,
    retry_after,
)
from bot.channels.messaging.platform import with_image

logger = logging.getLogger(__name__)

CHANNEL_NAME = "feishu"
ENV_APP_ID = "FEISHU_APP_ID"
ENV_APP_SECRET = "FEISHU_APP_SECRET"
ENV_VERIFICATION_TOKEN = "FEISHU_VERIFICATION_TOKEN"
ENV_ENCRYPT_KEY = "FEISHU_ENCRYPT_KEY"
ENV_API_URL = "FEISHU_API_URL"
DEFAULT_API_URL = "https://open.feishu.cn"

HEADER_TIMESTAMP = "X-Lark-Request-Timestamp"
HEADER_NONCE = "X-Lark-Request-Nonce"
HEADER_SIGNATURE = "X-Lark-Signature"
TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"
REPLY_PATH = "/open-apis/im/v1/messages/{message_id}/reply"
CREATE_PATH = "/open-apis/im/v1/messages"

EVENT_MESSAGE = "im.message.receive_v1"
EVENT_CARD_ACTION = "card.action.trigger"
TYPE_URL_VERIFICATION = "url_verification"
SCHEMA_V2 = "2.0"
CHAT_P2P = "p2p"

#: Longest text of one message (the 30 KB card body, escaped twice, in the worst case).
MAX_MESSAGE_CHARS = 4000
#: Feishu waits 3 s for the 200 before it redelivers.
ACK_SECONDS = 2.0
#: Signed deliveries whose timestamp is further than this from now are refused (redeliveries
#: come up to ~7 h late; the delivery ledger remembers event ids for 3 days).
MAX_SKEW_S = 24 * 3600
#: Replies quote the customer's message while it is this recent; later ones are new messages.
REPLY_WINDOW_S = 600.0
#: A tenant token is kept at least this long (and its lifetime if Feishu gives none).
MIN_TOKEN_LIFETIME_S = 60
DEFAULT_TOKEN_LIFETIME_S = 7200
#: Longest challenge echoed, event id accepted (the ledger's column), id of a chat or user.
MAX_CHALLENGE_CHARS = 512
MAX_ID_CHARS = 128
#: Message ids whose reply failed because the message is gone: later sends create instead.
MAX_GONE_MESSAGES = 1000
#: Codes of an expired or invalid ``tenant_access_token``: fetch a new one and retry.
TOKEN_INVALID_CODES = frozenset({99991661, 99991663, 99991668})
#: Codes of a rate limit: retry later.
RATE_LIMIT_CODES = frozenset({99991400, 230020})
#: Codes of a message that can no longer be replied to (recalled, deleted, not found).
MESSAGE_GONE_CODES = frozenset({230011, 231003})
HEADER_RATE_RESET = "x-ogw-ratelimit-reset"

_ID_RE = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")


def _refusal(status: int, error: str) -> HTTPResponse:
    return response.json({"error": error}, status=status)


def _id(value: Any) -> str | None:
    """A platform id that is safe to use as it is (letters, digits, ``_.:@-``)."""
    return value if isinstance(value, str) and _ID_RE.match(value) else None


class FeishuInput(MessagingInput):
    """The Feishu / Lark event-subscription channel."""

    ENV: ClassVar[tuple[str, ...]] = (
        ENV_APP_ID,
        ENV_APP_SECRET,
        ENV_VERIFICATION_TOKEN,
        ENV_ENCRYPT_KEY,
    )
    ARGUMENTS = ("app_id", "app_secret", "verification_token", "encrypt_key", "api_url")
    DEFAULTS = {"api_url": DEFAULT_API_URL}
    MAX_CHARS: ClassVar[int] = MAX_MESSAGE_CHARS
    ACK_WITHIN_S: ClassVar[float] = ACK_SECONDS
    NUMBERED_BUTTONS: ClassVar[bool] = False

    @classmethod
    def name(cls) -> str:
        """``feishu``: the request URL is ``/webhooks/feishu/webhook``."""
        return CHANNEL_NAME

    def __init__(
        self,
        app_id: str,
        app_secret: str,
        verification_token: str,
        encrypt_key: str,
        api_url: str = DEFAULT_API_URL,
    ) -> None:
        """Creates the channel.

        Args:
            app_id: The app's App ID (``cli_...``).
            app_secret: The app's App Secret.
            verification_token: The event subscription's Verification Token.
            encrypt_key: The event subscription's Encrypt Key (signatures and AES).
            api_url: ``https://open.feishu.cn`` (Lark: ``https://open.larksuite.com``; a fake
                in tests).
        """
        super().__init__()
        self.app_id = app_id
        self.app_secret = app_secret
        self.verification_token = verification_token
        self.encrypt_key = encrypt_key
        self.api_url = api_url.rstrip("/")
        self.tokens = AccessTokenCache(self._fetch_token, min_lifetime_s=MIN_TOKEN_LIFETIME_S)
        self._gone: OrderedDict[str, None] = OrderedDict()

    # -- inbound -------------------------------------------------------------------------

    def _payload(self, request: Request) -> dict[str, Any] | None:
        """The delivery as JSON, decrypted when encrypted (cached on the request)."""
        cached = getattr(request.ctx, "feishu_payload", False)
        if cached is not False:
            return cached  # type: ignore[no-any-return]
        payload: dict[str, Any] | None = None
        try:
            outer = json.loads(request.body or b"")
            if isinstance(outer, dict) and isinstance(outer.get("encrypt"), str):
                outer = json.loads(decrypt(self.encrypt_key, outer["encrypt"]))
            if isinstance(outer, dict):
                payload = outer
        except (ValueError, UnicodeDecodeError, RecursionError):
            payload = None
        request.ctx.feishu_payload = payload
        return payload

    def _token_matches(self, given: Any) -> bool:
        return (
            isinstance(given, str)
            and bool(self.verification_token)
            and hmac.compare_digest(
                given.encode("utf-8", "surrogateescape"), self.verification_token.encode()
            )
        )

    async def handshake(self, request: Request) -> HTTPResponse | None:
        """Answers the URL check (``url_verification``) with its challenge."""
        if request.method != "POST":
            return None  # the base answers 405
        payload = self._payload(request)
        if payload is None or payload.get("type") != TYPE_URL_VERIFICATION:
            return None
        challenge = payload.get("challenge")
        if not self._token_matches(payload.get("token")):
            return _refusal(403, "forbidden")
        if not isinstance(challenge, str) or not 0 < len(challenge) <= MAX_CHALLENGE_CHARS:
            return _refusal(400, "bad_challenge")
        return response.json({"challenge": challenge})

    def verify(self, request: Request) -> HTTPResponse | None:
        """Signature headers (401 missing/stale, 403 wrong), then the verification token."""
        timestamp = request.headers.get(HEADER_TIMESTAMP, "")
        nonce = request.headers.get(HEADER_NONCE, "")
        given = request.headers.get(HEADER_SIGNATURE, "")
        if not (timestamp and nonce and given) or not self.encrypt_key:
            return _refusal(401, "unauthorized")
        if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
            return _refusal(401, "unauthorized")
        if abs(time.time() - int(timestamp)) > MAX_SKEW_S:
            return _refusal(401, "stale")
        expected = signature(timestamp, nonce, self.encrypt_key, request.body or b"")
        if not hmac.compare_digest(
            given.strip().lower().encode("utf-8", "replace"), expected.encode("ascii")
        ):
            return _refusal(403, "forbidden")
        payload = self._payload(request)
        if payload is None:
            return None  # authentic but unreadable: parse answers 400
        header = payload.get("header")
        token = header.get("token") if isinstance(header, dict) else payload.get("token")
        if not self._token_matches(token):
            return _refusal(403, "forbidden")
        return None

    def parse(self, request: Request) -> list[Inbound] | HTTPResponse:
        """The customer's message or button press (nothing for other events)."""
        payload = self._payload(request)
        if payload is None:
            return _refusal(400, "bad_body")
        header = payload.get("header")
        event = payload.get("event")
        if payload.get("schema") != SCHEMA_V2 or not isinstance(header, dict):
            return []  # v1 events: not subscribed to; acknowledged so Feishu stops
        event_id = header.get("event_id")
        if not isinstance(event_id, str) or not 0 < len(event_id) <= MAX_ID_CHARS:
            return _refusal(400, "bad_event")
        if not isinstance(event, dict):
            return []
        kind = header.get("event_type")
        inbound = None
        if kind == EVENT_MESSAGE:
            inbound = self._from_message(event_id, event)
        elif kind == EVENT_CARD_ACTION:
            inbound = self._from_card_action(event_id, event)
        return [inbound] if inbound else []

    def _from_message(self, event_id: str, event: dict[str, Any]) -> Inbound | None:
        sender = event.get("sender")
        message = event.get("message")
        if not isinstance(sender, dict) or not isinstance(message, dict):
            return None
        if sender.get("sender_type") != "user":
            return None
        ids = sender.get("sender_id")
        open_id = _id(ids.get("open_id")) if isinstance(ids, dict) else None
        message_id, chat_id = _id(message.get("message_id")), _id(message.get("chat_id"))
        text = message_text(message)
        if open_id is None or message_id is None or chat_id is None or not text:
            return None
        chat_type = message.get("chat_type")
        group = chat_type != CHAT_P2P
        return Inbound(
            delivery_id=event_id,
            user_id=f"{open_id}@{chat_id}" if group else open_id,
            text=text,
            address={
                "message_id": message_id,
                "chat_id": chat_id,
                "chat_type": "group" if group else CHAT_P2P,
                "open_id": open_id,
                "received_at": time.time(),
            },
        )

    def _from_card_action(self, event_id: str, event: dict[str, Any]) -> Inbound | None:
        operator = event.get("operator")
        action = event.get("action")
        context = event.get("context")
        if not all(isinstance(part, dict) for part in (operator, action, context)):
            return None
        open_id = _id(operator.get("open_id"))  # type: ignore[union-attr]
        value = action.get("value")  # type: ignore[union-attr]
        payload = value.get("payload") if isinstance(value, dict) else None
        message_id = _id(context.get("open_message_id"))  # type: ignore[union-attr]
        if open_id is None or message_id is None or not isinstance(payload, str) or not payload:
            return None
        # The event does not say whether the card is in a private chat or a group (a card can
        # be forwarded, and its value is not the chat's): a press is always answered to the
        # presser, in their private chat (a new message to the open_id, never a reply in the
        # chat of the card), as their private conversation.
        return Inbound(
            delivery_id=event_id,
            user_id=open_id,
            text=payload,
            address={"chat_id": "", "chat_type": CHAT_P2P, "open_id": open_id},
        )

    def acknowledge(self, request: Request, passive: OutMessage | None) -> HTTPResponse:
        """200 with ``{}`` (a card press needs a JSON answer within 3 s; ``{}`` changes nothing)."""
        return response.json({})

    # -- outbound ------------------------------------------------------------------------

    async def _fetch_token(self) -> tuple[str, float]:
        """A fresh ``tenant_access_token`` and its lifetime (s).

        Raises:
            PlatformError: Feishu refused (``retryable`` unless the app's id/secret are wrong).
        """
        answer = await post_json(
            self.api_url + TOKEN_PATH,
            {"app_id": self.app_id, "app_secret": self.app_secret},
            what="feishu tenant_access_token",
        )
        data = answer.data
        token = data.get("tenant_access_token")
        if answer.status == 200 and data.get("code") == 0 and isinstance(token, str) and token:
            expire = data.get("expire")
            lifetime = expire if isinstance(expire, int) and expire > 0 else None
            return token, float(lifetime or DEFAULT_TOKEN_LIFETIME_S)
        raise _error("tenant_access_token", answer)

    def request_of(
        self, address: dict[str, Any], message: OutMessage
    ) -> tuple[str, dict[str, Any]]:
        """The URL path and JSON body of one message (a reply while fresh, else a new one).

        Args:
            address: The conversation's ``channel_address`` (see :meth:`parse`).
            message: The message (text at most :data:`MAX_MESSAGE_CHARS`).

        Returns:
            ``(path with query, body)``.
        """
        group = address.get("chat_type") == "group"
        # Feishu shows images only by uploaded image_key: send the link.
        text = with_image(message.text, message.image)
        if message.buttons:
            msg_type = "interactive"
            content = card_of(text, message.buttons)
        else:
            msg_type, content = "text", {"text": text}
        body: dict[str, Any] = {
            "msg_type": msg_type,
            "content": json.dumps(content, ensure_ascii=False),
        }
        message_id = _id(address.get("message_id"))
        received_at = address.get("received_at")
        fresh = isinstance(received_at, int | float) and (
            time.time() - float(received_at) < REPLY_WINDOW_S
        )
        if message_id and fresh and message_id not in self._gone:
            return REPLY_PATH.format(message_id=quote(message_id, safe="")), body
        if group and _id(address.get("chat_id")):
            body["receive_id"] = address["chat_id"]
            return f"{CREATE_PATH}?receive_id_type=chat_id", body
        open_id = _id(address.get("open_id"))
        if open_id is None:
            raise PlatformError("feishu: no open_id to send to", retryable=False)
        body["receive_id"] = open_id
        return f"{CREATE_PATH}?receive_id_type=open_id", body

    async def send(self, address: dict[str, Any], message: OutMessage) -> None:
        """One reply or create call.

        Raises:
            PlatformError: Feishu refused (``retryable`` for 429/5xx, rate limits, an expired
                token, a message that can no longer be replied to, and network errors).
        """
        token = await self.tokens.get()
        path, body = self.request_of(address, message)
        answer = await post_json(
            self.api_url + path,
            body,
            what="feishu message",
            headers={"Authorization": f"Bearer {token}"},
        )
        code = answer.data.get("code")
        if answer.status == 200 and code == 0:
            return
        if code in TOKEN_INVALID_CODES:
            self.tokens.invalidate(token)
        if code in MESSAGE_GONE_CODES and "/reply" in path:
            message_id = str(address.get("message_id"))
            self._gone[message_id] = None
            while len(self._gone) > MAX_GONE_MESSAGES:
                self._gone.popitem(last=False)
            raise PlatformError(f"feishu reply failed: {code} (message gone)", retryable=True)
        raise _error("message", answer)


def _error(what: str, answer: Answer) -> PlatformError:
    """The :class:`PlatformError` of a failed call (never carrying a token or the text)."""
    code = answer.data.get("code", answer.status)
    return failure(
        f"feishu {what}",
        answer,
        f"code {code} {answer.data.get('msg', '')}",
        retryable=code in RATE_LIMIT_CODES or code in TOKEN_INVALID_CODES,
        after=retry_after(answer.headers, HEADER_RATE_RESET, HEADER_RETRY_AFTER),
    )
