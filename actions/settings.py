"""Settings of the action server, read from the environment (and ``.env``).

The action server trusts only the ``verified_customer_id`` a door (Rasa's channels) put
in a message's metadata, so it needs no identity secret. What it does need:

| variable | default | meaning |
|---|---|---|
| ``ACTION_PORT`` | 5055 | the port it listens on |
| ``ACTION_SERVER_HOST`` | ``127.0.0.1`` | the address it binds (``0.0.0.0`` to listen wider) |
| ``ACTION_SERVER_TOKEN`` | unset | when set, every request but ``GET /health`` must carry it |
|  |  | as the ``token`` query parameter (Rasa's ``action_endpoint.token``) |
| ``ACTION_SERVER_MAX_BODY_BYTES`` | 1048576 | the largest request body (Rasa sends the session |
|  |  | and the domain: about 300 short turns fit) |
| ``PENDING_CONFIRMATION_SECONDS`` | 600 | how long a "yes/no" question stays answerable |
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from analytics.core.settings import env_int, env_setting
from analytics.core.settings import get_settings as get_store_settings

ENV_ACTION_PORT = "ACTION_PORT"
ENV_ACTION_HOST = "ACTION_SERVER_HOST"
ENV_ACTION_TOKEN = "ACTION_SERVER_TOKEN"
ENV_MAX_BODY_BYTES = "ACTION_SERVER_MAX_BODY_BYTES"
ENV_PENDING_SECONDS = "PENDING_CONFIRMATION_SECONDS"
DEFAULT_ACTION_PORT = 5055
DEFAULT_ACTION_HOST = "127.0.0.1"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024  # about 300 short turns of one session, plus the domain
DEFAULT_PENDING_SECONDS = 600


@dataclass(frozen=True)
class ActionSettings:
    """What the action server needs to know.

    Attributes:
        database_url: SQLAlchemy URL of the customer-success store.
        port: The port the action server listens on.
        host: The address it binds.
        token: The shared token Rasa sends, or None (then no token is checked).
        max_body_bytes: The largest request body accepted (413 beyond).
        pending_seconds: How long a pending confirmation can be answered.
    """

    database_url: str
    port: int
    host: str = DEFAULT_ACTION_HOST
    token: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    pending_seconds: int = DEFAULT_PENDING_SECONDS


@lru_cache(maxsize=1)
def get_settings() -> ActionSettings:
    """Returns the settings, read once per process."""
    store = get_store_settings()
    host = (env_setting(ENV_ACTION_HOST) or "").strip() or DEFAULT_ACTION_HOST
    token = (env_setting(ENV_ACTION_TOKEN) or "").strip() or None
    return ActionSettings(
        database_url=store.database_url,
        port=env_int(ENV_ACTION_PORT, DEFAULT_ACTION_PORT),
        host=host,
        token=token,
        max_body_bytes=max(1024, env_int(ENV_MAX_BODY_BYTES, DEFAULT_MAX_BODY_BYTES)),
        pending_seconds=max(1, env_int(ENV_PENDING_SECONDS, DEFAULT_PENDING_SECONDS)),
    )
