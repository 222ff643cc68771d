"""Telegram: a Bot API webhook channel (``/webhooks/telegram/webhook``).

Why not Rasa's own ``TelegramInput``: it does not check Telegram's secret token (anyone who
knows the URL can post forged updates as any user), it calls ``setWebhook`` when Rasa starts
(Rasa then fails to start without network access to Telegram), and it neither retries failed
sends nor ignores Telegram's redeliveries. This channel:

* refuses an update without the ``X-Telegram-Bot-Api-Secret-Token`` header (401) or with
  another value than ``TELEGRAM_WEBHOOK_SECRET`` (403), compared in constant time;
* is idempotent on ``update_id`` (the base's delivery ledger);
* takes the text of private-chat messages (a photo's caption; a bare ``/start``, the first
  message of every chat, stands for a hello in the language of the customer's Telegram app)
  and button presses (``callback_query``: its ``data`` is the button's payload); the press
  is answered
  (``answerCallbackQuery``, which stops the button's spinner) in the webhook's own HTTP answer,
  so it costs no API call;
* replies with ``sendMessage`` (plain text, at most 4,096 characters; buttons as an
  ``inline_keyboard``), retried by the base on 5xx/network errors and after a 429's
  ``parameters.retry_after``.

The webhook is never registered at start-up: ``docs/channels/telegram.md`` gives the one
``setWebhook`` call (with ``secret_token``) to make once. Rasa environment only.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from typing import Any, ClassVar

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.messaging.base import Inbound, MessagingInput, OutMessage, PlatformError
from bot.channels.messaging.conversation import payload_key
from bot.channels.messaging.http import Answer, failure, post_json
from bot.channels.messaging.platform import with_image

logger = logging.getLogger(__name__)

CHANNEL_NAME = "telegram"
ENV_ACCESS_TOKEN = "TELEGRAM_ACCESS_TOKEN"
ENV_BOT_USERNAME = "TELEGRAM_BOT_USERNAME"
ENV_WEBHOOK_URL = "TELEGRAM_WEBHOOK_URL"
ENV_WEBHOOK_SECRET = "TELEGRAM_WEBHOOK_SECRET"
ENV_API_URL = "TELEGRAM_API_URL"
DEFAULT_API_URL = "https://api.telegram.org"
HEADER_SECRET = "X-Telegram-Bot-Api-Secret-Token"
#: Longest text of one message (Bot API ``sendMessage``).
MAX_MESSAGE_CHARS = 4096
#: ``callback_data`` of an inline button: 1-64 bytes.
CALLBACK_DATA_MAX_BYTES = 64
PRIVATE_CHAT = "private"
#: What a bare ``/start`` (the first message of every Telegram chat) stands for: a hello in
#: the language of the customer's Telegram app, so the bot greets them in it.
HELLO_ZH = "你好"
HELLO_EN = "Hello"
_BARE_START = re.compile(r"\s*/start(?:@[A-Za-z0-9_]{1,64})?\s*", re.IGNORECASE)
WHAT_SEND = "telegram sendMessage"


def _text_of(message: dict[str, Any]) -> str | None:
    """The text of a message: its ``text`` or a photo's/document's ``caption``."""
    text = message.get("text")
    if not isinstance(text, str):
        text = message.get("caption")
    return text if isinstance(text, str) else None


def hello_for(language_code: Any) -> str:
    """The hello a bare ``/start`` stands for: Chinese unless Telegram says another language."""
    if (
        isinstance(language_code, str)
        and language_code
        and not language_code.lower().startswith("zh")
    ):
        return HELLO_EN
    return HELLO_ZH


def _id_of(value: Any) -> str | None:
    """A Telegram numeric id as a string (``None`` for anything else, booleans included)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return str(value)


class TelegramInput(MessagingInput):
    """The Telegram Bot API webhook channel."""

    ENV: ClassVar[tuple[str, ...]] = (ENV_ACCESS_TOKEN, ENV_WEBHOOK_SECRET)
    ARGUMENTS = ("access_token", "webhook_secret", "api_url", "bot_username")
    DEFAULTS = {"api_url": DEFAULT_API_URL}
    MAX_CHARS: ClassVar[int] = MAX_MESSAGE_CHARS
    ACK_WITHIN_S: ClassVar[float] = 5.0
    NUMBERED_BUTTONS: ClassVar[bool] = False

    @classmethod
    def name(cls) -> str:
        """``telegram``: the webhook is ``/webhooks/telegram/webhook``."""
        return CHANNEL_NAME

    def __init__(
        self,
        access_token: str,
        webhook_secret: str,
        api_url: str = DEFAULT_API_URL,
        bot_username: str = "",
    ) -> None:
        """Creates the channel.

        Args:
            access_token: The bot's token from @BotFather.
            webhook_secret: The ``secret_token`` given to ``setWebhook``.
            api_url: The Bot API's base URL (a fake in tests).
            bot_username: The bot's username (for the docs' deep links only).
        """
        super().__init__()
        self.access_token = access_token
        self.webhook_secret = webhook_secret
        self.api_url = api_url.rstrip("/")
        self.bot_username = bot_username

    # -- inbound -------------------------------------------------------------------------

    def verify(self, request: Request) -> HTTPResponse | None:
        """The secret token header, compared in constant time (401 missing, 403 wrong)."""
        given = request.headers.get(HEADER_SECRET)
        if not given:
            return response.json({"error": "unauthorized"}, status=401)
        if not self.webhook_secret or not hmac.compare_digest(
            given.encode("utf-8", "surrogateescape"), self.webhook_secret.encode("utf-8")
        ):
            return response.json({"error": "forbidden"}, status=403)
        return None

    def parse(self, request: Request) -> list[Inbound] | HTTPResponse:
        """The update's message or button press (nothing for other update kinds)."""
        try:
            update = json.loads((request.body or b"").decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return response.json({"error": "bad_json"}, status=400)
        if not isinstance(update, dict):
            return response.json({"error": "bad_json"}, status=400)
        update_id = _id_of(update.get("update_id"))
        if update_id is None:
            return response.json({"error": "bad_update"}, status=400)
        message = update.get("message")
        if isinstance(message, dict):
            inbound = self._from_message(update_id, message)
            return [inbound] if inbound else []
        callback = update.get("callback_query")
        if isinstance(callback, dict):
            inbound = self._from_callback(update_id, callback)
            return [inbound] if inbound else []
        return []  # edited messages, channel posts, member updates...: nothing to answer

    def _from_message(self, update_id: str, message: dict[str, Any]) -> Inbound | None:
        chat = message.get("chat")
        sender = message.get("from")
        if not isinstance(chat, dict) or not isinstance(sender, dict):
            return None
        if chat.get("type") != PRIVATE_CHAT or sender.get("is_bot") is True:
            return None  # a support bot talks with customers one to one
        chat_id, user_id = _id_of(chat.get("id")), _id_of(sender.get("id"))
        text = _text_of(message)
        if chat_id is None or user_id is None or text is None:
            return None
        if _BARE_START.fullmatch(text):
            text = hello_for(sender.get("language_code"))
        return Inbound(
            delivery_id=update_id, user_id=user_id, text=text, address={"chat_id": chat_id}
        )

    def _from_callback(self, update_id: str, callback: dict[str, Any]) -> Inbound | None:
        sender = callback.get("from")
        message = callback.get("message")
        data = callback.get("data")
        if not isinstance(sender, dict) or not isinstance(message, dict):
            return None
        chat = message.get("chat")
        if not isinstance(chat, dict) or chat.get("type") != PRIVATE_CHAT:
            return None
        chat_id, user_id = _id_of(chat.get("id")), _id_of(sender.get("id"))
        if chat_id is None or user_id is None or not isinstance(data, str):
            return None
        # A payload key (``lp:...``) is resolved from the tracker by the conversation.
        return Inbound(
            delivery_id=update_id, user_id=user_id, text=data, address={"chat_id": chat_id}
        )

    def acknowledge(self, request: Request, passive: OutMessage | None) -> HTTPResponse:
        """200; a button press is answered in the same HTTP answer (``answerCallbackQuery``)."""
        try:
            update = json.loads((request.body or b"").decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            update = None
        callback = update.get("callback_query") if isinstance(update, dict) else None
        callback_id = callback.get("id") if isinstance(callback, dict) else None
        if isinstance(callback_id, str) and callback_id:
            return response.json(
                {"method": "answerCallbackQuery", "callback_query_id": callback_id}
            )
        return response.json({"ok": True})

    # -- outbound ------------------------------------------------------------------------

    @staticmethod
    def _callback_data(payload: str) -> str:
        """The button's ``callback_data``: the payload, or its key if over 64 bytes.

        The key (:func:`~bot.channels.messaging.conversation.payload_key`) is resolved from
        the conversation's tracker when pressed, so it works on any server after any restart.
        """
        if 0 < len(payload.encode("utf-8", "surrogatepass")) <= CALLBACK_DATA_MAX_BYTES:
            return payload
        return payload_key(payload)

    def request_of(self, address: dict[str, Any], message: OutMessage) -> dict[str, Any]:
        """The ``sendMessage`` body of one message (one button per row)."""
        text = with_image(message.text, message.image, self.MAX_CHARS)
        body: dict[str, Any] = {"chat_id": address["chat_id"], "text": text}
        if message.buttons:
            body["reply_markup"] = {
                "inline_keyboard": [
                    [{"text": title, "callback_data": self._callback_data(payload)}]
                    for title, payload in message.buttons
                ]
            }
        return body

    async def send(self, address: dict[str, Any], message: OutMessage) -> None:
        """One ``sendMessage`` call.

        Raises:
            PlatformError: Telegram refused (``retryable`` for 429, 5xx and network errors).
        """
        url = f"{self.api_url}/bot{self.access_token}/sendMessage"
        answer = await post_json(url, self.request_of(address, message), what=WHAT_SEND)
        if answer.ok and answer.data.get("ok") is True:
            return
        raise _error(answer)


def _error(answer: Answer) -> PlatformError:
    """The :class:`PlatformError` of a failed Bot API call (never carrying the token)."""
    body = answer.data
    parameters = body.get("parameters")
    after: float | None = None
    if isinstance(parameters, dict) and isinstance(parameters.get("retry_after"), int | float):
        after = float(parameters["retry_after"])
    detail = f"{body.get('error_code', answer.status)} {body.get('description', '')}"
    return failure(WHAT_SEND, answer, detail, after=after)
