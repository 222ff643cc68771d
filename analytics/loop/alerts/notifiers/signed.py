"""What the signed-webhook notifiers share (DingTalk and Feishu robots, the generic webhook).

* :func:`hmac_sha256_base64`: base64(HMAC-SHA256(key, message)), the signature DingTalk's and
  Feishu's custom robots ask for. The two differ in what is the key and what is the message
  (DingTalk: key = secret, message = timestamp + newline + secret; Feishu: key = timestamp +
  newline + secret, message = empty), so each module says which, as its platform documents.
* :class:`SignedWebhook`: a notifier posting to a webhook URL with a signing secret (both
  secrets, both required: :data:`SignedWebhook.ENV`) and a clock for the timestamp.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import ClassVar, Self

from analytics.core.settings import Settings
from analytics.loop.alerts.notifiers.base import AlertText, NotifierConfigError, http_client


def hmac_sha256_base64(key: str, message: str) -> str:
    """base64(HMAC-SHA256(``key``, ``message``)), both UTF-8."""
    digest = hmac.new(key.encode(), message.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


class SignedWebhook:
    """A notifier posting alerts to a webhook URL, signed with a secret.

    Subclasses set ``kind``, :attr:`ENV` (the URL's and the secret's variables; the settings
    fields are their lower-case names) and ``send``.
    """

    kind: ClassVar[str]
    ENV: ClassVar[tuple[str, str]]

    def __init__(self, webhook_url: str, secret: str, *, clock: Callable[[], float] = time.time):
        """Create a notifier.

        Args:
            webhook_url: Where alerts are POSTed (a secret when it holds a token).
            secret: The signing secret.
            clock: Unix seconds.
        """
        self._url = webhook_url
        self._secret = secret
        self._clock = clock
        self._client = http_client()

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """The notifier of the settings (:class:`NotifierConfigError` if incomplete)."""
        url, secret = (getattr(settings, name.lower()) for name in cls.ENV)
        if not url or not secret or not url.get_secret_value() or not secret.get_secret_value():
            raise NotifierConfigError("set " + " and ".join(cls.ENV))
        return cls(url.get_secret_value(), secret.get_secret_value())

    def send(self, alert_text: AlertText) -> str | None:
        """Send one alert (see :class:`~analytics.loop.alerts.notifiers.base.Notifier`)."""
        raise NotImplementedError

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()
