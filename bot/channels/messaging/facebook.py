"""Facebook Messenger: a Messenger Platform webhook channel (``/webhooks/facebook/webhook``).

* ``GET`` is Meta's webhook verification: ``hub.mode=subscribe`` with ``hub.verify_token``
  equal to ``FACEBOOK_VERIFY_TOKEN`` (constant time) is answered with ``hub.challenge`` as
  plain text; anything else 403.
* A ``POST`` must carry ``X-Hub-Signature-256: sha256=<hex>``, the HMAC-SHA256 of the raw
  body keyed with ``FACEBOOK_APP_SECRET``: missing 401, wrong 403.
* Each ``entry[].messaging[]`` item of a ``page`` object is one delivery: a message (its
  text, or a quick reply's ``payload``) or a ``postback`` (its ``payload``), keyed on the
  message's ``mid`` (Meta redelivers a batch that was not acknowledged). Echoes of our own
  messages, deliveries, reads and reactions are ignored.

Replies: the Send API (``POST /me/messages``, ``messaging_type: RESPONSE``), the page access
token in the ``Authorization: Bearer`` header rather than the documented ``?access_token=``
query (no secret in a URL); at most 2,000 characters; buttons as ``quick_replies`` (at most
13, titles cut to 20 characters). Meta's rate-limit and transient errors (codes 1, 2, 4, 17,
32, 613, 1200, or HTTP 5xx) are retried; the others (expired token, user unavailable, ...)
are not. Rasa environment only.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from hashlib import sha256
from typing import Any, ClassVar

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.messaging.base import Inbound, MessagingInput, OutMessage, PlatformError
from bot.channels.messaging.http import Answer, failure, post_json
from bot.channels.messaging.platform import with_image

logger = logging.getLogger(__name__)

CHANNEL_NAME = "facebook"
ENV_VERIFY_TOKEN = "FACEBOOK_VERIFY_TOKEN"
ENV_APP_SECRET = "FACEBOOK_APP_SECRET"
ENV_PAGE_ACCESS_TOKEN = "FACEBOOK_PAGE_ACCESS_TOKEN"
ENV_API_URL = "FACEBOOK_API_URL"
DEFAULT_API_URL = "https://graph.facebook.com/v19.0"
WHAT_SEND = "facebook send"
HEADER_SIGNATURE = "X-Hub-Signature-256"
SIGNATURE_PREFIX = "sha256="
#: Longest text of one message (Send API).
MAX_MESSAGE_CHARS = 2000
#: Quick replies of one message, characters of a title, of a payload (Send API limits).
MAX_QUICK_REPLIES = 13
QUICK_REPLY_TITLE_MAX_CHARS = 20
QUICK_REPLY_PAYLOAD_MAX_CHARS = 1000
#: Graph API error codes worth another try: unknown/transient, rate limits, temporary send.
RETRYABLE_CODES = frozenset({1, 2, 4, 17, 32, 613, 1200})
#: A challenge is echoed only when it looks like one (Meta sends digits).
_CHALLENGE = re.compile(r"[A-Za-z0-9_.-]{1,128}")


def signature(app_secret: str, body: bytes) -> str:
    """Meta's ``X-Hub-Signature-256``: ``sha256=`` + hex HMAC-SHA256 of the raw body."""
    return SIGNATURE_PREFIX + hmac.new(app_secret.encode("utf-8"), body, sha256).hexdigest()


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _title(text: str) -> str:
    if len(text) <= QUICK_REPLY_TITLE_MAX_CHARS:
        return text
    return text[: QUICK_REPLY_TITLE_MAX_CHARS - 1] + "…"


class FacebookInput(MessagingInput):
    """The Facebook Messenger channel."""

    ENV: ClassVar[tuple[str, ...]] = (ENV_VERIFY_TOKEN, ENV_APP_SECRET, ENV_PAGE_ACCESS_TOKEN)
    ARGUMENTS = ("verify_token", "app_secret", "page_access_token", "api_url")
    DEFAULTS = {"api_url": DEFAULT_API_URL}
    MAX_CHARS: ClassVar[int] = MAX_MESSAGE_CHARS
    #: Meta gives up on a webhook after 20 seconds and wants an answer fast.
    ACK_WITHIN_S: ClassVar[float] = 5.0
    NUMBERED_BUTTONS: ClassVar[bool] = False

    @classmethod
    def name(cls) -> str:
        """``facebook``: the callback URL is ``/webhooks/facebook/webhook``."""
        return CHANNEL_NAME

    def __init__(
        self,
        verify_token: str,
        app_secret: str,
        page_access_token: str,
        api_url: str = DEFAULT_API_URL,
    ) -> None:
        """Creates the channel.

        Args:
            verify_token: The Verify Token typed into the app's webhook settings.
            app_secret: The app's App Secret (signs the webhook deliveries).
            page_access_token: The Page's access token (``pages_messaging``).
            api_url: The Graph API's versioned base URL (a fake in tests).
        """
        super().__init__()
        self.verify_token = verify_token
        self.app_secret = app_secret
        self.page_access_token = page_access_token
        self.api_url = api_url.rstrip("/")

    # -- inbound -------------------------------------------------------------------------

    async def handshake(self, request: Request) -> HTTPResponse | None:
        """Meta's ``hub.challenge`` verification (GET only)."""
        if request.method != "GET":
            return None
        mode = request.args.get("hub.mode", "")
        token = request.args.get("hub.verify_token", "")
        challenge = request.args.get("hub.challenge", "")
        if (
            mode != "subscribe"
            or not self.verify_token
            or not hmac.compare_digest(
                token.encode("utf-8", "surrogateescape"), self.verify_token.encode("utf-8")
            )
        ):
            return response.json({"error": "forbidden"}, status=403)
        if not _CHALLENGE.fullmatch(challenge):
            return response.json({"error": "bad_challenge"}, status=400)
        return response.text(challenge)

    def verify(self, request: Request) -> HTTPResponse | None:
        """The ``X-Hub-Signature-256`` of the raw body (401 missing, 403 wrong)."""
        given = request.headers.get(HEADER_SIGNATURE, "")
        if not given:
            return response.json({"error": "unauthorized"}, status=401)
        expected = signature(self.app_secret, request.body or b"")
        if not self.app_secret or not hmac.compare_digest(
            given.lower().encode("utf-8", "surrogateescape"), expected.encode("ascii")
        ):
            return response.json({"error": "forbidden"}, status=403)
        return None

    def parse(self, request: Request) -> list[Inbound] | HTTPResponse:
        """Every message and postback of the batch, oldest first."""
        try:
            data = json.loads((request.body or b"").decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return response.json({"error": "bad_json"}, status=400)
        if not isinstance(data, dict) or not isinstance(data.get("entry"), list):
            return response.json({"error": "bad_json"}, status=400)
        if data.get("object") != "page":
            return []
        found: list[Inbound] = []
        for entry in data["entry"]:
            events = entry.get("messaging") if isinstance(entry, dict) else None
            for event in events if isinstance(events, list) else []:
                inbound = _inbound(event) if isinstance(event, dict) else None
                if inbound is not None:
                    found.append(inbound)
        return found

    def acknowledge(self, request: Request, passive: OutMessage | None) -> HTTPResponse:
        """``EVENT_RECEIVED`` (200), as Meta's examples answer."""
        return response.text("EVENT_RECEIVED")

    # -- outbound ------------------------------------------------------------------------

    def request_of(self, address: dict[str, Any], message: OutMessage) -> dict[str, Any]:
        """The Send API body of one message."""
        text = with_image(message.text, message.image, self.MAX_CHARS)
        body: dict[str, Any] = {"text": text}
        if message.buttons:
            body["quick_replies"] = [
                {
                    "content_type": "text",
                    "title": _title(title),
                    "payload": payload[:QUICK_REPLY_PAYLOAD_MAX_CHARS],
                }
                for title, payload in message.buttons[:MAX_QUICK_REPLIES]
            ]
        return {
            "recipient": {"id": address["psid"]},
            "messaging_type": "RESPONSE",
            "message": body,
        }

    async def send(self, address: dict[str, Any], message: OutMessage) -> None:
        """One Send API call.

        Raises:
            PlatformError: Meta refused (``retryable`` for rate limits, transient errors,
                5xx and network errors).
        """
        headers = {"Authorization": f"Bearer {self.page_access_token}"}
        answer = await post_json(
            f"{self.api_url}/me/messages",
            self.request_of(address, message),
            what=WHAT_SEND,
            headers=headers,
        )
        if answer.ok and "message_id" in answer.data:
            return
        raise _error(answer)


def _inbound(event: dict[str, Any]) -> Inbound | None:
    """The delivery of one ``messaging`` item (None: nothing to answer)."""
    sender = event.get("sender")
    psid = _string(sender.get("id")) if isinstance(sender, dict) else None
    if psid is None:
        return None
    message = event.get("message")
    if isinstance(message, dict):
        if message.get("is_echo"):
            return None  # our own message, echoed back
        mid = _string(message.get("mid"))
        quick = message.get("quick_reply")
        text = _string(quick.get("payload")) if isinstance(quick, dict) else None
        text = text or _string(message.get("text"))
        if mid is None or text is None:
            return None  # stickers, attachments without text
        return Inbound(delivery_id=mid, user_id=psid, text=text, address={"psid": psid})
    postback = event.get("postback")
    if isinstance(postback, dict):
        payload = _string(postback.get("payload"))
        mid = _string(postback.get("mid"))
        if mid is None:
            stamp = event.get("timestamp")
            mid = f"postback:{psid}:{stamp}" if isinstance(stamp, int) else None
        if payload is None or mid is None:
            return None
        return Inbound(delivery_id=mid, user_id=psid, text=payload, address={"psid": psid})
    return None


def _error(answer: Answer) -> PlatformError:
    """The :class:`PlatformError` of a failed Send API call (never carrying the token)."""
    error = answer.data.get("error")
    error = error if isinstance(error, dict) else {}
    code = error.get("code")
    transient = error.get("is_transient") is True
    retryable = transient or (isinstance(code, int) and code in RETRYABLE_CODES)
    return failure(WHAT_SEND, answer, f"{code} {error.get('message', '')}", retryable=retryable)
