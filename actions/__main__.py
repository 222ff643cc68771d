"""Runs the action server: ``python -m actions [--port PORT] [--host HOST]``.

One process (Sanic's single-process mode), bound to ``ACTION_SERVER_HOST``
(``127.0.0.1`` unless set), with the checks of :mod:`actions.server`. It refuses to
listen beyond loopback without ``ACTION_SERVER_TOKEN``: whoever reaches an open action
server can run any action as any customer.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys
from pathlib import Path

from rasa_sdk.executor import ActionExecutor
from sanic import Sanic

from actions.server import create_action_app, install_token_filter
from actions.settings import get_settings

logger = logging.getLogger(__name__)

ACTIONS_PACKAGE = "actions"
# rasa-sdk reads only tracing settings from it; absent is fine but it says so loudly.
ENDPOINTS_FILE = Path(__file__).resolve().parent / "endpoints.yml"
LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"
LOOPBACK_NAMES = frozenset({"localhost"})
EXIT_CONFIG_ERROR = 2


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is reachable only from this machine."""
    if host.strip().lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> None:
    """Parses arguments and serves the actions until interrupted."""
    settings = get_settings()
    parser = argparse.ArgumentParser(description="Leaf & Bean action server")
    parser.add_argument("--port", type=int, default=settings.port)
    parser.add_argument("--host", default=settings.host)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    install_token_filter()
    if not settings.token and not is_loopback(args.host):
        logger.error(
            "Refusing to listen on %s without ACTION_SERVER_TOKEN: set it (and the same "
            "value as the action endpoint's token in Rasa's endpoints.yml), or bind 127.0.0.1",
            args.host,
        )
        sys.exit(EXIT_CONFIG_ERROR)
    executor = ActionExecutor()
    executor.register_package(ACTIONS_PACKAGE)
    app = create_action_app(executor, settings, str(ENDPOINTS_FILE))
    logger.info(
        "Action server on http://%s:%d (token %s)",
        args.host,
        args.port,
        "required" if settings.token else "not set",
    )
    app.prepare(
        host=args.host,
        port=args.port,
        access_log=False,
        motd=False,
        single_process=True,
    )
    Sanic.serve_single(primary=app)


if __name__ == "__main__":
    main()
