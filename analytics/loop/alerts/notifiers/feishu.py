"""Alerts to a Feishu / Lark group through a custom bot's webhook, signed.

https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot: with signature
verification on, each POST carries ``timestamp`` (seconds) and ``sign`` =
base64(HMAC-SHA256(key = timestamp + newline + secret, message = empty)). The alert is a
``post`` (rich text) message whose elements are ``text`` (plain, never parsed: a customer's
name cannot become an ``<at>``) and one ``a`` link to the console.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any, ClassVar

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

ENV = ("FEISHU_ALERT_WEBHOOK_URL", "FEISHU_ALERT_SECRET")
#: Feishu's "too many requests" codes.
RATE_LIMITED = frozenset({11232})
LINK_LABEL = "打开对话 / Open the conversation"


def feishu_sign(timestamp: int, secret: str) -> str:
    """Feishu's webhook signature of ``timestamp`` (seconds)."""
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode("ascii")


def post_content(alert_text: AlertText) -> dict[str, Any]:
    """The ``post`` message of an alert: one ``text`` line each, then the link."""
    lines: list[list[dict[str, str]]] = [
        [{"tag": "text", "text": line}] for line in alert_text.text.splitlines() if line.strip()
    ]
    lines.append([{"tag": "a", "text": LINK_LABEL, "href": alert_text.link}])
    return {"post": {"zh_cn": {"title": alert_text.title, "content": lines}}}


class FeishuNotifier:
    """Posts signed alerts to a custom bot."""

    kind: ClassVar[str] = "feishu"

    def __init__(self, webhook_url: str, secret: str, *, clock: Callable[[], float] = time.time):
        """Create a notifier.

        Args:
            webhook_url: The bot's webhook URL (a secret).
            secret: The bot's signing secret.
            clock: Unix seconds.
        """
        self._url = webhook_url
        self._secret = secret
        self._clock = clock
        self._client = http_client()

    @classmethod
    def from_settings(cls, settings: Settings) -> FeishuNotifier:
        """The notifier of the settings (:class:`NotifierConfigError` if incomplete)."""
        url, secret = settings.feishu_alert_webhook_url, settings.feishu_alert_secret
        if not url or not secret or not url.get_secret_value() or not secret.get_secret_value():
            raise NotifierConfigError("set " + " and ".join(ENV))
        return cls(url.get_secret_value(), secret.get_secret_value())

    def send(self, alert_text: AlertText) -> str | None:
        """Post the alert (a custom bot gives no message id)."""
        timestamp = int(self._clock())
        payload = {
            "timestamp": str(timestamp),
            "sign": feishu_sign(timestamp, self._secret),
            "msg_type": "post",
            "content": post_content(alert_text),
        }
        body = json_body(post_json(self._client, self._url, payload, what="feishu"), "feishu")
        code = body.get("code", body.get("StatusCode", 0))
        if code != 0:
            raise NotifierError(
                f"feishu: {code} {short(body.get('msg', body.get('StatusMessage', '')))}",
                retryable=code in RATE_LIMITED,
            )
        return None

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()
