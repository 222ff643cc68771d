"""The action server's view of the one settings object (:mod:`analytics.core.settings`).

The action server trusts only the ``verified_customer_id`` a door (Rasa's channels) put in
a message's metadata, so it needs no identity secret. Its variables (``ACTION_PORT``,
``ACTION_SERVER_HOST``, ``ACTION_SERVER_TOKEN``, ``ACTION_SERVER_MAX_BODY_BYTES``,
``PENDING_CONFIRMATION_SECONDS``) are described in ``.env.example``. Nothing is read from
the environment here.
"""

from __future__ import annotations

from dataclasses import dataclass

from analytics.core.settings import Settings, SettingsView, reveal


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
    host: str
    token: str | None
    max_body_bytes: int
    pending_seconds: int


def action_view(settings: Settings) -> ActionSettings:
    """The action server's part of the settings."""
    return ActionSettings(
        database_url=settings.database_url,
        port=settings.action_port,
        host=settings.action_server_host,
        token=reveal(settings.action_server_token),
        max_body_bytes=settings.action_server_max_body_bytes,
        pending_seconds=settings.pending_confirmation_seconds,
    )


#: ``get_settings()`` returns the action server's settings; ``get_settings.cache_clear()``.
get_settings = SettingsView(action_view)
