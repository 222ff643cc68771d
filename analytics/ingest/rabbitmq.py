"""Consumes Rasa's Pika (RabbitMQ) event broker for production, with manual acknowledgements.

Rasa's Pika broker publishes every event as a persistent JSON message to the fanout exchange
``rasa-exchange``, bound to the durable queues of ``endpoints.prod.yml`` (``rasa_events``).
The consumer declares the same exchange, queue and binding (so no event is dropped if the
worker starts before Rasa), takes up to ``batch_size`` unacknowledged messages
(``basic_qos`` prefetch), writes them in one transaction and only then acknowledges them
(``multiple=True``). If the worker dies before the acknowledgement, RabbitMQ redelivers the
messages and the event keys make the second write a no-op: nothing lost, nothing doubled.
A batch that fails to write is negatively acknowledged and requeued.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pika
from pika.adapters.blocking_connection import BlockingChannel

from analytics.ingest.sql_source import PollStats
from analytics.ingest.writer import IngestWriter, parse_json_event

logger = logging.getLogger(__name__)

RASA_EXCHANGE = "rasa-exchange"
DEFAULT_QUEUE = "rasa_events"
DEFAULT_BATCH = 500
DEFAULT_WAIT_S = 0.2


@dataclass(frozen=True)
class RabbitConfig:
    """Where the broker is.

    Attributes:
        host: RabbitMQ host.
        port: AMQP port.
        username: User.
        password: Password.
        vhost: Virtual host.
        queue: The queue Rasa publishes to.
        exchange: Rasa's fanout exchange.
    """

    host: str = "127.0.0.1"
    port: int = 5672
    username: str = "guest"
    password: str = "guest"
    vhost: str = "/"
    queue: str = DEFAULT_QUEUE
    exchange: str = RASA_EXCHANGE

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RabbitConfig:
        """Read ``RABBITMQ_HOST``, ``_PORT``, ``_USER``, ``_PASSWORD``, ``_VHOST``, ``_QUEUE``, ``_EXCHANGE``.

        Args:
            environ: The environment; defaults to ``os.environ``.

        Returns:
            The configuration (local defaults for anything unset).
        """
        env = os.environ if environ is None else environ
        return cls(
            host=env.get("RABBITMQ_HOST", cls.host),
            port=int(env.get("RABBITMQ_PORT", cls.port)),
            username=env.get("RABBITMQ_USER", cls.username),
            password=env.get("RABBITMQ_PASSWORD", cls.password),
            vhost=env.get("RABBITMQ_VHOST", cls.vhost),
            queue=env.get("RABBITMQ_QUEUE", cls.queue),
            exchange=env.get("RABBITMQ_EXCHANGE", cls.exchange),
        )

    def parameters(self) -> pika.ConnectionParameters:
        """Pika connection parameters."""
        return pika.ConnectionParameters(
            host=self.host,
            port=self.port,
            virtual_host=self.vhost,
            credentials=pika.PlainCredentials(self.username, self.password),
            heartbeat=60,
            blocked_connection_timeout=60,
        )


def declare(channel: BlockingChannel, config: RabbitConfig) -> None:
    """Declare Rasa's exchange, the durable queue and the binding (idempotent).

    The exchange is declared exactly as Rasa's Pika broker does (fanout, not durable), so the
    two declarations agree whichever process comes first.

    Args:
        channel: An open channel.
        config: The broker configuration.
    """
    channel.exchange_declare(exchange=config.exchange, exchange_type="fanout", durable=False)
    channel.queue_declare(queue=config.queue, durable=True)
    channel.queue_bind(queue=config.queue, exchange=config.exchange, routing_key="")


class RabbitMQConsumer:
    """Consumes Rasa events from RabbitMQ in acknowledged batches."""

    def __init__(
        self,
        writer: IngestWriter,
        config: RabbitConfig | None = None,
        *,
        batch_size: int = DEFAULT_BATCH,
        max_wait: float = DEFAULT_WAIT_S,
    ) -> None:
        """Create a consumer.

        Args:
            writer: The writer.
            config: The broker configuration; defaults to :meth:`RabbitConfig.from_env`.
            batch_size: Messages per transaction (and the prefetch count).
            max_wait: Seconds to wait for more messages before writing a partial batch.
        """
        self.config = config or RabbitConfig.from_env()
        self.source = f"rabbitmq:{self.config.queue}"[:255]
        self._writer = writer
        self._batch = batch_size
        self._wait = max_wait
        self.stats = PollStats()

    def _flush(self, channel: BlockingChannel, batch: list[tuple[int, bytes]]) -> None:
        events: list[dict[str, Any]] = [
            e for e in (parse_json_event(body) for _, body in batch) if e is not None
        ]
        last_tag = batch[-1][0]
        try:
            result = self._writer.write(events, source=self.source, position=None)
        except Exception:
            logger.exception("Writing %d events failed; requeueing them", len(batch))
            channel.basic_nack(delivery_tag=last_tag, multiple=True, requeue=True)
            raise
        channel.basic_ack(delivery_tag=last_tag, multiple=True)
        result.events = len(batch)
        self.stats.add(result)

    def run(
        self, stop: threading.Event | None = None, *, max_idle: float | None = None
    ) -> PollStats:
        """Consume until stopped (or idle for ``max_idle`` seconds).

        Args:
            stop: Set it to stop after the current batch.
            max_idle: Return after this many seconds without messages (``None``: never).

        Returns:
            Totals of this run.
        """
        stop = stop or threading.Event()
        connection = pika.BlockingConnection(self.config.parameters())
        try:
            channel = connection.channel()
            declare(channel, self.config)
            channel.basic_qos(prefetch_count=self._batch)
            logger.info("Consuming %s on %s", self.config.queue, self.config.host)
            batch: list[tuple[int, bytes]] = []
            idle_since = time.monotonic()
            for method, _props, body in channel.consume(
                self.config.queue, auto_ack=False, inactivity_timeout=self._wait
            ):
                if method is not None:
                    batch.append((int(method.delivery_tag), body))
                    idle_since = time.monotonic()
                    if len(batch) < self._batch:
                        continue
                if batch:
                    self._flush(channel, batch)
                    batch = []
                    idle_since = time.monotonic()
                if stop.is_set():
                    break
                if max_idle is not None and time.monotonic() - idle_since >= max_idle:
                    break
            if batch:
                self._flush(channel, batch)
            channel.cancel()
        finally:
            if connection.is_open:
                connection.close()
        return self.stats
