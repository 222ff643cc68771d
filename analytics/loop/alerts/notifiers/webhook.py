"""Alerts POSTed as JSON to the founder's own endpoint (``ALERT_WEBHOOK_URL``), signed.

Headers: ``X-Leafbean-Timestamp: <unix seconds>`` and ``X-Leafbean-Signature:
sha256=<hex HMAC-SHA256(ALERT_WEBHOOK_SECRET, "<timestamp>." + body)>``. The receiver
recomputes it over the raw body and refuses an old timestamp (docs/alerts.md). The body is
``{"ref", "title", "text", "link", "alert": {...facts}}``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import ClassVar

import httpx

from analytics.core.settings import Settings
from analytics.loop.alerts.notifiers.base import (
    AlertText,
    NotifierConfigError,
    NotifierError,
    check_status,
    http_client,
)

ENV = ("ALERT_WEBHOOK_URL", "ALERT_WEBHOOK_SECRET")
SIGNATURE_HEADER = "X-Leafbean-Signature"
TIMESTAMP_HEADER = "X-Leafbean-Timestamp"


def webhook_signature(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value: ``sha256=<hex>`` over ``"<timestamp>." + body``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


class WebhookNotifier:
    """POSTs signed JSON alerts."""

    kind: ClassVar[str] = "webhook"

    def __init__(self, url: str, secret: str, *, clock: Callable[[], float] = time.time):
        """Create a notifier.

        Args:
            url: Where alerts are POSTed.
            secret: The signing secret.
            clock: Unix seconds.
        """
        self._url = url
        self._secret = secret
        self._clock = clock
        self._client = http_client()

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookNotifier:
        """The notifier of the settings (:class:`NotifierConfigError` if incomplete)."""
        url, secret = settings.alert_webhook_url, settings.alert_webhook_secret
        if not url or not secret or not url.get_secret_value() or not secret.get_secret_value():
            raise NotifierConfigError("set " + " and ".join(ENV))
        return cls(url.get_secret_value(), secret.get_secret_value())

    def send(self, alert_text: AlertText) -> str | None:
        """POST the alert (the receiver's answer is not read beyond its status)."""
        body = json.dumps(
            {
                "ref": alert_text.ref,
                "title": alert_text.title,
                "text": alert_text.text,
                "link": alert_text.link,
                "alert": alert_text.data,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode("utf-8")
        timestamp = int(self._clock())
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: webhook_signature(self._secret, timestamp, body),
        }
        try:
            response = self._client.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as error:
            raise NotifierError(f"webhook: {type(error).__name__}", retryable=True) from None
        check_status(response, "webhook")
        return None

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()
