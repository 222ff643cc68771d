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

The deliveries of one round share one lease, and are sent one after the other: a round
claims at most :data:`BATCH` of them, so that even if every send takes its worst case
(:data:`SEND_BUDGET`: a token fetch and the send, each with the notifiers' 10 s timeout)
the batch ends before the lease does (``LEASE = BATCH * SEND_BUDGET + LEASE_MARGIN``). If
the clock says otherwise anyway (a stalled process), the deliveries not yet sent are given
back instead of being sent late. Outcomes are recorded with a compare-and-set on the
delivery's state and claimed attempt (:func:`~analytics.store.repositories.alerts.record_sent`,
:func:`~analytics.store.repositories.alerts.record_failure`): a dispatcher whose lease ran
out never overwrites what another one recorded.

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
    release_claim,
)

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
"""Attempts of one delivery before it is failed for good."""
BASE_DELAY = timedelta(seconds=10)
"""The wait after the first failed attempt (doubled after each further one)."""
MAX_DELAY = timedelta(minutes=10)
"""The longest wait between two attempts."""
SEND_BUDGET = timedelta(seconds=25)
"""The longest one send may take: a token fetch plus the send (10 s timeouts each), and slack."""
BATCH = 4
"""The most deliveries claimed per round (they share one lease and are sent in turn)."""
LEASE_MARGIN = timedelta(seconds=20)
"""What the lease leaves over the batch's worst case (claiming, recording, clock skew)."""
LEASE = BATCH * SEND_BUDGET + LEASE_MARGIN
"""How long a claimed delivery is left to its dispatcher (longer than its whole batch)."""
POLL_SECONDS = 2.0
"""How often the outbox is polled."""


def batch_for(lease: timedelta, budget: timedelta = SEND_BUDGET) -> int:
    """How many deliveries fit one lease when each may take ``budget`` (at least one)."""
    return max(1, int((lease - LEASE_MARGIN) / budget))


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
    leased_until: datetime


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
        send_budget: timedelta = SEND_BUDGET,
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
            send_budget: The longest one send may take; a round claims only as many
                deliveries as fit the lease (:func:`batch_for`).
            now: The clock (timezone-aware).
        """
        self._factory = session_factory
        self._notifiers = dict(notifiers)
        self._max_attempts = max_attempts
        self._base = base_delay
        self._cap = max_delay
        self._lease = lease
        self._budget = send_budget
        self.batch = batch_for(lease, send_budget)
        self._now = now

    def _claim(self) -> list[_Claimed]:
        with self._factory() as session, session.begin():
            at = self._now()
            deliveries = claim_due_deliveries(session, at, lease=self._lease, limit=self.batch)
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
                _Claimed(d.id, d.channel, d.attempts, texts[d.alert_id], at + self._lease)
                for d in deliveries
                if d.alert_id in texts
            ]

    def run_once(self) -> int:
        """One round: claim the due deliveries and send them.

        Returns:
            How many deliveries were attempted.
        """
        claimed = self._claim()
        for index, item in enumerate(claimed):
            if self._now() + self._budget > item.leased_until:
                self._give_back(claimed[index:])
                return index
            self._send(item)
        return len(claimed)

    def _give_back(self, items: list[_Claimed]) -> None:
        """Releases claims whose lease would run out mid-send (they are due again now)."""
        with self._factory() as session, session.begin():
            for item in items:
                release_claim(
                    session, item.delivery_id, attempt=item.attempts, leased_until=item.leased_until,
                    now=self._now(),
                )  # fmt: skip
        logger.warning("Alert round ran late: %d delivery(ies) given back unsent", len(items))

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
            applied = record_sent(
                session,
                item.delivery_id,
                at=self._now(),
                platform_message_id=message_id,
                attempt=item.attempts,
            )
        if not applied:
            logger.warning(
                "Alert %s sent on %s (attempt %d) after its lease ran out: not recorded",
                ref, channel, item.attempts,
            )  # fmt: skip
            return
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
            applied = record_failure(
                session, item.delivery_id, error=error, retry_at=retry_at, attempt=item.attempts
            )
        if not applied:
            logger.warning(
                "Alert %s on %s failed (attempt %d) after its lease ran out: not recorded",
                ref, item.channel, item.attempts,
            )  # fmt: skip
            return
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
                busy = self.run_once() >= self.batch
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
