"""The idempotency ledger of incoming deliveries: each platform event is processed once.

Platforms redeliver an event when the webhook is slow or fails (Telegram, Slack, Facebook,
WeCom...). Before a delivery is processed the channel *claims* ``(channel, delivery_id)`` in
the ``channel_deliveries`` table (:mod:`bot.channels.messaging.store`):

* no row yet: the claim inserts one in state ``processing``; the delivery is processed;
* a row ``done``, or ``processing`` claimed less than :data:`STALE_AFTER_S` ago: a duplicate
  (acknowledged, not processed);
* a row ``processing`` claimed longer ago: the server that claimed it died; the claim is
  re-taken (compare-and-set on ``claimed_at``, so only one retry wins).

When processing finishes the row becomes ``done``; when it fails the row is deleted
(:meth:`Ledger.release`) so the platform's retry is processed. Rows older than
:data:`KEEP_S` are pruned, at most once per :data:`PRUNE_EVERY_S` per process.
"""

from __future__ import annotations

import hashlib
import logging
import time

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from bot.channels.messaging.store import DELIVERIES, ChannelStore

logger = logging.getLogger(__name__)

STATE_PROCESSING = "processing"
STATE_DONE = "done"
#: A claim still ``processing`` after this many seconds may be re-taken.
STALE_AFTER_S = 120.0
#: Rows are kept this long (platforms redeliver for minutes, not days).
KEEP_S = 3 * 24 * 3600.0
#: Pruning runs at most this often per process.
PRUNE_EVERY_S = 3600.0
MAX_DELIVERY_ID_CHARS = 128
MAX_CHANNEL_CHARS = 32
#: Insert-or-inspect rounds before a claim gives up (a row deleted in between).
CLAIM_ROUNDS = 3


def delivery_key(delivery_id: str) -> str:
    """The stored form of a delivery id: itself, or ``h:`` + SHA-256 if it is too long."""
    if len(delivery_id) <= MAX_DELIVERY_ID_CHARS:
        return delivery_id
    digest = hashlib.sha256(delivery_id.encode("utf-8", "surrogatepass")).hexdigest()
    return "h:" + digest


def _where(channel: str, delivery_id: str) -> sa.sql.elements.ClauseElement:
    return sa.and_(DELIVERIES.c.channel == channel, DELIVERIES.c.delivery_id == delivery_id)


class Ledger:
    """Claims on deliveries in a :class:`~bot.channels.messaging.store.ChannelStore`."""

    def __init__(
        self,
        store: ChannelStore,
        *,
        stale_after: float = STALE_AFTER_S,
        keep: float = KEEP_S,
        prune_every: float = PRUNE_EVERY_S,
    ) -> None:
        """Creates the ledger.

        Args:
            store: Where the claims are kept.
            stale_after: Seconds after which a ``processing`` claim may be re-taken.
            keep: Seconds a row is kept.
            prune_every: Least seconds between two prunings.
        """
        self.store = store
        self.stale_after = stale_after
        self.keep = keep
        self.prune_every = prune_every
        self._last_prune = 0.0

    # -- blocking parts (run in a worker thread) -------------------------------------------------
    def claim_now(self, channel: str, delivery_id: str, now: float | None = None) -> bool:
        """Claims a delivery (blocking). True: process it; False: a duplicate."""
        now = time.time() if now is None else now
        channel, key = channel[:MAX_CHANNEL_CHARS], delivery_key(delivery_id)
        for _ in range(CLAIM_ROUNDS):
            try:
                self.store.transact(self._insert, channel, key, now)
                return True
            except IntegrityError:
                pass
            taken = self.store.transact(self._retake, channel, key, now)
            if taken is not None:
                return taken
        return False

    def _insert(self, connection: Connection, channel: str, key: str, now: float) -> None:
        connection.execute(
            DELIVERIES.insert().values(
                channel=channel, delivery_id=key, state=STATE_PROCESSING, claimed_at=now
            )
        )

    def _retake(self, connection: Connection, channel: str, key: str, now: float) -> bool | None:
        row = connection.execute(
            sa.select(DELIVERIES.c.state, DELIVERIES.c.claimed_at).where(_where(channel, key))
        ).first()
        if row is None:
            return None  # released in between: insert again
        if row.state != STATE_PROCESSING or now - row.claimed_at <= self.stale_after:
            return False
        result = connection.execute(
            DELIVERIES.update()
            .where(_where(channel, key))
            .where(DELIVERIES.c.state == STATE_PROCESSING)
            .where(DELIVERIES.c.claimed_at == row.claimed_at)
            .values(claimed_at=now)
        )
        if result.rowcount == 1:
            logger.warning(
                "Re-took the stale claim of %s delivery %s (claimed %.0f s ago)",
                channel,
                key,
                now - row.claimed_at,
            )
            return True
        return False

    def state_now(self, channel: str, delivery_id: str) -> str | None:
        """The state of a delivery's row (blocking), or None without one."""
        key = delivery_key(delivery_id)
        return self.store.transact(
            lambda c: c.execute(
                sa.select(DELIVERIES.c.state).where(_where(channel[:MAX_CHANNEL_CHARS], key))
            ).scalar()
        )

    def finish_now(self, channel: str, delivery_id: str) -> None:
        """Marks a claimed delivery ``done`` (blocking)."""
        key = delivery_key(delivery_id)
        self.store.transact(
            lambda c: c.execute(
                DELIVERIES.update()
                .where(_where(channel[:MAX_CHANNEL_CHARS], key))
                .values(state=STATE_DONE)
            )
        )

    def release_now(self, channel: str, delivery_id: str) -> None:
        """Deletes a ``processing`` claim (blocking) so a redelivery is processed."""
        key = delivery_key(delivery_id)
        self.store.transact(
            lambda c: c.execute(
                DELIVERIES.delete()
                .where(_where(channel[:MAX_CHANNEL_CHARS], key))
                .where(DELIVERIES.c.state == STATE_PROCESSING)
            )
        )

    def prune_now(self, now: float | None = None) -> int:
        """Deletes rows older than ``keep`` (blocking); returns how many."""
        now = time.time() if now is None else now
        self._last_prune = now
        result = self.store.transact(
            lambda c: c.execute(
                DELIVERIES.delete().where(DELIVERIES.c.claimed_at < now - self.keep)
            )
        )
        count = int(result.rowcount or 0)
        if count:
            logger.info("Pruned %d old channel deliveries", count)
        return count

    # -- the event loop's side -----------------------------------------------------------------
    async def claim(self, channel: str, delivery_id: str) -> bool:
        """Claims a delivery; True: process it, False: a duplicate. Prunes now and then."""
        now = time.time()
        if now - self._last_prune >= self.prune_every:
            self._last_prune = now
            try:
                await self.store.call(self.prune_now, now)
            except Exception:
                logger.exception("Could not prune old channel deliveries")
        return await self.store.call(self.claim_now, channel, delivery_id, now)

    async def finish(self, channel: str, delivery_id: str) -> None:
        """Marks a claimed delivery ``done``."""
        await self.store.call(self.finish_now, channel, delivery_id)

    async def release(self, channel: str, delivery_id: str) -> None:
        """Releases a claim after a failure (a redelivery will be processed)."""
        await self.store.call(self.release_now, channel, delivery_id)
