"""Alerts to a DingTalk (钉钉) group through a custom robot's webhook, signed.

https://open.dingtalk.com/document/robots/customize-robot-security-settings: the webhook
URL gets ``timestamp`` (milliseconds) and ``sign`` = URL-encoded
base64(HMAC-SHA256(key = secret, message = timestamp + newline + secret)) query parameters.
The alert is a ``text`` message (plain text; nobody is @-mentioned).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import ClassVar
from urllib.parse import quote_plus

from analytics.core.settings import Settings
from analytics.loop.alerts.notifiers.base import (
    AlertText,
    NotifierConfigError,
    NotifierError,
    http_client,
    json_body,
    post_json,
    short,
)

ENV = ("DINGTALK_ALERT_WEBHOOK_URL", "DINGTALK_ALERT_SECRET")
#: "Sending too fast" (a robot may send 20 messages a minute).
RATE_LIMITED = frozenset({130101, 660026})


def dingtalk_sign(timestamp_ms: int, secret: str) -> str:
    """DingTalk's robot signature of ``timestamp_ms`` (base64, before URL-encoding)."""
    message = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


class DingTalkNotifier:
    """Posts signed alerts to a custom robot."""

    kind: ClassVar[str] = "dingtalk"

    def __init__(self, webhook_url: str, secret: str, *, clock: Callable[[], float] = time.time):
        """Create a notifier.

        Args:
            webhook_url: The robot's webhook URL with its ``access_token`` (a secret).
            secret: The robot's signing secret (``SEC...``).
            clock: Unix seconds.
        """
        self._url = webhook_url
        self._secret = secret
        self._clock = clock
        self._client = http_client()

    @classmethod
    def from_settings(cls, settings: Settings) -> DingTalkNotifier:
        """The notifier of the settings (:class:`NotifierConfigError` if incomplete)."""
        url, secret = settings.dingtalk_alert_webhook_url, settings.dingtalk_alert_secret
        if not url or not secret or not url.get_secret_value() or not secret.get_secret_value():
            raise NotifierConfigError("set " + " and ".join(ENV))
        return cls(url.get_secret_value(), secret.get_secret_value())

    def send(self, alert_text: AlertText) -> str | None:
        """Post the alert (a robot gives no message id)."""
        timestamp = int(self._clock() * 1000)
        query = f"timestamp={timestamp}&sign={quote_plus(dingtalk_sign(timestamp, self._secret))}"
        url = f"{self._url}{'&' if '?' in self._url else '?'}{query}"
        payload = {"msgtype": "text", "text": {"content": alert_text.text}}
        response = post_json(self._client, url, payload, what="dingtalk")
        body = json_body(response, "dingtalk")
        code = body.get("errcode", 0)
        if code != 0:
            raise NotifierError(
                f"dingtalk: {code} {short(body.get('errmsg', ''))}",
                retryable=code in RATE_LIMITED or code == -1,
            )
        return None

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()
