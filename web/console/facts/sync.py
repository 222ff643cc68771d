"""Keeping the console's summaries current: :data:`FACTS` (per request) and :func:`refresh`.

A small backlog is summarised inside the request that notices it; a large one (a fresh
store, a bulk import, new scores for every customer) is worked off by a background thread
in chunks of :data:`CHUNK` conversations, one short transaction each, while the console
keeps answering (the inbox shows the progress). New messages are found from a watermark on
``messages.id`` (the ingest worker only appends messages). :func:`refresh` does the same work
synchronously for batch jobs (the volume generator, an import, the scoring run).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from analytics.store.models import Conversation, Message
from web.console.facts.common import chunks, get_state, set_state
from web.console.facts.conversations import wipe, write_facts
from web.console.facts.customers import refresh_customer_facts
from web.console.facts.search import SQLITE, ensure_search
from web.console.facts.sort_key import update_risk

logger = logging.getLogger(__name__)
T = TypeVar("T")

STATE_MESSAGE_WATERMARK = "facts_message_id"
INLINE_LIMIT = 1000
"""At most this many conversations are (re)summarised inside a request; more go to the
background worker."""
CHUNK = 2000
"""Conversations per background transaction."""
PENDING_SCAN = 20 * INLINE_LIMIT
"""At most this many pending messages are read to decide between inline and background."""
SYNC_INTERVAL_S = 2.0
CUSTOMER_CHECK_INTERVAL_S = 30.0
WORKER_NAME = "console-facts"


def _retrying(db: Session, work: Callable[[], T], *, retry: bool, attempts: int = 5) -> T:
    """Runs ``work`` and commits; on a lock conflict rolls back and (if ``retry``) retries."""
    for attempt in range(attempts):
        try:
            result = work()
            db.commit()
            return result
        except OperationalError:
            db.rollback()
            if not retry or attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


@dataclass
class Progress:
    """What the background worker is doing (shown in the inbox)."""

    total: int = 0
    done: int = 0
    started: float = 0.0
    error: str = ""

    @property
    def percent(self) -> int:
        """Done, in percent."""
        return 100 if not self.total else int(100 * self.done / self.total)


@dataclass
class _Plan:
    """Work found by :meth:`FactsSync.sync`."""

    newest: int = 0
    watermark: int = 0
    wipe: bool = False
    conversations: list[int] = field(default_factory=list)
    customers: list[int] = field(default_factory=list)
    customer_conversations: int = 0
    more: bool = False

    @property
    def size(self) -> int:
        return len(self.conversations) + self.customer_conversations


class FactsSync:
    """Keeps the facts tables current; cheap to call on every request (throttled)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_sync = -1e9
        self._last_customer_check = -1e9
        self._search_ready: set[str] = set()
        self._worker: threading.Thread | None = None
        self.progress: Progress | None = None

    @property
    def building(self) -> bool:
        """Whether the background worker is running."""
        return self._worker is not None and self._worker.is_alive()

    def reset(self) -> None:
        """Forgets the throttling state (the next call checks the database)."""
        self.wait()
        with self._lock:
            self._last_sync = -1e9
            self._last_customer_check = -1e9
            self._search_ready.clear()
            self.progress = None

    def wait(self, timeout: float | None = None) -> bool:
        """Waits for the background worker; returns whether it has finished."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)
            return not worker.is_alive()
        return True

    def sync(self, db: Session, *, force: bool = False, background: bool = True) -> int:
        """Brings the facts up to date with the store.

        A small backlog is handled here; a large one is handed to a background thread
        (unless ``background`` is false) and this call returns at once.

        Args:
            db: A session on the store.
            force: Ignore the throttle and re-check customers.
            background: Allow handing a large backlog to a background thread.

        Returns:
            How many conversations were (re)summarised here.
        """
        now = time.monotonic()
        if not force and now - self._last_sync < SYNC_INTERVAL_S:
            return 0
        if self.building or not self._lock.acquire(blocking=False):
            return 0
        try:
            engine: Engine = db.get_bind()  # type: ignore[assignment]
            key = str(engine.url)
            if key not in self._search_ready:
                ensure_search(engine)
                self._search_ready.add(key)
            check_customers = force or now - self._last_customer_check > CUSTOMER_CHECK_INTERVAL_S
            if check_customers:
                self._last_customer_check = now
            try:
                plan = self._plan(db, check_customers=check_customers, force=force)
                if background and (plan.more or plan.size > INLINE_LIMIT):
                    db.rollback()
                    self._start(engine, plan)
                    self._last_sync = time.monotonic()
                    return 0
                changed = self._apply(db, plan)
            except OperationalError as error:
                # Another writer (the ingest worker) won the race for SQLite's write lock:
                # the page is served from the summaries as they are; the next request retries.
                db.rollback()
                if check_customers:
                    self._last_customer_check = -1e9
                logger.warning("Console facts not refreshed this time: %s", error)
                return 0
            self._last_sync = time.monotonic()
            return changed
        finally:
            self._lock.release()

    def _plan(self, db: Session, *, check_customers: bool, force: bool) -> _Plan:
        plan = _Plan()
        if check_customers:
            plan.customers = refresh_customer_facts(db, force=force) or []
        plan.watermark = int(get_state(db, STATE_MESSAGE_WATERMARK) or 0)
        plan.newest = int(db.scalar(select(func.max(Message.id))) or 0)
        if plan.newest != plan.watermark:
            if plan.newest < plan.watermark or plan.watermark == 0:
                plan.wipe = True
                plan.watermark = 0
                plan.customers = []  # every facts row is rewritten anyway
            # Read the pending messages by primary key (cheap on both databases, unlike a
            # DISTINCT over every pending message); too many means: background.
            pending = list(
                db.scalars(
                    select(Message.conversation_id)
                    .where(Message.id > plan.watermark)
                    .order_by(Message.id)
                    .limit(PENDING_SCAN)
                )
            )
            plan.conversations = sorted(set(pending))
            plan.more = len(pending) >= PENDING_SCAN or len(plan.conversations) > INLINE_LIMIT
            if plan.more:
                plan.conversations = []  # the worker lists them itself
        for chunk in chunks(plan.customers, 500):
            plan.customer_conversations += int(
                db.scalar(
                    select(func.count())
                    .select_from(Conversation)
                    .where(Conversation.customer_id.in_(chunk))
                )
                or 0
            )
        return plan

    def _apply(self, db: Session, plan: _Plan, progress: Progress | None = None) -> int:
        started = time.perf_counter()
        if plan.wipe:
            wipe(db)
            db.commit()
        ids = plan.conversations
        if plan.more:
            ids = sorted(
                db.scalars(
                    select(Message.conversation_id)
                    .where(Message.id > plan.watermark, Message.id <= plan.newest)
                    .distinct()
                )
            )
        if progress is not None:
            progress.total = len(ids) + plan.customer_conversations
        done = 0
        for chunk in chunks(ids, CHUNK):
            done += _retrying(db, partial(write_facts, db, chunk), retry=progress is not None)
            if progress is not None:
                progress.done = done
        for chunk in chunks(plan.customers, 40):
            _retrying(db, partial(update_risk, db, customer_ids=chunk), retry=True)
            if progress is not None:
                progress.done = min(progress.total, progress.done + len(chunk) * 50)
        if plan.newest and (ids or plan.wipe or plan.more):
            set_state(db, STATE_MESSAGE_WATERMARK, str(plan.newest))
            db.commit()
        if ids or plan.customers:
            logger.info(
                "Console facts: %d conversations summarised, %d customers re-valued in %.2f s",
                done,
                len(plan.customers),
                time.perf_counter() - started,
            )
        return done

    def _start(self, engine: Engine, plan: _Plan) -> None:
        self.progress = Progress(started=time.time())
        progress = self.progress

        def run() -> None:
            try:
                with Session(engine) as db:
                    self._apply(db, plan, progress)
                    db.execute(
                        text("ANALYZE")
                        if engine.dialect.name != SQLITE
                        else text("PRAGMA optimize")
                    )
                    db.commit()
            except Exception as error:  # noqa: BLE001  (reported in the inbox and the log)
                logger.exception("Console facts worker failed")
                progress.error = str(error)[:300]
            finally:
                self._last_sync = -1e9

        self._worker = threading.Thread(target=run, name=WORKER_NAME, daemon=True)
        self._worker.start()


FACTS = FactsSync()


def refresh(engine: Engine) -> int:
    """Brings every console summary up to date now, synchronously.

    For batch jobs that write many conversations or scores at once (the volume generator,
    an import, a scoring run): call this at the end so that the console's first request
    has nothing to catch up on.

    Returns:
        How many conversations were (re)summarised.
    """
    ensure_search(engine)
    with Session(engine) as db:
        plan = FACTS._plan(db, check_customers=True, force=False)
        return FACTS._apply(db, plan)
