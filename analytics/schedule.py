"""Refreshes the brain's scores on a schedule: ``python -m analytics.schedule``.

``make run`` starts it beside the bot. It scores once at start (so a new store
gets scores within a minute) and then every ``--every-hours`` hours. Each run
refits the models and keeps a refit only if it is not worse on the holdout
(see :mod:`analytics.scoring`); a failed run is logged and retried next time,
the stored scores stay as they were.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Sequence
from types import FrameType

from analytics import scoring

logger = logging.getLogger(__name__)

DEFAULT_EVERY_HOURS = 24.0


def main(argv: Sequence[str] | None = None) -> int:
    """Scores now, then every ``--every-hours`` hours until SIGTERM or Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every-hours", type=float, default=DEFAULT_EVERY_HOURS)
    parser.add_argument("--once", action="store_true", help="score once and exit")
    args = parser.parse_args(argv)
    if args.every_hours <= 0:
        parser.error("--every-hours must be positive")
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    while not stop.is_set():
        try:
            code = scoring.main([])
        except Exception:  # noqa: BLE001 - a bad run must not stop the schedule
            logger.exception("Scoring failed; the stored scores are unchanged")
            code = 1
        if args.once:
            return code
        logger.info("Next scoring in %.1f hours", args.every_hours)
        stop.wait(args.every_hours * 3600)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
