"""The idempotency ledger of incoming deliveries: each platform event is processed once.

Platforms redeliver an event when the webhook is slow or fails (Telegram, Slack, Facebook,
WeCom...). Before a delivery is processed the channel *claims* ``(channel, delivery_id)`` in
the ``channel_deliveries`` table (:mod:`bot.channels.messaging.store`). Each claim gets an
*owner token* (a random UUID, column ``owner``): only the claim's owner can finish, release or
refresh it.

* no row yet: the claim inserts one in state ``processing``; the delivery is processed;
* a row ``done``, or ``processing`` claimed less than :data:`STALE_AFTER_S` ago: a duplicate
  (acknowledged, not processed);
* a row ``processing`` claimed longer ago: the server that claimed it died; the claim is
  re-taken with a new owner token (compare-and-set on ``claimed_at``, so only one retry wins).

When processing finishes the row becomes ``done``; when it fails the row is deleted
(:meth:`Ledger.release`) so the platform's retry is processed. Both apply only while the row
still carries the caller's token: a server whose claim went stale and was re-taken by another
can no longer delete or finish the new owner's claim (a third delivery would then be processed
while the second server still works). While a delivery is processed its owner refreshes
``claimed_at`` every :data:`REFRESH_EVERY_S` (:meth:`Ledger.keep_alive`), so a slow Rasa turn
(an action server may take up to 5 minutes) is not mistaken for a dead server.

The trade-off of :data:`STALE_AFTER_S`: shorter recovers a delivery sooner when the server
processing it died (the platform's next retry after the window is processed; Slack and Feishu
retry about 5 minutes later), longer tolerates a server whose refreshes are held up (a busy
event loop, a database hiccup). With the refreshes 120 s is four missed refreshes. A turn
that takes longer than :data:`MAX_HOLD_S` is no longer refreshed (something hangs): its claim
goes stale and a redelivery is processed.

Rows older than :data:`KEEP_S` are pruned, at most once per :data:`PRUNE_EVERY_S` per process.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from bot.channels.messaging.store import DELIVERIES, ChannelStore

logger = logging.getLogger(__name__)

STATE_PROCESSING = "processing"
STATE_DONE = "done"
#: A claim still ``processing`` after this many seconds may be re-taken.
STALE_AFTER_S = 120.0
#: The owner of a claim refreshes it this often while it processes the delivery.
REFRESH_EVERY_S = 30.0
#: A claim is refreshed for at most this long (longer: the processing hangs).
MAX_HOLD_S = 900.0
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


def _where(channel: str, delivery_id: str) -> ColumnElement[bool]:
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
        refresh_every: float = REFRESH_EVERY_S,
        max_hold: float = MAX_HOLD_S,
    ) -> None:
        """Creates the ledger.

        Args:
            store: Where the claims are kept.
            stale_after: Seconds after which a ``processing`` claim may be re-taken.
            keep: Seconds a row is kept.
            prune_every: Least seconds between two prunings.
            refresh_every: Seconds between two refreshes of a claim being processed.
            max_hold: Longest a claim is refreshed.
        """
        self.store = store
        self.stale_after = stale_after
        self.keep = keep
        self.prune_every = prune_every
        self.refresh_every = refresh_every
        self.max_hold = max_hold
        self._last_prune = 0.0

    # -- blocking parts (run in a worker thread) -------------------------------------------------
    def claim_now(self, channel: str, delivery_id: str, now: float | None = None) -> str | None:
        """Claims a delivery (blocking).

        Args:
            channel: The channel's name.
            delivery_id: The platform's id of the delivery.
            now: The current Unix time (defaults to the clock).

        Returns:
            The claim's owner token (process the delivery, then :meth:`finish_now` or
            :meth:`release_now` with it), or None for a duplicate.
        """
        now = time.time() if now is None else now
        channel, key = channel[:MAX_CHANNEL_CHARS], delivery_key(delivery_id)
        for _ in range(CLAIM_ROUNDS):
            owner = uuid.uuid4().hex
            try:
                self.store.transact(self._insert, channel, key, now, owner)
                return owner
            except IntegrityError:
                pass
            taken = self.store.transact(self._retake, channel, key, now, owner)
            if taken is not None:
                return owner if taken else None
        return None

    def _insert(
        self, connection: Connection, channel: str, key: str, now: float, owner: str
    ) -> None:
        connection.execute(
            DELIVERIES.insert().values(
                channel=channel,
                delivery_id=key,
                state=STATE_PROCESSING,
                claimed_at=now,
                owner=owner,
            )
        )

    def _retake(
        self, connection: Connection, channel: str, key: str, now: float, owner: str
    ) -> bool | None:
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
            .values(claimed_at=now, owner=owner)
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

    def _mine(self, channel: str, delivery_id: str, owner: str) -> ColumnElement[bool]:
        """The row of a delivery still ``processing`` under ``owner``'s claim."""
        return sa.and_(
            _where(channel[:MAX_CHANNEL_CHARS], delivery_key(delivery_id)),
            DELIVERIES.c.state == STATE_PROCESSING,
            DELIVERIES.c.owner == owner,
        )

    def _applied(self, statement: sa.sql.expression.Executable) -> bool:
        result = self.store.transact(lambda c: c.execute(statement))
        return int(result.rowcount or 0) == 1

    def finish_now(self, channel: str, delivery_id: str, owner: str) -> bool:
        """Marks a claimed delivery ``done`` (blocking); False if the claim is not ours."""
        where = self._mine(channel, delivery_id, owner)
        return self._applied(DELIVERIES.update().where(where).values(state=STATE_DONE))

    def release_now(self, channel: str, delivery_id: str, owner: str) -> bool:
        """Deletes our ``processing`` claim (blocking) so a redelivery is processed.

        Returns:
            False when the claim is no longer ours (re-taken, finished): nothing changed.
        """
        return self._applied(DELIVERIES.delete().where(self._mine(channel, delivery_id, owner)))

    def refresh_now(
        self, channel: str, delivery_id: str, owner: str, now: float | None = None
    ) -> bool:
        """Moves our claim's ``claimed_at`` to now (blocking); False if it is not ours."""
        now = time.time() if now is None else now
        where = self._mine(channel, delivery_id, owner)
        return self._applied(DELIVERIES.update().where(where).values(claimed_at=now))

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
    async def claim(self, channel: str, delivery_id: str) -> str | None:
        """Claims a delivery; its owner token (process it), or None (a duplicate).

        Prunes old rows now and then.
        """
        now = time.time()
        if now - self._last_prune >= self.prune_every:
            self._last_prune = now
            try:
                await self.store.call(self.prune_now, now)
            except Exception:
                logger.exception("Could not prune old channel deliveries")
        return await self.store.call(self.claim_now, channel, delivery_id, now)

    async def finish(self, channel: str, delivery_id: str, owner: str) -> bool:
        """Marks our claimed delivery ``done``; False (and a warning) if it is not ours."""
        applied = await self.store.call(self.finish_now, channel, delivery_id, owner)
        if not applied:
            logger.warning("%s: finished a delivery whose claim another server took", channel)
        return applied

    async def release(self, channel: str, delivery_id: str, owner: str) -> bool:
        """Releases our claim after a failure (a redelivery will be processed).

        Returns:
            False when the claim is no longer ours: the new owner's claim is left alone.
        """
        applied = await self.store.call(self.release_now, channel, delivery_id, owner)
        if not applied:
            logger.warning("%s: a failed delivery's claim was no longer ours; kept", channel)
        return applied

    async def _keep(self, channel: str, delivery_id: str, owner: str) -> None:
        """Refreshes our claim every ``refresh_every`` s for at most ``max_hold`` s."""
        started = time.monotonic()
        while time.monotonic() - started + self.refresh_every <= self.max_hold:
            await asyncio.sleep(self.refresh_every)
            try:
                mine = await self.store.call(self.refresh_now, channel, delivery_id, owner)
            except Exception:
                logger.exception("%s: could not refresh a delivery's claim", channel)
                continue
            if not mine:
                return  # finished, released or re-taken: nothing more to keep
        logger.warning("%s: a delivery still processing after %.0f s", channel, self.max_hold)

    def keep_alive(self, channel: str, delivery_id: str, owner: str) -> asyncio.Task[None]:
        """Starts refreshing our claim while the delivery is processed; cancel it when done."""
        return asyncio.create_task(self._keep(channel, delivery_id, owner))
