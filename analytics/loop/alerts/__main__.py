"""``python -m analytics.loop.alerts``: the alert dispatcher process (Procfile ``alerts``).

Builds the notifiers of ``ALERT_CHANNELS`` (a channel without its variables: one log line,
skipped; the process stays up even with none, so the supervisor does not restart it in a
loop), then sends the outbox every 2 seconds until SIGTERM or SIGINT, finishing the
delivery in hand.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from analytics.core.settings import get_settings
from analytics.loop.alerts.dispatch import POLL_SECONDS, Dispatcher
from analytics.loop.alerts.notifiers import build_notifiers
from analytics.store.db import make_engine, make_sessionmaker

logger = logging.getLogger(__name__)

#: Libraries whose INFO logs quote URLs with secrets in them.
NOISY_LOGGERS = ("httpx", "httpcore")


def main(argv: list[str] | None = None) -> int:
    """Run the dispatcher.

    Args:
        argv: Command-line arguments (defaults to ``sys.argv[1:]``).

    Returns:
        The exit code.
    """
    parser = argparse.ArgumentParser(prog="python -m analytics.loop.alerts", description=__doc__)
    parser.add_argument("--poll", type=float, default=POLL_SECONDS, help="seconds between polls")
    parser.add_argument("--once", action="store_true", help="send what is due once and exit")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in NOISY_LOGGERS:  # they log request URLs, which hold tokens (Telegram, DingTalk)
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = get_settings()
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("Signal %d: stopping after the current delivery", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    notifiers = build_notifiers(settings)
    if notifiers:
        logger.info("Alert channels: %s", ", ".join(notifiers))
    else:
        logger.info("No alert channel is configured (ALERT_CHANNELS): nothing to send")
    engine = make_engine(settings.database_url)
    dispatcher = Dispatcher(make_sessionmaker(engine), notifiers)
    try:
        if args.once:
            dispatcher.run_once()
        else:
            dispatcher.run(stop, poll=args.poll)
    finally:
        dispatcher.close()
        engine.dispose()
    logger.info("Alert dispatcher stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
