"""The web app's view of the one settings object (:class:`analytics.core.settings.Settings`).

Nothing is read from the environment here: every value comes from the settings, built
once per process (``get_settings.cache_clear()`` rebuilds them, for tests).
"""

from __future__ import annotations

from dataclasses import dataclass

from analytics.core.settings import Settings, SettingsView, reveal
from web.security import IpNetwork


@dataclass(frozen=True)
class WebSettings:
    """What the web app needs to know (the variables are described in ``.env.example``).

    Attributes:
        database_url: The customer-success store (``SHOP_DATABASE_URL``).
        port: Port of the web app (``WEB_PORT``).
        rasa_url: Rasa server as reached from this process (``RASA_URL``).
        rasa_public_url: Rasa server as reached from the customer's browser
            (``RASA_PUBLIC_URL``, else ``RASA_URL``).
        rasa_jwt_secret: ``RASA_JWT_SECRET``, if set.
        session_secret: ``SESSION_SECRET``, if set.
        console_user: ``CONSOLE_USER``.
        console_password: ``CONSOLE_PASSWORD`` (hashed on first run), if set.
        secure_cookies: ``CONSOLE_SECURE_COOKIES``: ``auto``, ``on`` or ``off``.
        rate_per_minute: ``CONSOLE_RATE_PER_MINUTE``.
        trusted_proxies: ``CHAT_TRUSTED_PROXIES``.
        rate_exempt_loopback: ``CHAT_RATE_EXEMPT_LOOPBACK``.
        production: ``PROFILE=production``.
        site_origins: ``SITE_ORIGINS``.
        demo_identity_secret: ``DEMO_IDENTITY_SECRET``, if set.
        login_per_minute: ``CONSOLE_LOGIN_PER_MINUTE``.
        session_token_ttl_s: ``CHAT_SESSION_TOKEN_TTL_S``.
        session_token_resume_s: ``CHAT_SESSION_TOKEN_RESUME_S``.
    """

    database_url: str
    port: int
    rasa_url: str
    rasa_public_url: str
    rasa_jwt_secret: str | None
    session_secret: str | None
    console_user: str
    console_password: str | None
    secure_cookies: str
    rate_per_minute: int
    trusted_proxies: tuple[IpNetwork, ...]
    rate_exempt_loopback: bool
    production: bool
    site_origins: tuple[str, ...]
    demo_identity_secret: str | None
    login_per_minute: int
    session_token_ttl_s: int
    session_token_resume_s: int


def web_view(settings: Settings) -> WebSettings:
    """The web app's part of the settings."""
    return WebSettings(
        database_url=settings.database_url,
        port=settings.web_port,
        rasa_url=settings.rasa_url,
        rasa_public_url=settings.rasa_public_url or settings.rasa_url,
        rasa_jwt_secret=reveal(settings.rasa_jwt_secret),
        session_secret=reveal(settings.session_secret),
        console_user=settings.console_user,
        console_password=reveal(settings.console_password),
        secure_cookies=settings.console_secure_cookies,
        rate_per_minute=settings.console_rate_per_minute,
        trusted_proxies=settings.chat_trusted_proxies,
        rate_exempt_loopback=settings.chat_rate_exempt_loopback,
        production=settings.production,
        site_origins=settings.site_origins,
        demo_identity_secret=reveal(settings.demo_identity_secret),
        login_per_minute=settings.console_login_per_minute,
        session_token_ttl_s=settings.chat_session_token_ttl_s,
        session_token_resume_s=settings.chat_session_token_resume_s,
    )


#: ``get_settings()`` returns the web app's settings; ``get_settings.cache_clear()``.
get_settings = SettingsView(web_view)
