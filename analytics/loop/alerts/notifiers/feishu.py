"""Alerts to a Feishu / Lark group through a custom bot's webhook, signed.

https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot: with signature
verification on, each POST carries ``timestamp`` (seconds) and ``sign`` =
base64(HMAC-SHA256(key = timestamp + newline + secret, message = empty)). The alert is a
``post`` (rich text) message whose elements are ``text`` (plain, never parsed: a customer's
name cannot become an ``<at>``) and one ``a`` link to the console.
"""

from __future__ import annotations

from typing import Any, ClassVar

from analytics.loop.alerts.notifiers.base import (
    AlertText,
    NotifierError,
    json_body,
    post_json,
    short,
)
from analytics.loop.alerts.notifiers.signed import SignedWebhook, hmac_sha256_base64

ENV = ("FEISHU_ALERT_WEBHOOK_URL", "FEISHU_ALERT_SECRET")
#: Feishu's "too many requests" codes.
RATE_LIMITED = frozenset({11232})
LINK_LABEL = "打开对话 / Open the conversation"


def feishu_sign(timestamp: int, secret: str) -> str:
    """Feishu's webhook signature of ``timestamp`` (seconds).

    The key is the timestamp, a newline and the secret; the message is empty.
    """
    return hmac_sha256_base64(key=f"{timestamp}\n{secret}", message="")


def post_content(alert_text: AlertText) -> dict[str, Any]:
    """The ``post`` message of an alert: one ``text`` line each, then the link."""
    lines: list[list[dict[str, str]]] = [
        [{"tag": "text", "text": line}] for line in alert_text.text.splitlines() if line.strip()
    ]
    lines.append([{"tag": "a", "text": LINK_LABEL, "href": alert_text.link}])
    return {"post": {"zh_cn": {"title": alert_text.title, "content": lines}}}


class FeishuNotifier(SignedWebhook):
    """Posts signed alerts to a custom bot."""

    kind: ClassVar[str] = "feishu"
    ENV = ENV

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
