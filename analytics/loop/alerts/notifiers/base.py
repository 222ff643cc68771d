"""What every alert notifier shares: the message, the interface and its errors.

A notifier sends one alert to one place (the founder's Telegram chat, a Slack channel...)
with one API call: ``send(alert_text) -> platform_message_id | None``. It raises
:class:`NotifierError`: ``retryable`` for what may pass (a timeout, a 5xx, a rate limit,
an expired token), not retryable for what will not (a bad token, an unknown chat, a
refused request). The dispatcher (:mod:`analytics.loop.alerts.dispatch`) decides when to
retry. Notifiers never log the alert's text or a secret.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import httpx

logger = logging.getLogger(__name__)

#: Seconds one platform call may take.
HTTP_TIMEOUT_S = 10.0
#: The User-Agent of alert calls.
USER_AGENT = "leafbean-alerts/1"
#: Longest platform error text kept (it goes to the delivery's ``error``).
MAX_DETAIL_CHARS = 200


@dataclass(frozen=True)
class AlertText:
    """One alert as every notifier sends it (plain text: no markup of ours).

    Attributes:
        ref: The alert's short ref (``A17``).
        title: One line: ref and customer, both languages.
        text: The whole message (Chinese, then English, then the link), plain text.
        link: The conversation's page in the console.
        data: The alert's facts for the generic webhook (JSON-safe).
    """

    ref: str
    title: str
    text: str
    link: str
    data: dict[str, Any]


class NotifierError(Exception):
    """A failed send.

    Attributes:
        retryable: Whether trying again later may work.
        retry_after: Seconds the platform asked to wait, if it said.
    """

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class NotifierConfigError(Exception):
    """A channel's variables are missing or invalid: the channel is skipped."""


class Notifier(Protocol):
    """Sends alerts to one place."""

    kind: ClassVar[str]

    def send(self, alert_text: AlertText) -> str | None:
        """Send one alert.

        Args:
            alert_text: The alert.

        Returns:
            The platform's id of the message (Telegram ``message_id``...), if it gives one.

        Raises:
            NotifierError: The alert was not sent.
        """
        ...

    def close(self) -> None:
        """Release the notifier's connections."""
        ...


def http_client() -> httpx.Client:
    """The HTTP client of a notifier (timeouts, no redirects, a fixed User-Agent)."""
    return httpx.Client(
        timeout=HTTP_TIMEOUT_S, follow_redirects=False, headers={"User-Agent": USER_AGENT}
    )


def post_json(
    client: httpx.Client, url: str, payload: Any, *, what: str, **kw: Any
) -> httpx.Response:
    """POST JSON, turning transport errors and error statuses into :class:`NotifierError`.

    Args:
        client: The HTTP client.
        url: Where (may hold a secret: never logged or put in an error).
        payload: The JSON body.
        what: The platform's name for error messages.
        **kw: More arguments of :meth:`httpx.Client.post` (``params``, ``headers``...).

    Returns:
        The 2xx response.

    Raises:
        NotifierError: On a network error (retryable), 429 or 5xx (retryable), other 4xx.
    """
    try:
        response = client.post(url, json=payload, **kw)
    except httpx.HTTPError as error:
        raise NotifierError(f"{what}: {type(error).__name__}", retryable=True) from None
    check_status(response, what)
    return response


def check_status(response: httpx.Response, what: str) -> None:
    """Raise :class:`NotifierError` for a non-2xx response (429 and 5xx retryable)."""
    status = response.status_code
    if 200 <= status < 300:
        return
    retry_after = _retry_after(response.headers.get("Retry-After"))
    raise NotifierError(
        f"{what}: HTTP {status}",
        retryable=status == 429 or status >= 500 or status == 408,
        retry_after=retry_after,
    )


def json_body(response: httpx.Response, what: str) -> dict[str, Any]:
    """The response's JSON object, or a retryable :class:`NotifierError`."""
    try:
        body = response.json()
    except ValueError:
        raise NotifierError(f"{what}: the answer is not JSON", retryable=True) from None
    if not isinstance(body, dict):
        raise NotifierError(f"{what}: the answer is not a JSON object", retryable=True)
    return body


def short(value: object) -> str:
    """A platform's error message, cut short and on one line (for the delivery's error)."""
    return " ".join(str(value).split())[:MAX_DETAIL_CHARS]


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if 0 <= seconds <= 24 * 3600 else None
