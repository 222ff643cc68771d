"""Settings of the action server, read from the environment (and ``.env``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

from analytics.settings import get_settings as get_store_settings

ENV_ACTION_PORT = "ACTION_PORT"
DEFAULT_ACTION_PORT = 5055


@dataclass(frozen=True)
class ActionSettings:
    """What the action server needs to know.

    Attributes:
        database_url: SQLAlchemy URL of the customer-success store.
        identity_secret: HMAC key shared with the host website, or None when unset
            (then nobody can be verified and everyone is anonymous).
        port: The port the action server listens on.
    """

    database_url: str
    identity_secret: str | None
    port: int


@lru_cache(maxsize=1)
def get_settings() -> ActionSettings:
    """Returns the settings, read once per process."""
    store = get_store_settings()
    return ActionSettings(
        database_url=store.database_url,
        identity_secret=store.identity_secret or None,
        port=int(os.environ.get(ENV_ACTION_PORT, DEFAULT_ACTION_PORT)),
    )
