"""Runs the action server: ``python -m actions [--port PORT]``."""

from __future__ import annotations

import argparse
import logging

from rasa_sdk.endpoint import run

from actions.settings import get_settings

ACTIONS_PACKAGE = "actions"


def main(argv: list[str] | None = None) -> None:
    """Parses arguments and serves the actions until interrupted."""
    parser = argparse.ArgumentParser(description="Leaf & Bean action server")
    parser.add_argument("--port", type=int, default=get_settings().port)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    run(ACTIONS_PACKAGE, port=args.port)


if __name__ == "__main__":
    main()
