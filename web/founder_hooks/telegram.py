"""The founder's alert bot on Telegram: reading a webhook update, sending the answer.

Telegram sends the ``secret_token`` given to ``setWebhook`` in the
``X-Telegram-Bot-Api-Secret-Token`` header of every delivery; it is compared in constant
time with ``TELEGRAM_ALERT_WEBHOOK_SECRET`` before the body is parsed. Only messages the
founder writes in their private chat with the alert bot are taken: ``chat.type`` is
``private`` and ``from.id == chat.id == TELEGRAM_ALERT_CHAT_ID``. Alerts may be sent to a
group, but a message in that group (any member could write it) is never passed on: one that
looks meant for the bot (a reply, a ``#ref``, a command) gets :data:`~web.founder_hooks.texts.GROUP_REFUSED`
(:class:`NotPrivate`). Anything else authentic (another chat, an edited message, a button
press) is answered 200 and dropped, so Telegram does not deliver it again.

Which alert a reply answers: the replied-to message's id (an alert's
``platform_message_id``), else a ref read from the replied-to text only when it is
*anchored* — the text starts with an acknowledgement's lead and ``（#A17）``
(:data:`~web.founder_hooks.texts.QUOTED_ACK_RE`), or starts with ``#A17`` (the top line of
every alert, or the founder's own ``#A17 ...``). A ref anywhere else in the quoted text (the
help's example, a customer's words quoted in an alert) is never taken.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import time
from typing import Any

import httpx

from web.founder_hooks.config import HookSettings
from web.founder_hooks.door import MAX_REPLY_CHARS, Refused, clean_reply
from web.founder_hooks.message import KIND_TELEGRAM, FounderMessage
from web.founder_hooks.texts import QUOTED_ACK_RE

logger = logging.getLogger(__name__)

SECRET_HEADER = "x-telegram-bot-api-secret-token"
#: A message older than this (Telegram keeps undelivered updates for a day) is dropped.
MAX_AGE_S = 24 * 3600
SEND_TIMEOUT_S = 10.0
#: Telegram's longest message.
TELEGRAM_MAX_CHARS = 4096
MAX_ID = 2**63
#: An alert ref that starts the text of the message the founder replied to.
LEADING_REF_RE = re.compile(r"^[#＃]\s*([Aa]\d{1,12})(?![0-9A-Za-z])")
PRIVATE = "private"


class Ignored(Exception):
    """An authentic update that is not the founder's message: 200, nothing done."""


class NotPrivate(Ignored):
    """A message in the alert chat that is not the founder's private chat (a group).

    Attributes:
        message_id: The message's id (the explanation replies to it).
        addressed: Whether it looks meant for the bot (a reply, a ``#ref`` or a command).
    """

    def __init__(self, message_id: int | None, addressed: bool) -> None:
        super().__init__("not the founder's private chat")
        self.message_id = message_id
        self.addressed = addressed


def quoted_ref(quoted: object) -> str | None:
    """The alert a quoted message is about, only from an anchored format (see the module)."""
    if not isinstance(quoted, str):
        return None
    head = quoted[:200]
    match = QUOTED_ACK_RE.match(head) or LEADING_REF_RE.match(head)
    return match.group(1).upper() if match else None


def verify(given: str | None, secret: str) -> None:
    """Checks the webhook's secret token (constant time).

    Args:
        given: The header's value, if sent.
        secret: ``TELEGRAM_ALERT_WEBHOOK_SECRET``.

    Raises:
        Refused: 401 without the header, 403 with a wrong one.
    """
    if not given:
        raise Refused(401, "no secret token")
    if not hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), secret.encode("utf-8", "surrogateescape")
    ):
        raise Refused(403, "bad secret token")


def _int_id(value: Any) -> int | None:  # noqa: ANN401 - any JSON value
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= MAX_ID:
        return None
    return value


def parse(body: bytes, chat_id: str, *, now: float | None = None) -> FounderMessage:
    """Reads the founder's message out of an authentic update.

    Args:
        body: The request body (JSON).
        chat_id: ``TELEGRAM_ALERT_CHAT_ID``.
        now: The current Unix time (defaults to the clock).

    Returns:
        The founder's message (text empty when it is not a text message).

    Raises:
        Refused: 400 when the body is not a JSON update.
        NotPrivate: For a message in the alert chat when it is not a private chat with the
            founder (a group).
        Ignored: For an update that is not a recent message of the founder's chat.
    """
    try:
        update = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise Refused(400, "not a JSON update") from None
    if not isinstance(update, dict) or _int_id(update.get("update_id")) is None:
        raise Refused(400, "not a Telegram update")
    message = update.get("message")
    if not isinstance(message, dict):
        raise Ignored("not a new message")
    chat = message.get("chat")
    chat_value = chat.get("id") if isinstance(chat, dict) else None
    if _int_id(chat_value) is None or str(chat_value) != chat_id:
        raise Ignored("another chat")
    moment = time.time() if now is None else now
    date = _int_id(message.get("date"))
    if date is not None and date < moment - MAX_AGE_S:
        raise Ignored("too old")
    text = message.get("text")
    reply = message.get("reply_to_message")
    own_id = _int_id(message.get("message_id"))
    sender = message.get("from")
    from_id = sender.get("id") if isinstance(sender, dict) else None
    private = isinstance(chat, dict) and chat.get("type") == PRIVATE
    if not private or _int_id(from_id) is None or str(from_id) != chat_id:
        addressed = isinstance(reply, dict) or (
            isinstance(text, str) and text.lstrip()[:1] in ("#", "＃", "/")
        )
        raise NotPrivate(own_id, addressed)
    reply_id = _int_id(reply.get("message_id")) if isinstance(reply, dict) else None
    quoted = reply.get("text") if isinstance(reply, dict) else None
    return FounderMessage(
        kind=KIND_TELEGRAM,
        delivery_id=str(update["update_id"]),
        text=clean_reply(text[: MAX_REPLY_CHARS * 4]) if isinstance(text, str) else "",
        reply_to=None if reply_id is None else str(reply_id),
        message_id=None if own_id is None else str(own_id),
        reply_ref=quoted_ref(quoted),
    )


def send_ack(settings: HookSettings, text: str, reply_to: str | None) -> bool:
    """Sends ``text`` to the founder's chat, as a reply to their message when known.

    Args:
        settings: The hooks' settings (the alert bot's token, chat and API URL).
        text: The acknowledgement.
        reply_to: The founder's message id.

    Returns:
        Whether Telegram accepted it (failures are logged, without the token).
    """
    payload: dict[str, Any] = {
        "chat_id": settings.telegram_chat_id,
        "text": text[:TELEGRAM_MAX_CHARS],
        "disable_web_page_preview": True,
    }
    if reply_to is not None:
        payload["reply_parameters"] = {
            "message_id": int(reply_to),
            "allow_sending_without_reply": True,
        }
    url = f"{settings.telegram_api_url}/bot{settings.telegram_token}/sendMessage"
    try:
        response = httpx.post(url, json=payload, timeout=SEND_TIMEOUT_S)
    except httpx.HTTPError as error:
        logger.warning("Telegram acknowledgement not sent: %s", type(error).__name__)
        return False
    if response.status_code != 200:
        logger.warning("Telegram acknowledgement refused: HTTP %s", response.status_code)
        return False
    return True
