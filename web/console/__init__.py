"""The founder's console: inbox, conversations, customers, teaching the bot, take-over.

:func:`web.app.create_app` includes ``router`` and calls ``setup(app)``. Both are loaded
lazily (PEP 562) so that importing :mod:`analytics.store.models.console` (e.g. from the Alembic
migration) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from fastapi import APIRouter, FastAPI

    router: APIRouter

    def setup(app: FastAPI) -> None:
        """Mounts the console's static files and its login redirect."""


def __getattr__(name: str) -> Any:
    """Loads ``router`` and ``setup`` from :mod:`web.console.routes` on first use."""
    if name in ("router", "setup"):
        from web.console import routes

        return getattr(routes, name)
    raise AttributeError(name)
