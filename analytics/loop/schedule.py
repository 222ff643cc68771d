"""Refreshes the brain's scores and applies retention on a schedule: ``python -m analytics.loop.schedule``.

``make run`` starts it beside the bot. It scores once at start (so a new store
gets scores within a minute) and then every ``--every-hours`` hours. Each run
refits the models and keeps a refit only if it is not worse on the holdout
(see :mod:`analytics.brain.pipeline`); a failed run is logged and retried next time,
the stored scores stay as they were.

Each tick then prunes raw text older than ``RETENTION_DAYS`` (default 30) that the
ingest has processed from Rasa's tracker store and event broker database
(:mod:`analytics.loop.retention`) and logs the counts; ``--no-retention`` skips it.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Sequence
from types import FrameType

from analytics.brain import pipeline as scoring
from analytics.loop import retention

logger = logging.getLogger(__name__)

DEFAULT_EVERY_HOURS = 24.0


def run_retention() -> retention.RetentionReport | None:
    """One retention run with the environment's settings; a failure is logged, not raised.

    Returns:
        The report (``None`` if retention is off or failed).
    """
    try:
        report = retention.run_from_env()
    except Exception:  # noqa: BLE001 - a bad run must not stop the schedule
        logger.exception("Retention failed; nothing more is pruned until the next run")
        return None
    if report is not None:
        logger.info("Retention: %s", report.summary())
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Scores now, then every ``--every-hours`` hours until SIGTERM or Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every-hours", type=float, default=DEFAULT_EVERY_HOURS)
    parser.add_argument("--once", action="store_true", help="score once and exit")
    parser.add_argument("--no-retention", action="store_true", help="do not prune raw text")
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
        if not args.no_retention:
            run_retention()
        if args.once:
            return code
        logger.info("Next scoring in %.1f hours", args.every_hours)
        stop.wait(args.every_hours * 3600)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
