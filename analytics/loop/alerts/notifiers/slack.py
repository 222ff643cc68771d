"""Alerts to a Slack channel through an incoming webhook (``SLACK_ALERT_WEBHOOK_URL``).

https://api.slack.com/messaging/webhooks: POST ``{"text": ...}``; Slack answers ``ok``.
The text is escaped as Slack asks (``&``, ``<``, ``>``), so a customer's name cannot
become a link or a mention (``<!channel>``); ``mrkdwn`` is off.
"""

from __future__ import annotations

from typing import ClassVar

from analytics.core.settings import Settings
from analytics.loop.alerts.notifiers.base import (
    AlertText,
    NotifierConfigError,
    http_client,
    post_json,
)

ENV = ("SLACK_ALERT_WEBHOOK_URL",)
#: Slack truncates longer texts (https://api.slack.com/methods/chat.postMessage#truncating).
MAX_CHARS = 4000


def escape(text: str) -> str:
    """Slack's escaping of message text: ``&``, ``<`` and ``>`` only."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackNotifier:
    """Posts alerts to an incoming webhook."""

    kind: ClassVar[str] = "slack"

    def __init__(self, webhook_url: str):
        """Create a notifier.

        Args:
            webhook_url: The incoming webhook's URL (a secret).
        """
        self._url = webhook_url
        self._client = http_client()

    @classmethod
    def from_settings(cls, settings: Settings) -> SlackNotifier:
        """The notifier of the settings (:class:`NotifierConfigError` if incomplete)."""
        url = settings.slack_alert_webhook_url
        if url is None or not url.get_secret_value():
            raise NotifierConfigError("set SLACK_ALERT_WEBHOOK_URL")
        return cls(url.get_secret_value())

    def send(self, alert_text: AlertText) -> str | None:
        """Post the alert (an incoming webhook gives no message id)."""
        post_json(
            self._client,
            self._url,
            {"text": escape(alert_text.text)[:MAX_CHARS], "mrkdwn": False, "unfurl_links": False},
            what="slack",
        )
        return None

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()
