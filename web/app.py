"""App factory of the web app: ``uvicorn web.app:create_app --factory``.

Routers live beside this module, one per feature: :mod:`web.demo` (the demo shop page and
the widget's assets), :mod:`web.rating` (the widget's end-of-chat rating),
:mod:`web.console` (the founder's console) and :mod:`web.founder_hooks` (the founder's
replies from the alert apps). Each exposes ``router`` (a FastAPI ``APIRouter``). Every
response gets the security headers of :class:`web.security.SecurityHeaders`; requests under
``/console`` and ``/founder/hooks`` are rate limited per client address
(:class:`web.security.ConsoleRateLimit`, one counter each).
"""

from __future__ import annotations

import importlib
import logging

from fastapi import FastAPI

from web.security import ConsoleRateLimit, IpNetwork, SecurityHeaders
from web.settings import get_settings

logger = logging.getLogger(__name__)

FEATURE_MODULES = ("web.demo", "web.rating", "web.console", "web.founder_hooks")
CONSOLE_PREFIX = "/console"
FOUNDER_HOOKS_PREFIX = "/founder/hooks"


def _rate_settings() -> tuple[int, tuple[IpNetwork, ...], bool]:
    settings = get_settings()
    return settings.rate_per_minute, settings.trusted_proxies, settings.rate_exempt_loopback


def create_app() -> FastAPI:
    """Builds the web app with every feature router that is installed."""
    app = FastAPI(title="Leaf & Bean", docs_url=None, redoc_url=None, openapi_url=None)
    for module_name in FEATURE_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            logger.info("Feature %s is not installed", module_name)
            continue
        setup = getattr(module, "setup", None)
        if setup is not None:
            setup(app)
        app.include_router(module.router)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(ConsoleRateLimit, prefix=CONSOLE_PREFIX, settings=_rate_settings)
    app.add_middleware(ConsoleRateLimit, prefix=FOUNDER_HOOKS_PREFIX, settings=_rate_settings)
    app.add_middleware(SecurityHeaders)  # outermost: 429s and errors get the headers too
    return app
