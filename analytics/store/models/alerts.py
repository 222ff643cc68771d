"""Founder alerts (``founder_alerts``) and their deliveries (``founder_alert_deliveries``).

When a high-value customer shows cancel intent, asks for a person, writes angrily or their
live risk rises to high, the ingest worker's rules (:mod:`analytics.loop.alerts.rules`)
write one :class:`FounderAlert` and one :class:`AlertDelivery` per configured channel in
the ingest's own transaction: the outbox. The dispatcher (``python -m analytics.loop.alerts``)
sends the pending deliveries, retrying with back-off (``next_attempt_at``) and records the
platform's message id, so a founder's reply to the alert (Telegram reply-to, ...) maps back
to it. The alert's text is rendered when it is created (plain text, both languages), so
every retry and every channel sends the same words.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from analytics.store.models.shop import Base, UTCDateTime, _in_check

#: Why an alert was raised (``founder_alerts.reasons`` holds a list of these codes).
REASON_CANCEL = "cancel_intent"
REASON_HUMAN = "human_request"
REASON_ANGRY = "angry"
REASON_RISK_HIGH = "risk_high"
ALERT_REASONS = (REASON_CANCEL, REASON_HUMAN, REASON_ANGRY, REASON_RISK_HIGH)

#: States of an alert and of each delivery. An alert is ``sent`` once one delivery was
#: sent, ``failed`` when every delivery failed, ``pending`` before that.
ALERT_PENDING = "pending"
ALERT_SENT = "sent"
ALERT_FAILED = "failed"
ALERT_STATES = (ALERT_PENDING, ALERT_SENT, ALERT_FAILED)

#: The channels an alert can go to (``ALERT_CHANNELS``).
ALERT_KINDS = ("telegram", "slack", "wecom", "feishu", "dingtalk", "email", "webhook")

MAX_REF_CHARS = 16
MAX_PLATFORM_ID_CHARS = 128


class FounderAlert(Base):
    """One alert to the founder about one conversation."""

    __tablename__ = "founder_alerts"
    __table_args__ = (
        CheckConstraint(_in_check("state", ALERT_STATES), name="state"),
        Index("ix_founder_alerts_conversation_id_created_at", "conversation_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(MAX_REF_CHARS), unique=True)
    """Short code shown to the founder (``A17``); replies may quote it."""
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    sender_id: Mapped[str] = mapped_column(String(128))
    """Rasa's conversation id (``conversations.sender_id``)."""
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    reasons: Mapped[list[str]] = mapped_column(JSON)
    """Codes of :data:`ALERT_REASONS`, in the order they were found."""
    segment: Mapped[str | None] = mapped_column(String(32))
    risk: Mapped[float | None] = mapped_column(Float)
    """The live churn risk when the alert was raised (the nightly one without a live row)."""
    title: Mapped[str] = mapped_column(String(255))
    text: Mapped[str] = mapped_column(Text)
    """The bilingual plain-text message (every channel sends these words)."""
    link: Mapped[str] = mapped_column(String(512))
    """The conversation's page in the console."""
    state: Mapped[str] = mapped_column(String(16), default=ALERT_PENDING)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)

    def __repr__(self) -> str:
        return f"FounderAlert(id={self.id!r}, ref={self.ref!r}, state={self.state!r})"


class AlertDelivery(Base):
    """One alert on one channel: the outbox row the dispatcher sends."""

    __tablename__ = "founder_alert_deliveries"
    __table_args__ = (
        CheckConstraint(_in_check("state", ALERT_STATES), name="state"),
        UniqueConstraint(
            "alert_id", "channel", name="uq_founder_alert_deliveries_alert_id_channel"
        ),
        Index("ix_founder_alert_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
        Index(
            "ix_founder_alert_deliveries_channel_platform_message_id",
            "channel",
            "platform_message_id",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("founder_alerts.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default=ALERT_PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    platform_message_id: Mapped[str | None] = mapped_column(String(MAX_PLATFORM_ID_CHARS))
    error: Mapped[str | None] = mapped_column(Text)

    def __repr__(self) -> str:
        return (
            f"AlertDelivery(id={self.id!r}, alert_id={self.alert_id!r}, "
            f"channel={self.channel!r}, state={self.state!r})"
        )
