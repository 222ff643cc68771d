"""Alerts to a DingTalk (钉钉) group through a custom robot's webhook, signed.

https://open.dingtalk.com/document/robots/customize-robot-security-settings: the webhook
URL gets ``timestamp`` (milliseconds) and ``sign`` = URL-encoded
base64(HMAC-SHA256(key = secret, message = timestamp + newline + secret)) query parameters.
The alert is a ``text`` message (plain text; nobody is @-mentioned).
"""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import quote_plus

from analytics.loop.alerts.notifiers.base import (
    AlertText,
    NotifierError,
    json_body,
    post_json,
    short,
)
from analytics.loop.alerts.notifiers.signed import SignedWebhook, hmac_sha256_base64

ENV = ("DINGTALK_ALERT_WEBHOOK_URL", "DINGTALK_ALERT_SECRET")
#: "Sending too fast" (a robot may send 20 messages a minute).
RATE_LIMITED = frozenset({130101, 660026})


def dingtalk_sign(timestamp_ms: int, secret: str) -> str:
    """DingTalk's robot signature of ``timestamp_ms`` (base64, before URL-encoding).

    The key is the secret; the message is the timestamp, a newline and the secret.
    """
    return hmac_sha256_base64(key=secret, message=f"{timestamp_ms}\n{secret}")


class DingTalkNotifier(SignedWebhook):
    """Posts signed alerts to a custom robot (``webhook_url`` holds its ``access_token``)."""

    kind: ClassVar[str] = "dingtalk"
    ENV = ENV

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
