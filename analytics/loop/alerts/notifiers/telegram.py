"""Alerts to the founder's Telegram chat, through the founder's own alert bot.

``sendMessage`` (https://core.telegram.org/bots/api#sendmessage) to
``TELEGRAM_ALERT_CHAT_ID`` with ``TELEGRAM_ALERT_BOT_TOKEN`` at ``TELEGRAM_API_URL``, as
plain text (no ``parse_mode``: a customer's name cannot become markup). The returned
``message_id`` is stored: a founder's reply to the alert names it (``reply_to_message``).
"""

from __future__ import annotations

from typing import ClassVar

from analytics.core.settings import Settings
from analytics.loop.alerts.notifiers.base import (
    AlertText,
    NotifierConfigError,
    NotifierError,
    http_client,
    json_body,
    short,
)

#: Telegram's longest message text.
MAX_CHARS = 4096
ENV = ("TELEGRAM_ALERT_BOT_TOKEN", "TELEGRAM_ALERT_CHAT_ID")


class TelegramNotifier:
    """Sends alerts with the Bot API's ``sendMessage``."""

    kind: ClassVar[str] = "telegram"

    def __init__(self, token: str, chat_id: str, api_url: str = "https://api.telegram.org"):
        """Create a notifier.

        Args:
            token: The alert bot's token.
            chat_id: The founder's chat id.
            api_url: The Bot API's base URL.
        """
        self._url = f"{api_url.rstrip('/')}/bot{token}/sendMessage"
        self._chat_id = chat_id
        self._client = http_client()

    @classmethod
    def from_settings(cls, settings: Settings) -> TelegramNotifier:
        """The notifier of the settings (:class:`NotifierConfigError` if incomplete)."""
        token = settings.telegram_alert_bot_token
        if token is None or not token.get_secret_value() or not settings.telegram_alert_chat_id:
            raise NotifierConfigError("set " + " and ".join(ENV))
        return cls(
            token.get_secret_value(), settings.telegram_alert_chat_id, settings.telegram_api_url
        )

    def send(self, alert_text: AlertText) -> str | None:
        """Send the alert; returns Telegram's ``message_id``."""
        payload = {
            "chat_id": self._chat_id,
            "text": alert_text.text[:MAX_CHARS],
            "disable_web_page_preview": True,
        }
        try:
            response = self._client.post(self._url, json=payload)
        except Exception as error:  # noqa: BLE001 - httpx's errors may quote the URL (token)
            raise NotifierError(f"telegram: {type(error).__name__}", retryable=True) from None
        if response.status_code >= 500:
            raise NotifierError(f"telegram: HTTP {response.status_code}", retryable=True)
        body = json_body(response, "telegram")
        if body.get("ok") is True:
            result = body.get("result")
            message_id = result.get("message_id") if isinstance(result, dict) else None
            return str(message_id) if message_id is not None else None
        code = body.get("error_code", response.status_code)
        parameters = body.get("parameters")
        retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
        raise NotifierError(
            f"telegram: {code} {short(body.get('description', ''))}",
            retryable=code == 429 or (isinstance(code, int) and code >= 500),
            retry_after=float(retry_after) if isinstance(retry_after, int | float) else None,
        )

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()
