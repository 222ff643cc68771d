"""Which alert (hence which conversation) a founder's message answers, and what to do.

* Telegram: the alert whose message the founder replied to (``reply_to_message`` ->
  ``founder_alert_deliveries.platform_message_id``), or the alert named by a leading ref
  (``#A17 text``); both given and different: nothing is sent. A reply to a message that is
  not a known alert counts only when the quoted text is anchored on a ref
  (:func:`web.founder_hooks.telegram.quoted_ref`): a reply to the help text names nothing.
* WeCom (no threads): a leading ref; without one, the one alert sent to WeCom within
  ``ALERT_CONVERSATION_QUIET_MINUTES`` — with several, the founder is asked for the ref
  (a reply never guesses between two customers).
* Anything else gets the help text. ``#A17 /bot`` (also ``/handback``, ``交还``) hands the
  conversation back to the bot.

The same platform delivery is acted on once: its idempotency key is the founder message's
``event_key`` in the store (``founder_app:<kind>:<delivery id>``), claimed here before the
hook answers, released if Rasa refuses the message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.core.language import detect_language
from analytics.store import repositories as repo
from analytics.store.models import ROLE_FOUNDER, Conversation, Message
from analytics.store.models.alerts import ALERT_SENT, AlertDelivery, FounderAlert
from analytics.store.repositories.alerts import alert_by_platform_message, alert_by_ref
from web.founder_hooks import texts
from web.founder_hooks.config import HookSettings
from web.founder_hooks.door import MAX_REPLY_CHARS
from web.founder_hooks.message import KIND_TELEGRAM, KIND_WECOM, FounderMessage

EVENT_KEY_PREFIX = "founder_app"
REF_RE = re.compile(r"^[#＃]\s*([Aa]\s*\d{1,12})(?![0-9A-Za-z])[\s:：,，.。-]*", re.DOTALL)
HANDBACK_WORDS = frozenset({"/bot", "/handback", "/resume", "交还", "交還", "交还机器人"})
MAX_AMBIGUOUS_LISTED = 5

ACTION_SEND = "send"
ACTION_HANDBACK = "handback"
ACTION_ACK = "ack"
ACTION_NOTHING = "nothing"


@dataclass(frozen=True)
class Plan:
    """What to do with one founder message.

    Attributes:
        action: ``send`` (to the customer), ``handback``, ``ack`` (only answer the
            founder) or ``nothing`` (a delivery already acted on).
        ack: The answer to the founder for ``ack``.
        ref: The alert's ref.
        sender_id: The conversation's Rasa id.
        conversation_id: The conversation's key in the store.
        text: What goes to the customer.
        event_key: The claimed idempotency key (``send``).
        link: The conversation's page in the console.
    """

    action: str
    ack: str = ""
    ref: str = ""
    sender_id: str = ""
    conversation_id: int = 0
    text: str = ""
    event_key: str = ""
    link: str = ""


def split_ref(text: str) -> tuple[str | None, str]:
    """Splits a leading ``#A17`` off the text.

    Returns:
        ``("A17", rest)`` or ``(None, text)``.
    """
    match = REF_RE.match(text)
    if match is None:
        return None, text
    return re.sub(r"\s+", "", match.group(1)).upper(), text[match.end() :].strip()


def event_key(message: FounderMessage) -> str:
    """The idempotency key of a founder message (also its ``messages.event_key``)."""
    return f"{EVENT_KEY_PREFIX}:{message.kind}:{message.delivery_id}"


def recent_alerts(db: Session, kind: str, since: datetime) -> list[FounderAlert]:
    """Alerts sent on ``kind`` at or after ``since``, newest first."""
    return list(
        db.scalars(
            select(FounderAlert)
            .join(AlertDelivery, AlertDelivery.alert_id == FounderAlert.id)
            .where(
                AlertDelivery.channel == kind,
                AlertDelivery.state == ALERT_SENT,
                AlertDelivery.sent_at >= since,
            )
            .order_by(AlertDelivery.sent_at.desc(), FounderAlert.id.desc())
        ).unique()
    )


def _target(
    db: Session, settings: HookSettings, message: FounderMessage, ref: str | None, now: datetime
) -> FounderAlert | Plan:
    replied = None
    if message.reply_to is not None:
        replied = alert_by_platform_message(db, message.kind, message.reply_to)
    if replied is None and message.reply_ref:  # a reply to an acknowledgement, or to "#A17 .."
        replied = alert_by_ref(db, message.reply_ref)
    named = alert_by_ref(db, ref) if ref else None
    if ref and named is None:
        return Plan(ACTION_ACK, texts.UNKNOWN_REF.format(ref=ref))
    if replied is not None and named is not None and replied.id != named.id:
        return Plan(ACTION_ACK, texts.CONFLICT.format(replied=replied.ref, named=named.ref))
    alert = replied or named
    if alert is not None:
        return alert
    if message.kind == KIND_WECOM:
        recent = recent_alerts(db, KIND_WECOM, now - timedelta(minutes=settings.quiet_minutes))
        if len(recent) == 1:
            return recent[0]
        if recent:
            refs = [f"#{a.ref}" for a in recent[:MAX_AMBIGUOUS_LISTED]]
            return Plan(
                ACTION_ACK, texts.AMBIGUOUS.format(refs="、".join(refs), first=recent[0].ref)
            )
    return Plan(ACTION_ACK, texts.HELP)


def plan(
    db: Session, settings: HookSettings, message: FounderMessage, *, now: datetime | None = None
) -> Plan:
    """Decides what a founder message does; claims it when it goes to a customer.

    Args:
        db: A session on the store (committed when a claim is written).
        settings: The hooks' settings.
        message: The authentic founder message.
        now: The current time (defaults to the clock).

    Returns:
        The plan (for ``send``, the founder message is already stored under its key).
    """
    moment = now or datetime.now(UTC)
    key = event_key(message)
    if db.scalar(select(Message.id).where(Message.event_key == key)) is not None:
        return Plan(ACTION_NOTHING)
    ref, rest = split_ref(message.text)
    target = _target(db, settings, message, ref, moment)
    if isinstance(target, Plan):
        return target
    body = rest if ref else message.text
    link = target.link or f"{settings.console_url}/console/conversations/{target.conversation_id}"
    if body.strip().lower() in HANDBACK_WORDS:
        return Plan(
            ACTION_HANDBACK,
            ref=target.ref,
            sender_id=target.sender_id,
            conversation_id=target.conversation_id,
            link=link,
        )
    if not body:
        return Plan(ACTION_ACK, texts.TEXT_ONLY if not message.text else texts.HELP)
    if len(body) > MAX_REPLY_CHARS:
        return Plan(ACTION_ACK, texts.TOO_LONG.format(limit=MAX_REPLY_CHARS))
    conversation = db.get(Conversation, target.conversation_id)
    if conversation is None:
        return Plan(ACTION_ACK, texts.UNKNOWN_REF.format(ref=target.ref))
    repo.add_message(
        db,
        conversation,
        event_key=key,
        role=ROLE_FOUNDER,
        text=body,
        at=moment,
        language=detect_language(body),
    )
    db.commit()
    return Plan(
        ACTION_SEND,
        ref=target.ref,
        sender_id=target.sender_id,
        conversation_id=target.conversation_id,
        text=body,
        event_key=key,
        link=link,
    )


def release(db: Session, key: str) -> None:
    """Removes a claimed founder message that Rasa did not take (a retry may send it)."""
    message = db.scalars(select(Message).where(Message.event_key == key)).first()
    if message is not None:
        db.delete(message)
    db.commit()


KINDS = (KIND_TELEGRAM, KIND_WECOM)
