"""Runs the action server: ``python -m actions [--port PORT]``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from rasa_sdk.endpoint import run
from rasa_sdk.executor import ActionExecutor

from actions.settings import get_settings

ACTIONS_PACKAGE = "actions"
# rasa-sdk reads only tracing settings from it; absent is fine but it says so loudly.
ENDPOINTS_FILE = Path(__file__).resolve().parent / "endpoints.yml"


def main(argv: list[str] | None = None) -> None:
    """Parses arguments and serves the actions until interrupted."""
    parser = argparse.ArgumentParser(description="Leaf & Bean action server")
    parser.add_argument("--port", type=int, default=get_settings().port)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    executor = ActionExecutor()
    executor.register_package(ACTIONS_PACKAGE)
    run(executor, port=args.port, endpoints=str(ENDPOINTS_FILE))


if __name__ == "__main__":
    main()
