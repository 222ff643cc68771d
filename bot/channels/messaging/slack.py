"""Slack: an Events API channel (``/webhooks/slack/webhook``).

* Every request must carry ``X-Slack-Request-Timestamp`` (within 5 minutes of now) and
  ``X-Slack-Signature`` = ``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{raw body}`` keyed
  with ``SLACK_SIGNING_SECRET`` (Slack's "verifying requests" algorithm), compared in constant
  time: missing headers 401, a wrong or stale signature 403.
* ``url_verification`` (when the Request URL is saved in the app's settings) is answered
  with its ``challenge`` -- after the signature check, as Slack signs it too.
* ``event_callback``: direct messages (``message`` events of ``channel_type`` ``im``) and
  mentions (``app_mention``, answered in the app's DM with the person, never in the shared
  channel: an answer may hold their orders). Messages of bots (ours
  included: ``bot_id``, the app's own user from ``authorizations``) and edits, joins and
  other ``subtype`` events are ignored. Idempotent on ``event_id``: Slack's retries
  (``X-Slack-Retry-Num``) carry the same id.
* Button presses arrive as interactivity payloads (``application/x-www-form-urlencoded``
  ``payload=<json>``, ``type`` ``block_actions``) at the same URL, signed the same way; the
  button's ``value`` is its payload, and the delivery is keyed on the ``trigger_id``.

Replies: ``chat.postMessage`` with ``Authorization: Bearer SLACK_BOT_TOKEN``; buttons as an
``actions`` block under a ``section`` of the text. ``ok: false`` answers are errors
(``ratelimited`` and Slack's transient errors are retried, after ``Retry-After``; the others,
like ``channel_not_found`` or ``invalid_auth``, are not). Rasa environment only.
"""

from __future__ import annotations

import hmac
import html
import json
import logging
import re
import time
from hashlib import sha256
from typing import Any, ClassVar
from urllib.parse import parse_qs

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.messaging.base import Inbound, MessagingInput, OutMessage, PlatformError
from bot.channels.messaging.http import Answer, failure, post_json
from bot.channels.messaging.platform import with_image

logger = logging.getLogger(__name__)

CHANNEL_NAME = "slack"
ENV_BOT_TOKEN = "SLACK_BOT_TOKEN"
ENV_SIGNING_SECRET = "SLACK_SIGNING_SECRET"
ENV_API_URL = "SLACK_API_URL"
DEFAULT_API_URL = "https://slack.com/api"
WHAT_SEND = "slack chat.postMessage"
HEADER_TIMESTAMP = "X-Slack-Request-Timestamp"
HEADER_SIGNATURE = "X-Slack-Signature"
SIGNATURE_VERSION = "v0"
#: Oldest (and furthest in the future) request timestamp accepted, in seconds.
MAX_CLOCK_SKEW_S = 300
#: Longest text of one ``section`` block (Slack's limit), so of one message with buttons.
SECTION_MAX_CHARS = 3000
#: Buttons of one ``actions`` block; button titles; button values (Slack's limits).
BUTTONS_PER_BLOCK = 25
BUTTON_TITLE_MAX_CHARS = 75
BUTTON_VALUE_MAX_CHARS = 2000
#: Slack errors worth another try (the others are permanent).
RETRYABLE_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
MESSAGE_EVENT = "message"
MENTION_EVENT = "app_mention"
DIRECT_MESSAGE = "im"
#: Direct-message channel ids start with D.
DIRECT_CHANNEL_PREFIX = "D"
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>]*)(?:\|([^>]*))?>")


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's request signature: ``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    base = f"{SIGNATURE_VERSION}:{timestamp}:".encode() + body
    digest = hmac.new(secret.encode("utf-8"), base, sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def escape(text: str) -> str:
    """Escapes ``&``, ``<`` and ``>`` as Slack's message text requires."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plain_text(text: str) -> str:
    """A Slack message's text as the customer wrote it: links and entities undone."""
    text = _MENTION.sub("", text)
    text = _LINK.sub(lambda m: m.group(2) or m.group(1), text)
    return html.unescape(text).strip()


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


class SlackInput(MessagingInput):
    """The Slack Events API channel."""

    ENV: ClassVar[tuple[str, ...]] = (ENV_BOT_TOKEN, ENV_SIGNING_SECRET)
    ARGUMENTS = ("bot_token", "signing_secret", "api_url")
    DEFAULTS = {"api_url": DEFAULT_API_URL}
    MAX_CHARS: ClassVar[int] = SECTION_MAX_CHARS
    #: Slack retries an event not acknowledged within 3 seconds.
    ACK_WITHIN_S: ClassVar[float] = 2.0
    NUMBERED_BUTTONS: ClassVar[bool] = False

    @classmethod
    def name(cls) -> str:
        """``slack``: the Request URL is ``/webhooks/slack/webhook``."""
        return CHANNEL_NAME

    def __init__(self, bot_token: str, signing_secret: str, api_url: str = DEFAULT_API_URL) -> None:
        """Creates the channel.

        Args:
            bot_token: The app's Bot User OAuth Token (``xoxb-...``).
            signing_secret: The app's Signing Secret.
            api_url: The Web API's base URL (a fake in tests).
        """
        super().__init__()
        self.bot_token = bot_token
        self.signing_secret = signing_secret
        self.api_url = api_url.rstrip("/")

    # -- inbound -------------------------------------------------------------------------

    def verify(self, request: Request, now: float | None = None) -> HTTPResponse | None:
        """The timestamp (within 5 minutes) and the v0 signature of the raw body."""
        timestamp = request.headers.get(HEADER_TIMESTAMP, "")
        given = request.headers.get(HEADER_SIGNATURE, "")
        if not timestamp or not given:
            return response.json({"error": "unauthorized"}, status=401)
        moment = time.time() if now is None else now
        if not _TIMESTAMP.fullmatch(timestamp) or abs(moment - int(timestamp)) > MAX_CLOCK_SKEW_S:
            return response.json({"error": "stale_request"}, status=403)
        expected = signature(self.signing_secret, timestamp, request.body or b"")
        if not self.signing_secret or not hmac.compare_digest(
            given.encode("utf-8", "surrogateescape"), expected.encode("ascii")
        ):
            return response.json({"error": "forbidden"}, status=403)
        return None

    def parse(self, request: Request) -> list[Inbound] | HTTPResponse:
        """An event, a button press, or the URL verification's challenge."""
        body = request.body or b""
        content_type = request.headers.get("Content-Type", "")
        try:
            if content_type.startswith("application/x-www-form-urlencoded"):
                form = parse_qs(body.decode("utf-8"), strict_parsing=False)
                data = json.loads(form.get("payload", [""])[0])
                if not isinstance(data, dict):
                    raise ValueError("not an object")
                return self._from_interaction(data)
            data = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return response.json({"error": "bad_json"}, status=400)
        if not isinstance(data, dict):
            return response.json({"error": "bad_json"}, status=400)
        kind = data.get("type")
        if kind == "url_verification":
            challenge = data.get("challenge")
            if not isinstance(challenge, str) or not 0 < len(challenge) <= 256:
                return response.json({"error": "bad_challenge"}, status=400)
            return response.json({"challenge": challenge})
        if kind != "event_callback":
            return []
        inbound = self._from_event(data)
        return [inbound] if inbound else []

    def _from_event(self, data: dict[str, Any]) -> Inbound | None:
        event = data.get("event")
        event_id = _string(data.get("event_id"))
        if not isinstance(event, dict) or event_id is None:
            return None
        kind = event.get("type")
        if kind == MESSAGE_EVENT:
            if event.get("channel_type") != DIRECT_MESSAGE:
                return None  # channel messages: only mentions are for the bot
        elif kind != MENTION_EVENT:
            return None
        user, channel, text = (_string(event.get(k)) for k in ("user", "channel", "text"))
        if event.get("subtype") or event.get("bot_id") or user is None or channel is None:
            return None  # edits, joins, bots' messages (ours too)
        if user in _own_users(data) or text is None:
            return None
        if kind == MENTION_EVENT:
            # Answered privately: a bot's answer may hold the customer's orders, and a
            # channel is shared. A user id as ``channel`` posts to the app's DM with them.
            address: dict[str, Any] = {"channel": user}
        else:
            address = {"channel": channel}
            thread = _string(event.get("thread_ts"))
            if thread:
                address["thread_ts"] = thread
        return Inbound(delivery_id=event_id, user_id=user, text=plain_text(text), address=address)

    def _from_interaction(self, data: dict[str, Any]) -> list[Inbound] | HTTPResponse:
        if data.get("type") != "block_actions":
            return []
        user = data.get("user")
        channel = data.get("channel")
        actions = data.get("actions")
        trigger = _string(data.get("trigger_id"))
        if not (isinstance(user, dict) and isinstance(channel, dict)):
            return []
        if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
            return []
        user_id, channel_id = _string(user.get("id")), _string(channel.get("id"))
        value = _string(actions[0].get("value"))
        if user_id is None or channel_id is None or value is None or trigger is None:
            return []
        address: dict[str, Any] = {"channel": channel_id}
        container = data.get("container")
        thread = _string(container.get("thread_ts")) if isinstance(container, dict) else None
        if not channel_id.startswith(DIRECT_CHANNEL_PREFIX):
            address = {"channel": user_id}  # outside a DM: answered in the DM, as mentions are
        elif thread:
            address["thread_ts"] = thread
        return [
            Inbound(delivery_id=f"action:{trigger}", user_id=user_id, text=value, address=address)
        ]

    def acknowledge(self, request: Request, passive: OutMessage | None) -> HTTPResponse:
        """An empty 200: Slack only needs the status."""
        return response.empty(status=200)

    # -- outbound ------------------------------------------------------------------------

    def request_of(self, address: dict[str, Any], message: OutMessage) -> dict[str, Any]:
        """The ``chat.postMessage`` body of one message."""
        text = with_image(message.text, message.image, self.MAX_CHARS)
        body: dict[str, Any] = {"channel": address["channel"], "text": escape(text)}
        if address.get("thread_ts"):
            body["thread_ts"] = address["thread_ts"]
        if message.buttons:
            blocks: list[dict[str, Any]] = [
                {"type": "section", "text": {"type": "mrkdwn", "text": piece}}
                for piece in _escaped_pieces(text, SECTION_MAX_CHARS)
            ]
            buttons = [
                {
                    "type": "button",
                    "action_id": f"button-{index}",
                    "text": {"type": "plain_text", "text": _short(title, BUTTON_TITLE_MAX_CHARS)},
                    "value": payload[:BUTTON_VALUE_MAX_CHARS],
                }
                for index, (title, payload) in enumerate(message.buttons)
            ]
            for start in range(0, len(buttons), BUTTONS_PER_BLOCK):
                blocks.append(
                    {"type": "actions", "elements": buttons[start : start + BUTTONS_PER_BLOCK]}
                )
            body["blocks"] = blocks
        return body

    async def send(self, address: dict[str, Any], message: OutMessage) -> None:
        """One ``chat.postMessage`` call.

        Raises:
            PlatformError: Slack refused (``retryable`` for rate limits, transient errors,
                5xx and network errors).
        """
        headers = {"Authorization": f"Bearer {self.bot_token}"}
        answer = await post_json(
            f"{self.api_url}/chat.postMessage",
            self.request_of(address, message),
            what=WHAT_SEND,
            headers=headers,
        )
        if answer.status == 200 and answer.data.get("ok") is True:
            return
        raise _error(answer)


def _own_users(data: dict[str, Any]) -> set[str]:
    """The app's own bot user ids, from the event's ``authorizations``."""
    found = set()
    for item in data.get("authorizations") or []:
        if isinstance(item, dict) and item.get("is_bot") and isinstance(item.get("user_id"), str):
            found.add(item["user_id"])
    return found


def _escaped_pieces(text: str, limit: int) -> list[str]:
    """``text`` escaped, in pieces of at most ``limit`` characters (no entity cut)."""
    pieces: list[str] = []
    current = ""
    for char in text:
        escaped = escape(char)
        if len(current) + len(escaped) > limit:
            pieces.append(current)
            current = ""
        current += escaped
    if current or not pieces:
        pieces.append(current or " ")
    return pieces


def _error(answer: Answer) -> PlatformError:
    """The :class:`PlatformError` of a failed Web API call."""
    error = str(answer.data.get("error", ""))
    return failure(WHAT_SEND, answer, error[:100], retryable=error in RETRYABLE_ERRORS)
