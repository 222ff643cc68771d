"""An exclusive section per conversation that holds across several Rasa servers.

Rasa's lock store serializes message handling, but its Redis lock store issues tickets with
a read-modify-write of the lock object, which is not atomic: two servers asked at the same
moment can both believe they hold the lock. Where a step must happen once per conversation
(marking the founder's messages delivered), :func:`exclusive` adds, inside Rasa's lock, a
process-local asyncio lock and, on a PostgreSQL tracker store, a PostgreSQL advisory lock
taken with ``pg_try_advisory_lock`` in a polling loop (never blocking the event loop).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import text

logger = logging.getLogger(__name__)

#: How long a second server waits for the advisory lock before giving up.
WAIT_SECONDS = 10.0
#: Pause between two tries of the advisory lock.
POLL_SECONDS = 0.01
KEY_PREFIX = "leafbean-conversation:"

_local: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()


class ConversationBusy(RuntimeError):
    """Another server held the conversation longer than :data:`WAIT_SECONDS`."""


def _local_lock(sender_id: str) -> asyncio.Lock:
    lock = _local.get(sender_id)
    if lock is None:
        lock = asyncio.Lock()
        _local[sender_id] = lock
    return lock


@asynccontextmanager
async def exclusive(lock_store: Any, engine: Any, sender_id: str) -> AsyncIterator[None]:
    """Holds the conversation ``sender_id`` exclusively against every Rasa server.

    Args:
        lock_store: Rasa's lock store (``agent.lock_store``).
        engine: The SQL tracker store's engine, or None for another tracker store.
        sender_id: The conversation.

    Raises:
        ConversationBusy: If the advisory lock stayed taken for :data:`WAIT_SECONDS`.
    """
    local = _local_lock(sender_id)
    async with lock_store.lock(sender_id), local:
        if engine is None or engine.dialect.name != "postgresql":
            yield
            return
        key = {"key": KEY_PREFIX + sender_id}
        with engine.connect() as conn:
            deadline = time.monotonic() + WAIT_SECONDS
            while not conn.execute(
                text("SELECT pg_try_advisory_lock(hashtext(:key))"), key
            ).scalar():
                if time.monotonic() > deadline:
                    raise ConversationBusy(f"conversation {sender_id!r} is busy on another server")
                await asyncio.sleep(POLL_SECONDS)
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(hashtext(:key))"), key)
