"""Settings of the web app, read from the environment (and ``.env``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

from analytics.settings import REPO_ROOT, parse_env_file
from analytics.settings import get_settings as get_store_settings

ENV_WEB_PORT = "WEB_PORT"
ENV_RASA_URL = "RASA_URL"
ENV_RASA_PUBLIC_URL = "RASA_PUBLIC_URL"
ENV_RASA_AUTH_TOKEN = "RASA_AUTH_TOKEN"
ENV_SESSION_SECRET = "SESSION_SECRET"
ENV_CONSOLE_USER = "CONSOLE_USER"
ENV_CONSOLE_PASSWORD = "CONSOLE_PASSWORD"


def _env(name: str, default: str | None = None) -> str | None:
    """An environment variable, else its value in ``.env``, else the default."""
    if name in os.environ:
        return os.environ[name]
    return parse_env_file(REPO_ROOT / ".env").get(name, default)


@dataclass(frozen=True)
class WebSettings:
    """What the web app needs to know.

    Attributes:
        database_url: The customer-success store.
        identity_secret: HMAC key for customer identity (the demo page signs its demo customer).
        port: Port of the web app.
        rasa_url: Rasa server as reached from this process (HTTP API).
        rasa_public_url: Rasa server as reached from the customer's browser (socket.io).
        rasa_auth_token: Token of Rasa's HTTP API (``--auth-token``), if set.
        session_secret: Key that signs console session cookies.
        console_user: The founder's login name.
        console_password: The founder's initial password (hashed on first run), if set.
    """

    database_url: str
    identity_secret: str | None
    port: int
    rasa_url: str
    rasa_public_url: str
    rasa_auth_token: str | None
    session_secret: str | None
    console_user: str
    console_password: str | None


@lru_cache(maxsize=1)
def get_settings() -> WebSettings:
    """Returns the settings, read once per process."""
    store = get_store_settings()
    rasa_url = _env(ENV_RASA_URL, "http://localhost:5005") or "http://localhost:5005"
    return WebSettings(
        database_url=store.database_url,
        identity_secret=store.identity_secret or None,
        port=int(_env(ENV_WEB_PORT, "8000") or 8000),
        rasa_url=rasa_url,
        rasa_public_url=_env(ENV_RASA_PUBLIC_URL, rasa_url) or rasa_url,
        rasa_auth_token=_env(ENV_RASA_AUTH_TOKEN) or None,
        session_secret=_env(ENV_SESSION_SECRET) or None,
        console_user=_env(ENV_CONSOLE_USER, "founder") or "founder",
        console_password=_env(ENV_CONSOLE_PASSWORD) or None,
    )
