"""The alert dispatcher: sends the outbox's pending deliveries, retrying with back-off.

Each round claims the due deliveries (:func:`~analytics.store.repositories.alerts.claim_due_deliveries`:
the attempt is counted and the delivery leased for :data:`LEASE` in a committed transaction),
sends each with its channel's notifier, then records the outcome in a second transaction:
sent (with the platform's message id), or a failed attempt retried after an exponential
back-off (``next_attempt_at``: :data:`BASE_DELAY` doubled per attempt up to :data:`MAX_DELAY`,
at least what the platform's ``retry_after`` asked), or failed for good after
:data:`MAX_ATTEMPTS` attempts or a non-retryable error (a bad token, an unknown chat).
A dispatcher that dies between the claim and the record leaves the delivery leased: it is
sent again when the lease runs out (at least once; nothing is lost).

Logs name the alert's ref, the channel and the error's class, never the text or a secret.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from analytics.loop.alerts.message import stored_text
from analytics.loop.alerts.notifiers.base import AlertText, Notifier, NotifierError
from analytics.store.models import Customer
from analytics.store.models.alerts import FounderAlert
from analytics.store.repositories.alerts import (
    claim_due_deliveries,
    record_failure,
    record_sent,
)

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
"""Attempts of one delivery before it is failed for good."""
BASE_DELAY = timedelta(seconds=10)
"""The wait after the first failed attempt (doubled after each further one)."""
MAX_DELAY = timedelta(minutes=10)
"""The longest wait between two attempts."""
LEASE = timedelta(seconds=90)
"""How long a claimed delivery is left to its dispatcher (longer than any send)."""
POLL_SECONDS = 2.0
"""How often the outbox is polled."""
BATCH = 50
"""The most deliveries claimed per round."""


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def backoff(
    attempts: int, *, base: timedelta = BASE_DELAY, cap: timedelta = MAX_DELAY
) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: ``base * 2**(attempts-1)``, capped."""
    return min(cap, base * (2 ** max(0, min(attempts - 1, 30))))


@dataclass(frozen=True)
class _Claimed:
    delivery_id: int
    channel: str
    attempts: int
    text: AlertText


class Dispatcher:
    """Sends pending alert deliveries with the configured notifiers."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        notifiers: Mapping[str, Notifier],
        *,
        max_attempts: int = MAX_ATTEMPTS,
        base_delay: timedelta = BASE_DELAY,
        max_delay: timedelta = MAX_DELAY,
        lease: timedelta = LEASE,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        """Create a dispatcher.

        Args:
            session_factory: Sessions on the store.
            notifiers: Channel kind -> notifier (a delivery of another channel fails like
                a retryable error: it may be configured later).
            max_attempts: Attempts before a delivery fails for good.
            base_delay: The back-off's first wait.
            max_delay: The back-off's cap.
            lease: How long a claim holds.
            now: The clock (timezone-aware).
        """
        self._factory = session_factory
        self._notifiers = dict(notifiers)
        self._max_attempts = max_attempts
        self._base = base_delay
        self._cap = max_delay
        self._lease = lease
        self._now = now

    def _claim(self) -> list[_Claimed]:
        with self._factory() as session, session.begin():
            deliveries = claim_due_deliveries(session, self._now(), lease=self._lease, limit=BATCH)
            if not deliveries:
                return []
            alert_ids = sorted({d.alert_id for d in deliveries})
            rows = session.execute(
                select(FounderAlert, Customer.external_id)
                .join(Customer, Customer.id == FounderAlert.customer_id)
                .where(FounderAlert.id.in_(alert_ids))
            ).all()
            texts = {alert.id: stored_text(alert, external) for alert, external in rows}
            return [
                _Claimed(d.id, d.channel, d.attempts, texts[d.alert_id])
                for d in deliveries
                if d.alert_id in texts
            ]

    def run_once(self) -> int:
        """One round: claim the due deliveries and send them.

        Returns:
            How many deliveries were attempted.
        """
        claimed = self._claim()
        for item in claimed:
            self._send(item)
        return len(claimed)

    def _send(self, item: _Claimed) -> None:
        ref, channel = item.text.ref, item.channel
        notifier = self._notifiers.get(channel)
        try:
            if notifier is None:
                raise NotifierError(f"{channel}: not configured in the dispatcher", retryable=True)
            message_id = notifier.send(item.text)
        except NotifierError as error:
            self._failed(item, str(error), retryable=error.retryable, retry_after=error.retry_after)
            return
        except Exception as error:  # noqa: BLE001 - a notifier bug must not stop the others
            self._failed(
                item, f"{channel}: {type(error).__name__}", retryable=True, retry_after=None
            )
            return
        with self._factory() as session, session.begin():
            record_sent(session, item.delivery_id, at=self._now(), platform_message_id=message_id)
        logger.info("Alert %s sent on %s (attempt %d)", ref, channel, item.attempts)

    def _failed(
        self, item: _Claimed, error: str, *, retryable: bool, retry_after: float | None
    ) -> None:
        ref = item.text.ref
        retry_at: datetime | None = None
        if retryable and item.attempts < self._max_attempts:
            wait = backoff(item.attempts, base=self._base, cap=self._cap)
            if retry_after is not None:
                wait = max(wait, timedelta(seconds=min(retry_after, 24 * 3600)))
            retry_at = self._now() + wait
        with self._factory() as session, session.begin():
            record_failure(session, item.delivery_id, error=error, retry_at=retry_at)
        if retry_at is None:
            logger.error(
                "Alert %s on %s failed for good after %d attempt(s): %s",
                ref,
                item.channel,
                item.attempts,
                error,
            )
        else:
            logger.warning(
                "Alert %s on %s failed (attempt %d of %d): %s; next attempt at %s",
                ref,
                item.channel,
                item.attempts,
                self._max_attempts,
                error,
                retry_at.isoformat(timespec="seconds"),
            )

    def run(self, stop: threading.Event, *, poll: float = POLL_SECONDS) -> None:
        """Send until ``stop`` is set, polling every ``poll`` seconds (sooner while busy).

        A store that is down is logged and waited out.
        """
        while not stop.is_set():
            try:
                busy = self.run_once() >= BATCH
            except OperationalError as error:
                logger.warning(
                    "Store unavailable for alerts (%s); waiting", type(error.orig).__name__
                )
                busy = False
            if not busy:
                stop.wait(poll)

    def close(self) -> None:
        """Close every notifier."""
        for notifier in self._notifiers.values():
            notifier.close()
