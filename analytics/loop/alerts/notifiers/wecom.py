"""Alerts to the founder in WeCom (企业微信) through a self-built alert app.

https://developer.work.weixin.qq.com/document/path/91039 (``gettoken``) and
/90236 (``message/send``): the access token is fetched with ``WECOM_CORP_ID`` and
``WECOM_ALERT_SECRET``, cached until shortly before it expires, and fetched again once when
WeCom says it is invalid or expired; the alert is a ``text`` message (plain text) to
``WECOM_ALERT_USER_ID`` from app ``WECOM_ALERT_AGENT_ID``. The returned ``msgid`` is stored.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

import httpx

from analytics.core.settings import Settings
from analytics.loop.alerts.notifiers.base import (
    AlertText,
    NotifierConfigError,
    NotifierError,
    check_status,
    http_client,
    json_body,
    short,
)

ENV = ("WECOM_CORP_ID", "WECOM_ALERT_SECRET", "WECOM_ALERT_AGENT_ID", "WECOM_ALERT_USER_ID")
#: A text message's longest content, in UTF-8 bytes.
MAX_BYTES = 2048
#: Fetch a new token this many seconds before the old one expires.
TOKEN_MARGIN_S = 300
#: errcodes meaning: the access token is bad or expired (fetch a new one and try again).
TOKEN_ERRORS = frozenset({40014, 42001, 41001})
#: errcodes worth trying again later: system busy, API frequency limits.
RETRYABLE_ERRORS = frozenset({-1, 45009, 45033, 45047})


def cut_bytes(text: str, limit: int = MAX_BYTES) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, never inside a character."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", errors="ignore")


class WeComNotifier:
    """Sends alerts with ``message/send``, caching the access token."""

    kind: ClassVar[str] = "wecom"

    def __init__(
        self,
        corp_id: str,
        secret: str,
        agent_id: int,
        user_id: str,
        api_url: str = "https://qyapi.weixin.qq.com",
        *,
        clock: Callable[[], float] = time.monotonic,
    ):
        """Create a notifier.

        Args:
            corp_id: The corp ID.
            secret: The alert app's secret.
            agent_id: The alert app's AgentId.
            user_id: The founder's UserID.
            api_url: WeCom's API base URL.
            clock: Monotonic seconds (token expiry).
        """
        self._base = api_url.rstrip("/")
        self._corp_id = corp_id
        self._secret = secret
        self._agent_id = agent_id
        self._user_id = user_id
        self._clock = clock
        self._client = http_client()
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> WeComNotifier:
        """The notifier of the settings (:class:`NotifierConfigError` if incomplete)."""
        secret = settings.wecom_alert_secret
        values = (
            settings.wecom_corp_id,
            settings.wecom_alert_agent_id,
            settings.wecom_alert_user_id,
        )
        if secret is None or not secret.get_secret_value() or not all(values):
            raise NotifierConfigError("set " + ", ".join(ENV))
        try:
            agent_id = int(settings.wecom_alert_agent_id)
        except ValueError:
            raise NotifierConfigError("WECOM_ALERT_AGENT_ID is a number") from None
        return cls(
            settings.wecom_corp_id,
            secret.get_secret_value(),
            agent_id,
            settings.wecom_alert_user_id,
            settings.wecom_api_url,
        )

    def _call(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        try:
            response = self._client.request(method, f"{self._base}{path}", **kw)
        except httpx.HTTPError as error:
            raise NotifierError(f"wecom: {type(error).__name__}", retryable=True) from None
        check_status(response, "wecom")
        return json_body(response, "wecom")

    def access_token(self, *, fresh: bool = False) -> str:
        """The cached access token, fetched when missing, expiring or ``fresh``."""
        with self._lock:
            if not fresh and self._token and self._clock() < self._expires:
                return self._token
            body = self._call(
                "GET",
                "/cgi-bin/gettoken",
                params={"corpid": self._corp_id, "corpsecret": self._secret},
            )
            token = body.get("access_token")
            if body.get("errcode", 0) != 0 or not isinstance(token, str) or not token:
                code = body.get("errcode")
                raise NotifierError(
                    f"wecom gettoken: {code} {short(body.get('errmsg', ''))}",
                    retryable=code in RETRYABLE_ERRORS,
                )
            expires_in = body.get("expires_in", 7200)
            lifetime = float(expires_in) if isinstance(expires_in, int | float) else 7200.0
            self._token = token
            self._expires = self._clock() + max(lifetime - TOKEN_MARGIN_S, 60.0)
            return token

    def send(self, alert_text: AlertText) -> str | None:
        """Send the alert as a text message; returns WeCom's ``msgid``."""
        payload = {
            "touser": self._user_id,
            "msgtype": "text",
            "agentid": self._agent_id,
            "text": {"content": cut_bytes(alert_text.text)},
            "safe": 0,
        }
        for attempt in range(2):
            token = self.access_token(fresh=attempt > 0)
            body = self._call(
                "POST", "/cgi-bin/message/send", params={"access_token": token}, json=payload
            )
            code = body.get("errcode", 0)
            if code == 0:
                if body.get("invaliduser"):
                    raise NotifierError("wecom: the founder's UserID is invalid", retryable=False)
                msgid = body.get("msgid")
                return str(msgid) if msgid else None
            if code not in TOKEN_ERRORS:
                raise NotifierError(
                    f"wecom: {code} {short(body.get('errmsg', ''))}",
                    retryable=code in RETRYABLE_ERRORS,
                )
        raise NotifierError("wecom: the access token was refused twice", retryable=True)

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()
