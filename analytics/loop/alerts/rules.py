"""When the founder hears about a conversation: the alert rules, run inside the ingest.

The ingest worker (:meth:`analytics.loop.ingest.store.MessageStore._update_live_risk`)
calls :meth:`AlertRules.raise_alerts` once per batch, after the live-risk update, with each
verified customer's latest message. An alert is raised for a customer when

* a trigger fires: ``cancel_intent`` (intent ``cancel_subscription``), ``human_request``
  (intent ``human_handoff``), ``angry`` (sentiment below
  :data:`~analytics.core.vocabulary.ANGRY_SENTIMENT`, the live risk's own "angry"),
  ``risk_high`` (the live risk's band rose to high with this message);
* the customer is of high value (:meth:`AlertRules.is_vip`): segment champions or loyal, or
  lifetime value (``customer_scores.clv_cents``) in the top ``ALERT_VIP_TOP_PERCENT`` of
  scored customers;
* the conversation had no alert in the last ``ALERT_CONVERSATION_QUIET_MINUTES`` (a new
  reason inside that window sends nothing);
* fewer than ``ALERT_MAX_PER_HOUR`` alerts were raised in the last hour;
* the message is fresh (at most :data:`STALE_AFTER` old: replaying old history alerts no one).

The alert and one pending delivery per usable channel are written in the ingest's
transaction (the outbox): committed with the message that caused them or not at all, and
sent by the dispatcher (:mod:`analytics.loop.alerts.dispatch`) even after a crash.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from analytics.core.settings import Settings
from analytics.core.vocabulary import (
    ANGRY_SENTIMENT,
    RISK_LEVEL_HIGH,
    SEGMENT_CHAMPIONS,
    SEGMENT_LOYAL,
    risk_band,
)
from analytics.loop.alerts.message import AlertFacts, render
from analytics.loop.alerts.notifiers import usable_channels
from analytics.loop.ingest.errors import error_class, is_store_unavailable
from analytics.loop.live_risk import Utterance
from analytics.store.models import Customer, CustomerScore, LiveRisk
from analytics.store.models.alerts import (
    REASON_ANGRY,
    REASON_CANCEL,
    REASON_HUMAN,
    REASON_RISK_HIGH,
    FounderAlert,
)
from analytics.store.repositories.alerts import alerts_since, create_alert, last_alert_at
from analytics.store.repositories.conversations import find_conversations

logger = logging.getLogger(__name__)

CANCEL_INTENT = "cancel_subscription"
HUMAN_INTENT = "human_handoff"
#: Segments that are high value whatever their lifetime value.
VIP_SEGMENTS = frozenset({SEGMENT_CHAMPIONS, SEGMENT_LOYAL})
#: A message older than this when ingested raises no alert (a backlog or a replay).
STALE_AFTER = timedelta(hours=2)
#: How long the lifetime-value cut-off of the top percent is reused.
THRESHOLD_TTL = timedelta(minutes=5)
RATE_WINDOW = timedelta(hours=1)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def triggers(utterance: Utterance, *, rose_to_high: bool) -> list[str]:
    """The alert reasons of one message (empty: no trigger).

    Args:
        utterance: What the customer said (intents, sentiment).
        rose_to_high: Whether the live risk's band rose to high with it.

    Returns:
        Reason codes, in a fixed order.
    """
    said = utterance.intents
    reasons = []
    if CANCEL_INTENT in said:
        reasons.append(REASON_CANCEL)
    if HUMAN_INTENT in said:
        reasons.append(REASON_HUMAN)
    if utterance.sentiment is not None and utterance.sentiment < ANGRY_SENTIMENT:
        reasons.append(REASON_ANGRY)
    if rose_to_high:
        reasons.append(REASON_RISK_HIGH)
    return reasons


@dataclass(frozen=True)
class AlertPolicy:
    """The limits of alerting (from the settings).

    Attributes:
        channels: The channels deliveries are created for (usable ones only).
        vip_top_percent: ``ALERT_VIP_TOP_PERCENT``.
        quiet: ``ALERT_CONVERSATION_QUIET_MINUTES``.
        max_per_hour: ``ALERT_MAX_PER_HOUR``.
        console_url: ``CONSOLE_PUBLIC_URL``.
    """

    channels: tuple[str, ...]
    vip_top_percent: int = 20
    quiet: timedelta = timedelta(minutes=60)
    max_per_hour: int = 30
    console_url: str = "http://localhost:8000"


class AlertRules:
    """Decides and files founder alerts (one object per ingest worker)."""

    def __init__(self, policy: AlertPolicy, *, now: Callable[[], datetime] = utcnow) -> None:
        """Create the rules.

        Args:
            policy: The limits and channels.
            now: The clock (timezone-aware).
        """
        self.policy = policy
        self._now = now
        self._threshold: tuple[datetime, int | None] | None = None
        self._limit_logged: datetime | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> AlertRules | None:
        """The rules of the settings, or ``None`` when no alert channel is usable."""
        if not settings.alert_channels:
            return None
        channels = usable_channels(settings)
        if not channels:
            logger.warning("ALERT_CHANNELS is set but no channel has its variables: no alerts")
            return None
        return cls(
            AlertPolicy(
                channels=channels,
                vip_top_percent=settings.alert_vip_top_percent,
                quiet=timedelta(minutes=settings.alert_conversation_quiet_minutes),
                max_per_hour=settings.alert_max_per_hour,
                console_url=settings.console_public_url,
            )
        )

    # --- high value ------------------------------------------------------------------

    def clv_threshold(self, session: Session) -> int | None:
        """The lowest lifetime value (cents) in the top ``vip_top_percent`` of scored customers.

        Returns:
            The cut-off, or ``None`` when no customer is scored.
        """
        now = self._now()
        if self._threshold is not None and now - self._threshold[0] < THRESHOLD_TTL:
            return self._threshold[1]
        scored = int(session.scalar(select(func.count(CustomerScore.customer_id))) or 0)
        value: int | None = None
        if scored:
            rank = max(1, math.ceil(scored * self.policy.vip_top_percent / 100))
            value = session.scalar(
                select(CustomerScore.clv_cents)
                .order_by(CustomerScore.clv_cents.desc())
                .offset(rank - 1)
                .limit(1)
            )
        self._threshold = (now, value)
        return value

    def is_vip(self, session: Session, score: CustomerScore | None) -> bool:
        """Whether a customer is of high value (segment champions/loyal or top lifetime value).

        Args:
            session: A session on the store.
            score: The customer's stored scores (``None``: never scored, not high value).
        """
        if score is None:
            return False
        if score.segment in VIP_SEGMENTS:
            return True
        threshold = self.clv_threshold(session)
        return threshold is not None and score.clv_cents >= threshold

    # --- the hook ----------------------------------------------------------------------

    @staticmethod
    def risk_levels(session: Session, customer_ids: list[int]) -> dict[int, str]:
        """The current live-risk bands (before this batch's update) of some customers."""
        levels: dict[int, str] = {}
        for start in range(0, len(customer_ids), 500):
            rows = session.execute(
                select(LiveRisk.customer_id, LiveRisk.level).where(
                    LiveRisk.customer_id.in_(customer_ids[start : start + 500])
                )
            )
            levels.update({int(cid): str(level) for cid, level in rows})
        return levels

    def raise_alerts(
        self,
        session: Session,
        updates: Mapping[int, Utterance],
        risks: Mapping[int, LiveRisk],
        before: Mapping[int, str],
        excerpts: Mapping[int, str] | None = None,
    ) -> list[FounderAlert]:
        """File the alerts of one ingest batch (in the caller's transaction).

        Args:
            session: The ingest's session.
            updates: Customer id -> their latest message of the batch.
            risks: Customer id -> their live risk after the batch (empty when live risk is off).
            before: Customer id -> their live-risk band before the batch (:meth:`risk_levels`).
            excerpts: Customer id -> what they wrote, redacted.

        Returns:
            The alerts filed.
        """
        now = self._now()
        candidates: list[tuple[int, Utterance, list[str]]] = []
        for cid in sorted(updates):
            utterance = updates[cid]
            if utterance.sender_id is None or now - utterance.at > STALE_AFTER:
                continue
            row = risks.get(cid)
            previous = before.get(cid) or (risk_band(row.base_score) if row is not None else None)
            rose = row is not None and row.level == RISK_LEVEL_HIGH and previous != RISK_LEVEL_HIGH
            reasons = triggers(utterance, rose_to_high=rose)
            if reasons:
                candidates.append((cid, utterance, reasons))
        if not candidates:
            return []
        try:
            with session.begin_nested():
                return self._file(session, now, candidates, risks, excerpts or {})
        except Exception as error:
            if is_store_unavailable(error):
                raise
            # A bug here must not cost the batch its messages: they are stored, no alert.
            logger.error("Founder alerts of a batch failed: %s", error_class(error))
            return []

    def _file(
        self,
        session: Session,
        now: datetime,
        candidates: list[tuple[int, Utterance, list[str]]],
        risks: Mapping[int, LiveRisk],
        excerpts: Mapping[int, str],
    ) -> list[FounderAlert]:
        """File the alerts of the candidates that pass the VIP test, de-dup and the limit."""
        conversations = find_conversations(
            session, sorted({u.sender_id for _, u, _ in candidates if u.sender_id})
        )
        filed: list[FounderAlert] = []
        for cid, utterance, reasons in candidates:
            conversation = conversations.get(utterance.sender_id or "")
            score = session.get(CustomerScore, cid)
            if conversation is None or not self.is_vip(session, score):
                continue
            last = last_alert_at(session, conversation.id)
            if last is not None and now - last < self.policy.quiet:
                logger.debug(
                    "Conversation %d alerted at %s: %s not sent", conversation.id, last, reasons
                )
                continue
            if alerts_since(session, now - RATE_WINDOW) >= self.policy.max_per_hour:
                self._log_limited(now)
                continue
            customer = session.get(Customer, cid)
            if customer is None:
                continue
            row = risks.get(cid)
            risk = row.score if row is not None else (score.churn_risk if score else None)
            alert = create_alert(
                session,
                conversation_id=conversation.id,
                sender_id=conversation.sender_id,
                customer_id=cid,
                reasons=reasons,
                channels=self.policy.channels,
                at=now,
                segment=score.segment if score else None,
                risk=risk,
            )
            text = render(
                AlertFacts(
                    ref=alert.ref,
                    conversation_id=conversation.id,
                    customer_name=customer.name,
                    customer_external_id=customer.external_id,
                    segment=alert.segment,
                    risk=risk,
                    level=risk_band(risk) if risk is not None else None,
                    reasons=reasons,
                    risk_reasons=row.reasons if row is not None else (),
                    excerpt=excerpts.get(cid, ""),
                    channel=conversation.channel,
                ),
                self.policy.console_url,
            )
            alert.title, alert.text, alert.link = text.title, text.text, text.link
            session.flush()
            logger.info(
                "Alert %s for conversation %d (%s) filed for %s",
                alert.ref,
                conversation.id,
                ", ".join(reasons),
                ", ".join(self.policy.channels),
            )
            filed.append(alert)
        return filed

    def _log_limited(self, now: datetime) -> None:
        if self._limit_logged is None or now - self._limit_logged >= RATE_WINDOW:
            self._limit_logged = now
            logger.warning(
                "ALERT_MAX_PER_HOUR (%d) reached: further alerts this hour are not sent",
                self.policy.max_per_hour,
            )
