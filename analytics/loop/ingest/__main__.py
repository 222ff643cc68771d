"""``python -m analytics.loop.ingest``: the ingest worker.

``--source sql`` (default) polls Rasa's SQL event broker database (``var/rasa_events.db``,
as in ``bot/endpoints.yml``; override with ``--events-db`` or the ``RASA_EVENTS_DB``
setting); ``--source rabbitmq`` consumes the queue of ``bot/endpoints.prod.yml`` (the
``RABBITMQ_*`` settings). SIGTERM and Ctrl-C stop it after the current batch.

The worker never exits on a bad event (it is dead-lettered, one log line each, with ids and
the error class only, never message text) nor on an unavailable store or broker (it backs
off and retries, logging each attempt).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import sys
import threading
from types import FrameType

from sqlalchemy.exc import OperationalError

from analytics.brain.sentiment import default_scorer
from analytics.core.settings import Settings, get_settings
from analytics.loop.ingest.errors import Backoff, error_class
from analytics.loop.ingest.rabbitmq import RabbitConfig, RabbitMQConsumer
from analytics.loop.ingest.sql_source import SqlEventPoller
from analytics.loop.ingest.writer import IngestWriter
from analytics.store.db import make_engine, make_sessionmaker, upgrade_to_head

logger = logging.getLogger(__name__)


def build_parser(settings: Settings | None = None) -> argparse.ArgumentParser:
    """The command-line parser.

    Args:
        settings: Where the defaults come from; defaults to
            :func:`analytics.core.settings.get_settings`.

    Returns:
        The parser.
    """
    settings = settings if settings is not None else get_settings()
    parser = argparse.ArgumentParser(prog="python -m analytics.loop.ingest", description=__doc__)
    parser.add_argument("--source", choices=("sql", "rabbitmq"), default="sql")
    parser.add_argument(
        "--events-db",
        default=settings.rasa_events_db.get_secret_value(),
        help="path or URL of Rasa's SQL event broker database (--source sql)",
    )
    parser.add_argument(
        "--queue", default=None, help="RabbitMQ queue (default RABBITMQ_QUEUE or rasa_events)"
    )
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--poll-interval", type=float, default=0.2)
    parser.add_argument(
        "--max-idle", type=float, default=None, help="exit after this many idle seconds"
    )
    parser.add_argument("--migrate", action="store_true", help="upgrade the store schema first")
    parser.add_argument("--no-live-risk", action="store_true", help="do not update live risk")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the worker.

    Args:
        argv: Command-line arguments (defaults to ``sys.argv[1:]``).

    Returns:
        The exit code.
    """
    settings = get_settings()
    args = build_parser(settings).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("Signal %d: stopping after the current batch", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if args.migrate:
        _migrate(settings.database_url, stop)
    engine = make_engine(settings.database_url)
    scorer = default_scorer()
    scorer.score("预热 warm-up")  # load (or train once) the sentiment model before consuming
    writer = IngestWriter(make_sessionmaker(engine), scorer=scorer, live_risk=not args.no_live_risk)
    try:
        if args.source == "sql":
            poller = SqlEventPoller(
                writer,
                engine,
                args.events_db,
                batch_size=args.batch_size,
                poll_interval=args.poll_interval,
            )
            try:
                stats = poller.run(stop, max_idle=args.max_idle)
            finally:
                poller.close()
        else:
            config = RabbitConfig.from_settings(settings)
            if args.queue:
                config = dataclasses.replace(config, queue=args.queue)
            consumer = RabbitMQConsumer(
                writer, config, batch_size=args.batch_size, max_wait=args.poll_interval
            )
            stats = consumer.run(stop, max_idle=args.max_idle)
    finally:
        engine.dispose()
    logger.info(
        "Stopped: %d events, %d messages stored, %d duplicates skipped, %d dead letters",
        stats.events,
        stats.messages,
        stats.duplicates,
        stats.dead_letters,
    )
    return 0


def _migrate(url: str, stop: threading.Event) -> None:
    """Upgrade the store schema, retrying with back-off while the store is unreachable."""
    backoff = Backoff()
    while not stop.is_set():
        try:
            upgrade_to_head(url)
            return
        except OperationalError as error:
            delay = backoff.next_delay()
            logger.warning(
                "Store unavailable for the migration (%s); attempt %d again in %.1f s",
                error_class(error),
                backoff.attempt + 1,
                delay,
            )
            stop.wait(delay)


if __name__ == "__main__":
    sys.exit(main())
