"""Conversations: the one writer of ``conversations`` rows.

Every creation and update of a conversation goes through this module:

* the action server and the web app, one message at a time: :func:`upsert_conversation`,
  :func:`mark_handoff` (and :func:`note_message`, through
  :func:`~analytics.store.repositories.messages.add_message`);
* the founder's console: :func:`take_over`, :func:`set_status`, :func:`set_reviewed`;
* the widget's end-of-chat rating: :func:`rate_conversation`;
* the ingest worker, a batch of Rasa events at a time: :func:`find_conversations`,
  :func:`record_activity` and :func:`flag_handoffs`, with multi-row statements.

Both ways are safe against a concurrent writer of the same sender id: a single creation runs
in a SAVEPOINT and re-reads the row on a unique-key conflict; a batch creation is an
``INSERT .. ON CONFLICT (sender_id) DO NOTHING`` followed by a read, and the batch's update
then applies to whichever row won. The caller owns the session and the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from analytics.core.vocabulary import LANG_ZH, LANGUAGES
from analytics.store.models import (
    CHANNEL_WEB,
    CONV_OPEN,
    CONV_RESOLVED,
    Conversation,
    Customer,
)
from analytics.store.repositories._bulk import insert_ignoring_conflicts
from analytics.store.repositories._checks import require_aware

logger = logging.getLogger(__name__)

CHUNK = 500
"""Sender ids per ``IN (..)`` query."""
MIN_RATING = 1
MAX_RATING = 5
_UPDATE_ID = "conv_id"
_UPDATE_PREFIX = "v_"


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, got {language!r}")


def _find_conversation(session: Session, sender_id: str) -> Conversation | None:
    return session.scalars(select(Conversation).where(Conversation.sender_id == sender_id)).first()


def upsert_conversation(
    session: Session,
    sender_id: str,
    *,
    customer_id: int | None,
    channel: str,
    language: str,
    at: datetime,
) -> Conversation:
    """Create the conversation for a Rasa sender id, or update its last activity.

    An existing conversation gets ``last_message_at`` moved forward, its language and
    channel updated, the customer set when known, and is re-opened if it was resolved.
    Concurrent creation of the same sender id is handled (the loser re-reads).

    Args:
        session: The database session.
        sender_id: The Rasa sender id.
        customer_id: The verified customer's primary key, or ``None`` if anonymous.
        channel: The channel name, e.g. ``"web"``.
        language: ``"zh"`` or ``"en"``.
        at: Time of the current message (timezone-aware).

    Returns:
        The conversation.

    Raises:
        ValueError: If ``sender_id`` is empty, the language is unknown or ``at`` is naive.
    """
    require_aware(at, "at")
    if not sender_id:
        raise ValueError("sender_id must not be empty")
    _check_language(language)
    conversation = _find_conversation(session, sender_id)
    if conversation is None:
        conversation = Conversation(
            sender_id=sender_id,
            customer_id=customer_id,
            channel=channel,
            language=language,
            started_at=at,
            last_message_at=at,
            needs_handoff=False,
            status=CONV_OPEN,
            reviewed=False,
        )
        try:
            with session.begin_nested():
                session.add(conversation)
        except IntegrityError:
            logger.info("Conversation %s was created concurrently; re-reading", sender_id)
            conversation = _find_conversation(session, sender_id)
            if conversation is None:
                raise
        else:
            return conversation
    note_message(conversation, at)
    if customer_id is not None:
        conversation.customer_id = customer_id
    conversation.language = language
    conversation.channel = channel
    conversation.status = CONV_OPEN
    session.flush()
    return conversation


def mark_handoff(
    session: Session,
    sender_id: str,
    *,
    customer_id: int | None,
    reason: str,
    at: datetime,
    channel: str = CHANNEL_WEB,
    language: str | None = None,
) -> Conversation:
    """Flag a conversation for the founder (human handoff), creating it if needed.

    Args:
        session: The database session.
        sender_id: The Rasa sender id.
        customer_id: The verified customer's primary key, or ``None``.
        reason: Why a human is needed (e.g. ``"complaint"``, ``"vip_at_risk"``).
        at: When the handoff was requested (timezone-aware).
        channel: Channel used if the conversation has to be created.
        language: Language used if the conversation has to be created; defaults to the
            customer's language, else Chinese.

    Returns:
        The conversation with ``needs_handoff`` set and status ``open``.

    Raises:
        ValueError: If the reason is empty or a datetime is naive.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("a handoff needs a reason")
    conversation = _find_conversation(session, sender_id)
    if conversation is None:
        if language is None:
            customer = session.get(Customer, customer_id) if customer_id is not None else None
            language = customer.language if customer is not None else LANG_ZH
        conversation = upsert_conversation(
            session, sender_id, customer_id=customer_id, channel=channel, language=language, at=at
        )
    else:
        require_aware(at, "at")
        if customer_id is not None:
            conversation.customer_id = customer_id
        note_message(conversation, at)
    conversation.needs_handoff = True
    conversation.handoff_reason = reason
    conversation.status = CONV_OPEN
    conversation.reviewed = False
    session.flush()
    logger.info("Handoff requested for conversation %s: %s", sender_id, reason)
    return conversation


def note_message(conversation: Conversation, at: datetime) -> None:
    """Move ``last_message_at`` forward to a new message's time (never backwards).

    Args:
        conversation: The conversation the message belongs to.
        at: When the message was sent.
    """
    if at > conversation.last_message_at:
        conversation.last_message_at = at


# --- the founder's console -----------------------------------------------------------------


def take_over(session: Session, conversation: Conversation) -> Conversation:
    """The founder answers now: the handoff request is met and the conversation is open.

    Args:
        session: The database session.
        conversation: The conversation taken over.

    Returns:
        The conversation.
    """
    conversation.needs_handoff = False
    conversation.status = CONV_OPEN
    session.flush()
    return conversation


def set_status(session: Session, conversation: Conversation, status: str) -> Conversation:
    """Resolve or re-open a conversation; resolving clears the handoff request.

    Args:
        session: The database session.
        conversation: The conversation.
        status: ``"open"`` or ``"resolved"``.

    Returns:
        The conversation.

    Raises:
        ValueError: If the status is neither.
    """
    if status not in (CONV_OPEN, CONV_RESOLVED):
        raise ValueError(f"status must be {CONV_OPEN!r} or {CONV_RESOLVED!r}, got {status!r}")
    conversation.status = status
    if status == CONV_RESOLVED:
        conversation.needs_handoff = False
    session.flush()
    return conversation


def set_reviewed(session: Session, conversation: Conversation, reviewed: bool) -> Conversation:
    """Mark a conversation reviewed by the founder (or not).

    Args:
        session: The database session.
        conversation: The conversation.
        reviewed: The new flag.

    Returns:
        The conversation.
    """
    conversation.reviewed = reviewed
    session.flush()
    return conversation


def rate_conversation(
    session: Session,
    sender_id: str,
    rating: int,
    *,
    create: bool,
    language: str,
    at: datetime,
) -> Conversation | None:
    """Store the customer's end-of-chat rating (1 to 5) of a conversation.

    An existing conversation keeps its state (a resolved chat is not re-opened by its
    rating); an unknown one is created, anonymous and on the web channel, only if ``create``.

    Args:
        session: The database session.
        sender_id: The Rasa sender id (the widget's session id).
        rating: The rating, 1 to 5.
        create: Create the conversation if it does not exist.
        language: The language of a created conversation.
        at: The time of a created conversation (timezone-aware).

    Returns:
        The rated conversation, or ``None`` when it does not exist and ``create`` is false.

    Raises:
        ValueError: If the rating is not 1 to 5, or as :func:`upsert_conversation`.
    """
    if not MIN_RATING <= rating <= MAX_RATING:
        raise ValueError(f"a rating is {MIN_RATING} to {MAX_RATING}, got {rating!r}")
    conversation = _find_conversation(session, sender_id)
    if conversation is None:
        if not create:
            return None
        conversation = upsert_conversation(
            session, sender_id, customer_id=None, channel=CHANNEL_WEB, language=language, at=at
        )
    conversation.rating = rating
    session.flush()
    return conversation


# --- the ingest: a batch of events at a time ------------------------------------------------


@dataclass(frozen=True)
class ConversationActivity:
    """What one batch of messages says about its sender's conversation.

    Attributes:
        sender_id: The Rasa sender id.
        first_at: The earliest message of the batch.
        last_at: The latest message of the batch.
        customer_id: The first verified customer who spoke in the batch, or ``None``.
        channel: The channel of the batch's first message that names one, or ``None``.
        language: The language of the sender's last user message that has a known one.
        reply_language: The language of the batch's first bot message that has a known
            one (a new conversation's language when neither ``language`` nor the
            customer's language is known).
    """

    sender_id: str
    first_at: datetime
    last_at: datetime
    customer_id: int | None = None
    channel: str | None = None
    language: str | None = None
    reply_language: str | None = None


def find_conversations(session: Session, sender_ids: Sequence[str]) -> dict[str, Conversation]:
    """The stored conversations of some sender ids (one query per :data:`CHUNK`).

    Args:
        session: The database session.
        sender_ids: The Rasa sender ids.

    Returns:
        Sender id -> conversation, for those that exist.
    """
    known: dict[str, Conversation] = {}
    for start in range(0, len(sender_ids), CHUNK):
        chunk = sender_ids[start : start + CHUNK]
        for conversation in session.scalars(
            select(Conversation).where(Conversation.sender_id.in_(chunk))
        ):
            known[conversation.sender_id] = conversation
    return known


def record_activity(
    session: Session,
    activities: Sequence[ConversationActivity],
    known: dict[str, Conversation],
) -> None:
    """Create or update the conversations of a batch, in two multi-row statements.

    A new conversation starts open with the batch's customer, channel (default ``web``) and
    language (the last user message's, else the customer's, else the first reply's, else
    Chinese). An existing one is re-opened, its time span widened to the batch, its channel
    and language moved to the batch's when it has them, and its customer set once: from
    ``None`` to the batch's, never from one customer to another.

    A conversation another writer created meanwhile is read back and updated as an
    existing one (``INSERT .. ON CONFLICT (sender_id) DO NOTHING``).

    Args:
        session: The database session.
        activities: One per sender id of the batch.
        known: Sender id -> stored conversation (:func:`find_conversations`); the new ones
            are added to it.

    Raises:
        ValueError: If an activity names an unknown language.
    """
    for activity in activities:
        for language in (activity.language, activity.reply_language):
            if language is not None:
                _check_language(language)
    with session.no_autoflush:
        _create(session, [a for a in activities if a.sender_id not in known], known)
        updates = [
            row
            for activity in activities
            if (row := _update(known[activity.sender_id], activity)) is not None
        ]
        _execute_updates(session, updates)


def flag_handoffs(session: Session, conversations: Iterable[Conversation], reason: str) -> None:
    """Ask the founder to look at conversations (those not flagged already).

    A conversation that is flagged keeps its flag and reason; one that is not gets the flag,
    ``reason`` unless it kept an earlier reason, and goes back to unreviewed.

    Args:
        session: The database session.
        conversations: The conversations whose customer asked for a person.
        reason: Why (for those without a reason).
    """
    flagged = False
    for conversation in conversations:
        if not conversation.needs_handoff:
            conversation.needs_handoff = True
            conversation.handoff_reason = conversation.handoff_reason or reason
            conversation.reviewed = False
            flagged = True
    if flagged:
        session.flush()


def _create(
    session: Session, activities: list[ConversationActivity], known: dict[str, Conversation]
) -> None:
    rows: list[dict[str, Any]] = [
        {
            "sender_id": activity.sender_id,
            "customer_id": activity.customer_id,
            "channel": activity.channel or CHANNEL_WEB,
            "language": _new_language(session, activity),
            "started_at": activity.first_at,
            "last_message_at": activity.last_at,
            "needs_handoff": False,
            "status": CONV_OPEN,
            "reviewed": False,
        }
        for activity in activities
    ]
    if not rows:
        return
    insert_ignoring_conflicts(session, cast(Table, Conversation.__table__), "sender_id", rows)
    known.update(find_conversations(session, [row["sender_id"] for row in rows]))


def _new_language(session: Session, activity: ConversationActivity) -> str:
    if activity.language is not None:
        return activity.language
    if activity.customer_id is not None:
        customer = session.get(Customer, activity.customer_id)
        if customer is not None and customer.language in LANGUAGES:
            return customer.language
    return activity.reply_language or LANG_ZH


def _update(conversation: Conversation, activity: ConversationActivity) -> dict[str, Any] | None:
    """The update of a stored conversation, or ``None`` if nothing changes.

    The values are also set on ``conversation`` as committed (the executemany UPDATE of
    :func:`_execute_updates` writes them).
    """
    customer_id = conversation.customer_id
    if customer_id is None:
        customer_id = activity.customer_id
    values: dict[str, Any] = {
        "customer_id": customer_id,
        "language": activity.language or conversation.language,
        "channel": activity.channel or conversation.channel,
        "status": CONV_OPEN,
        "started_at": min(conversation.started_at, activity.first_at),
        "last_message_at": max(conversation.last_message_at, activity.last_at),
    }
    if all(getattr(conversation, key) == value for key, value in values.items()):
        return None
    for key, value in values.items():
        set_committed_value(conversation, key, value)
    return {
        _UPDATE_ID: conversation.id,
        **{_UPDATE_PREFIX + key: value for key, value in values.items()},
    }


def _execute_updates(session: Session, updates: list[dict[str, Any]]) -> None:
    """Write the conversation updates with one executemany statement."""
    if not updates:
        return
    table = cast(Table, Conversation.__table__)
    columns = [key for key in updates[0] if key != _UPDATE_ID]
    stmt = (
        update(table)
        .where(table.c.id == bindparam(_UPDATE_ID))
        .values({key.removeprefix(_UPDATE_PREFIX): bindparam(key) for key in columns})
    )
    session.execute(stmt, updates)
