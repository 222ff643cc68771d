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
from typing import ClassVar

import httpx

from analytics.loop.alerts.notifiers.base import AlertText, NotifierError, check_status
from analytics.loop.alerts.notifiers.signed import SignedWebhook

ENV = ("ALERT_WEBHOOK_URL", "ALERT_WEBHOOK_SECRET")
SIGNATURE_HEADER = "X-Leafbean-Signature"
TIMESTAMP_HEADER = "X-Leafbean-Timestamp"


def webhook_signature(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value: ``sha256=<hex>`` over ``"<timestamp>." + body``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


class WebhookNotifier(SignedWebhook):
    """POSTs signed JSON alerts."""

    kind: ClassVar[str] = "webhook"
    ENV = ENV

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
