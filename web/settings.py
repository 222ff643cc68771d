"""Settings of the web app, read from the environment (and ``.env``), once per process."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache

from analytics.core.settings import ENV_PROFILE, PRODUCTION, env_flag, env_int, env_setting
from analytics.core.settings import get_settings as get_store_settings
from web.security import IpNetwork, parse_networks

logger = logging.getLogger(__name__)

ENV_WEB_PORT = "WEB_PORT"
ENV_RASA_URL = "RASA_URL"
ENV_RASA_PUBLIC_URL = "RASA_PUBLIC_URL"
ENV_RASA_JWT_SECRET = "RASA_JWT_SECRET"
ENV_SESSION_SECRET = "SESSION_SECRET"
ENV_CONSOLE_USER = "CONSOLE_USER"
ENV_CONSOLE_PASSWORD = "CONSOLE_PASSWORD"
ENV_SECURE_COOKIES = "CONSOLE_SECURE_COOKIES"
ENV_RATE_PER_MINUTE = "CONSOLE_RATE_PER_MINUTE"
ENV_TRUSTED_PROXIES = "CHAT_TRUSTED_PROXIES"
ENV_RATE_EXEMPT_LOOPBACK = "CHAT_RATE_EXEMPT_LOOPBACK"
ENV_SITE_ORIGINS = "SITE_ORIGINS"
DEFAULT_SITE_ORIGINS = "http://localhost:8000,http://127.0.0.1:8000"
DEFAULT_RASA_URL = "http://localhost:5005"
DEFAULT_RATE_PER_MINUTE = 300
SECURE_COOKIE_MODES = ("auto", "on", "off")
ORIGIN_RE = re.compile(r"https?://[^/\s*]+")


@dataclass(frozen=True)
class WebSettings:
    """What the web app needs to know.

    Attributes:
        database_url: The customer-success store.
        port: Port of the web app.
        rasa_url: Rasa server as reached from this process (HTTP API).
        rasa_public_url: Rasa server as reached from the customer's browser (socket.io).
        rasa_jwt_secret: Key of the JWTs Rasa's HTTP API and the widget channel's founder
            routes accept (Rasa's ``--jwt-secret``), if set.
        session_secret: Key that signs console session cookies.
        console_user: The founder's login name.
        console_password: The founder's initial password (hashed on first run), if set.
        secure_cookies: ``auto`` (``Secure`` unless the request came over plain HTTP to
            localhost, 127.0.0.1 or ::1), ``on`` or ``off`` (``PROFILE=production`` always
            gets ``Secure``).
        rate_per_minute: Console requests per client address per minute.
        trusted_proxies: Reverse proxies whose ``X-Forwarded-For`` is believed.
        rate_exempt_loopback: Loopback clients are not rate limited (the login throttle
            still applies to them).
        production: ``PROFILE=production``.
        site_origins: The web origins the widget runs on (``SITE_ORIGINS``); only they may
            post ratings from another origin (CORS).
    """

    database_url: str
    port: int
    rasa_url: str
    rasa_public_url: str
    rasa_jwt_secret: str | None
    session_secret: str | None
    console_user: str
    console_password: str | None
    secure_cookies: str = "auto"
    rate_per_minute: int = DEFAULT_RATE_PER_MINUTE
    trusted_proxies: tuple[IpNetwork, ...] = ()
    rate_exempt_loopback: bool = True
    production: bool = False
    site_origins: tuple[str, ...] = ()


@lru_cache(maxsize=1)
def get_settings() -> WebSettings:
    """Returns the settings, read once per process."""
    store = get_store_settings()
    rasa_url = env_setting(ENV_RASA_URL) or DEFAULT_RASA_URL
    secure = (env_setting(ENV_SECURE_COOKIES) or "auto").strip().lower()
    return WebSettings(
        database_url=store.database_url,
        port=env_int(ENV_WEB_PORT, 8000),
        rasa_url=rasa_url,
        rasa_public_url=env_setting(ENV_RASA_PUBLIC_URL) or rasa_url,
        rasa_jwt_secret=env_setting(ENV_RASA_JWT_SECRET) or None,
        session_secret=env_setting(ENV_SESSION_SECRET) or None,
        console_user=env_setting(ENV_CONSOLE_USER) or "founder",
        console_password=env_setting(ENV_CONSOLE_PASSWORD) or None,
        secure_cookies=secure if secure in SECURE_COOKIE_MODES else "auto",
        rate_per_minute=max(1, env_int(ENV_RATE_PER_MINUTE, DEFAULT_RATE_PER_MINUTE)),
        trusted_proxies=parse_networks(env_setting(ENV_TRUSTED_PROXIES)),
        rate_exempt_loopback=env_flag(ENV_RATE_EXEMPT_LOOPBACK, True),
        production=(env_setting(ENV_PROFILE) or "").strip().lower() == PRODUCTION,
        site_origins=parse_origins(env_setting(ENV_SITE_ORIGINS, DEFAULT_SITE_ORIGINS)),
    )


def parse_origins(value: str | None) -> tuple[str, ...]:
    """Parses ``SITE_ORIGINS``: ``scheme://host[:port]`` items, lower case; ``*`` is ignored."""
    origins = []
    for item in (part.strip().rstrip("/") for part in (value or "").split(",")):
        if not item:
            continue
        if not ORIGIN_RE.fullmatch(item):
            logger.warning("%s: %r is not an origin; ignored", ENV_SITE_ORIGINS, item[:80])
            continue
        origins.append(item.lower())
    return tuple(origins)
