"""Consumes Rasa's Pika (RabbitMQ) event broker for production, with manual acknowledgements.

Rasa's Pika broker publishes every event as a persistent JSON message to the fanout exchange
``rasa-exchange``, bound to the durable queues of ``endpoints.prod.yml`` (``rasa_events``).
The consumer declares the same exchange, queue and binding exactly as Rasa does (no extra
queue arguments: Rasa would refuse a queue declared with different ones), so no event is
dropped if the worker starts before Rasa. It takes up to ``batch_size`` unacknowledged
messages (``basic_qos`` prefetch), writes them in one transaction and only then
acknowledges them (``multiple=True``). If the worker dies before the acknowledgement,
RabbitMQ redelivers the messages and the event keys make the second write a no-op: nothing
lost, nothing doubled.

* A *poison* message (one the writer could not process: not JSON, a value the store
  refuses, ...) is recorded in the dead-letter table by the writer, its raw body is
  published (persistent, with publisher confirms) to the durable queue ``<queue>.dead``
  (``rasa_events.dead``), and it is acknowledged with the rest of its batch.
* When the store is unavailable, nothing is dead-lettered: the consumer waits (back-off,
  each attempt logged), then negatively acknowledges the batch with ``requeue=True`` and
  tries again when the messages come back.
* When RabbitMQ is unreachable or the connection drops, it reconnects with back-off, each
  attempt logged. It never exits on its own (only on stop, or after ``max_idle``).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection

from analytics.core.settings import Settings, get_settings
from analytics.loop.ingest.errors import Backoff, error_class, is_store_unavailable
from analytics.loop.ingest.sql_source import PollStats
from analytics.loop.ingest.writer import Incoming, IngestWriter

logger = logging.getLogger(__name__)

RASA_EXCHANGE = "rasa-exchange"
DEFAULT_QUEUE = "rasa_events"
DEFAULT_BATCH = 500
DEFAULT_WAIT_S = 0.2
DEAD_SUFFIX = ".dead"
HEADER_SOURCE = "x-ingest-source"
_SLEEP_STEP_S = 0.2
#: Errors that mean "RabbitMQ unreachable or the connection dropped": reconnect.
BROKER_ERRORS: tuple[type[BaseException], ...] = (pika.exceptions.AMQPError, OSError)


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
    password: str = field(default="guest", repr=False)
    vhost: str = "/"
    queue: str = DEFAULT_QUEUE
    exchange: str = RASA_EXCHANGE

    @property
    def dead_queue(self) -> str:
        """The durable queue poison messages are published to (``<queue>.dead``)."""
        return f"{self.queue}{DEAD_SUFFIX}"

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> RabbitConfig:
        """The ``RABBITMQ_*`` settings (host, port, user, password, vhost, queue, exchange).

        Args:
            settings: The settings; defaults to :func:`analytics.core.settings.get_settings`.

        Returns:
            The configuration (local defaults for anything unset).
        """
        settings = settings if settings is not None else get_settings()
        return cls(
            host=settings.rabbitmq_host,
            port=settings.rabbitmq_port,
            username=settings.rabbitmq_user,
            password=settings.rabbitmq_password.get_secret_value(),
            vhost=settings.rabbitmq_vhost,
            queue=settings.rabbitmq_queue,
            exchange=settings.rabbitmq_exchange,
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
            connection_attempts=1,
            socket_timeout=10,
        )


def declare(channel: BlockingChannel, config: RabbitConfig) -> None:
    """Declare Rasa's exchange, the durable queue, the binding and the dead queue (idempotent).

    The exchange and queue are declared exactly as Rasa's Pika broker does (fanout, not
    durable; durable queue, no arguments), so the declarations agree whichever process
    comes first. The dead queue ``<queue>.dead`` is durable and not bound to the exchange.

    Args:
        channel: An open channel.
        config: The broker configuration.
    """
    channel.exchange_declare(exchange=config.exchange, exchange_type="fanout", durable=False)
    channel.queue_declare(queue=config.queue, durable=True)
    channel.queue_bind(queue=config.queue, exchange=config.exchange, routing_key="")
    channel.queue_declare(queue=config.dead_queue, durable=True)


class RabbitMQConsumer:
    """Consumes Rasa events from RabbitMQ in acknowledged batches; never exits on an error."""

    def __init__(
        self,
        writer: IngestWriter,
        config: RabbitConfig | None = None,
        *,
        batch_size: int = DEFAULT_BATCH,
        max_wait: float = DEFAULT_WAIT_S,
        backoff: Backoff | None = None,
    ) -> None:
        """Create a consumer.

        Args:
            writer: The writer.
            config: The broker configuration; defaults to :meth:`RabbitConfig.from_settings`.
            batch_size: Messages per transaction (and the prefetch count).
            max_wait: Seconds to wait for more messages before writing a partial batch.
            backoff: Delays between reconnections and store retries (a copy is used for
                each).
        """
        self.config = config or RabbitConfig.from_settings()
        self.source = f"rabbitmq:{self.config.queue}"[:255]
        self._writer = writer
        self._batch = batch_size
        self._wait = max_wait
        template = backoff or Backoff()
        self._connect_backoff = template.fresh()
        self._store_backoff = template.fresh()
        self.stats = PollStats()
        self._idle_since = time.monotonic()

    @staticmethod
    def _sleep(connection: BlockingConnection, seconds: float, stop: threading.Event) -> None:
        """Wait while keeping the connection alive (heartbeats); return early on stop."""
        deadline = time.monotonic() + seconds
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            connection.sleep(min(_SLEEP_STEP_S, left))

    def _flush(
        self,
        connection: BlockingConnection,
        channel: BlockingChannel,
        dead_channel: BlockingChannel,
        batch: list[tuple[int, bytes]],
        stop: threading.Event,
    ) -> None:
        last_tag = batch[-1][0]
        try:
            result = self._writer.ingest(
                [Incoming(body) for _, body in batch], source=self.source, position=None
            )
        except Exception as error:  # noqa: BLE001 - requeue, never exit
            delay = self._store_backoff.next_delay()
            self.stats.retries += 1
            logger.warning(
                "%s (%s); requeueing %d messages in %.1f s (attempt %d)",
                "Store unavailable" if is_store_unavailable(error) else "Writing a batch failed",
                error_class(error),
                len(batch),
                delay,
                self._store_backoff.attempt,
            )
            self._sleep(connection, delay, stop)
            channel.basic_nack(delivery_tag=last_tag, multiple=True, requeue=True)
            return
        self._store_backoff.reset()
        for index in result.dead:
            dead_channel.basic_publish(
                exchange="",
                routing_key=self.config.dead_queue,
                body=batch[index][1],
                properties=pika.BasicProperties(
                    delivery_mode=2, headers={HEADER_SOURCE: self.source}
                ),
                mandatory=True,
            )
        if result.dead:
            logger.warning(
                "Published %d poison message(s) to %s", len(result.dead), self.config.dead_queue
            )
        channel.basic_ack(delivery_tag=last_tag, multiple=True)
        self.stats.add(result)

    def _consume(
        self,
        connection: BlockingConnection,
        stop: threading.Event,
        max_idle: float | None,
    ) -> None:
        """Consume on an open connection until stop or idle (errors propagate)."""
        channel = connection.channel()
        declare(channel, self.config)
        channel.basic_qos(prefetch_count=self._batch)
        dead_channel = connection.channel()
        dead_channel.confirm_delivery()
        logger.info("Consuming %s on %s", self.config.queue, self.config.host)
        batch: list[tuple[int, bytes]] = []
        for method, _props, body in channel.consume(
            self.config.queue, auto_ack=False, inactivity_timeout=self._wait
        ):
            if method is not None:
                batch.append((int(method.delivery_tag), body))
                self._idle_since = time.monotonic()
                if len(batch) < self._batch:
                    continue
            if batch:
                self._flush(connection, channel, dead_channel, batch, stop)
                batch = []
                self._idle_since = time.monotonic()
            if stop.is_set():
                break
            if max_idle is not None and time.monotonic() - self._idle_since >= max_idle:
                break
        if batch:
            self._flush(connection, channel, dead_channel, batch, stop)
        channel.cancel()

    def run(
        self, stop: threading.Event | None = None, *, max_idle: float | None = None
    ) -> PollStats:
        """Consume until stopped (or idle for ``max_idle`` seconds), reconnecting as needed.

        Args:
            stop: Set it to stop after the current batch.
            max_idle: Return after this many seconds without messages, the broker being
                unreachable counting as idle (``None``: never).

        Returns:
            Totals of this run.
        """
        stop = stop or threading.Event()
        self._idle_since = time.monotonic()
        while not stop.is_set():
            connection: BlockingConnection | None = None
            try:
                connection = pika.BlockingConnection(self.config.parameters())
                self._connect_backoff.reset()
                self._consume(connection, stop, max_idle)
                break
            except BROKER_ERRORS as error:
                self.stats.reconnects += 1
                if max_idle is not None and time.monotonic() - self._idle_since >= max_idle:
                    logger.warning("RabbitMQ unavailable (%s); idle, stopping", error_class(error))
                    break
                delay = self._connect_backoff.next_delay()
                logger.warning(
                    "RabbitMQ at %s:%d unavailable (%s); reconnect attempt %d in %.1f s",
                    self.config.host,
                    self.config.port,
                    error_class(error),
                    self._connect_backoff.attempt,
                    delay,
                )
                stop.wait(delay)
            finally:
                if connection is not None and connection.is_open:
                    try:
                        connection.close()
                    except BROKER_ERRORS:
                        logger.debug("Closing the RabbitMQ connection failed", exc_info=True)
        return self.stats
