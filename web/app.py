"""App factory of the web app: ``uvicorn web.app:create_app --factory``.

Routers live beside this module, one per feature: :mod:`web.demo` (the demo
shop page and the widget's assets) and :mod:`web.console` (the founder's
console). Each exposes ``router`` (a FastAPI ``APIRouter``).
"""

from __future__ import annotations

import importlib
import logging

from fastapi import FastAPI

logger = logging.getLogger(__name__)

FEATURE_MODULES = ("web.demo", "web.console")


def create_app() -> FastAPI:
    """Builds the web app with every feature router that is installed."""
    app = FastAPI(title="Leaf & Bean", docs_url=None, redoc_url=None)
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

    return app
