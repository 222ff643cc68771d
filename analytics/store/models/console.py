"""Tables of the founder's console.

Migrations ``0100_console``, ``0600_console_security`` and ``0700_console_known_clients``
create them. They live in the store beside :mod:`analytics.store.models` and share its ``Base`` (and so its
constraint naming convention), but only the console reads or writes them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from analytics.core.vocabulary import LANG_ZH
from analytics.store.models.shop import Base, Conversation


def utcnow() -> datetime:
    """Returns the current time, timezone-aware UTC."""
    return datetime.now(UTC)


class ConsoleUser(Base):
    """A console login (the founder; more users are possible but not needed)."""

    __tablename__ = "console_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    language: Mapped[str] = mapped_column(
        String(8), server_default=text(f"'{LANG_ZH}'"), default=LANG_ZH
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]


class ConversationTag(Base):
    """A free-form tag the founder put on a conversation."""

    __tablename__ = "conversation_tags"
    __table_args__ = (UniqueConstraint("conversation_id", "tag", name="uq_conversation_tags_pair"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    tag: Mapped[str] = mapped_column(String(50), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Note(Base):
    """A founder's note on a conversation (and so on its customer)."""

    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    author: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IntentCorrection(Base):
    """The founder confirmed or corrected the intent of one user message."""

    __tablename__ = "intent_corrections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), unique=True
    )
    predicted_intent: Mapped[str | None] = mapped_column(String(100))
    intent: Mapped[str] = mapped_column(String(100))
    language: Mapped[str] = mapped_column(String(8))
    written_to: Mapped[str | None] = mapped_column(String(255))
    author: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConversationFacts(Base):
    """Per-conversation summary kept by the console for fast lists and search.

    ``risk_base_cents`` is the customer's lifetime value times churn risk;
    ``risk_cents`` is that times the conversation's "unresolved" weight (the inbox's
    default sort key, indexed with ``last_message_at`` as tie-break). Both, and
    ``last_message_at``, are kept current by database triggers on ``conversations``
    (migration ``0400_console_speed``) and by :mod:`web.console.facts` when customer values
    change.
    """

    __tablename__ = "console_conversation_facts"
    __table_args__ = (
        Index("ix_console_facts_order", "risk_cents", "last_message_at", "conversation_id"),
        Index("ix_console_facts_recent", "last_message_at", "conversation_id"),
    )

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    intents: Mapped[str] = mapped_column(String(1000), server_default=text("''"), default="")
    had_fallback: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
    message_count: Mapped[int] = mapped_column(Integer, server_default=text("0"), default=0)
    min_confidence: Mapped[float | None] = mapped_column(Float)
    avg_sentiment: Mapped[float | None] = mapped_column(Float)
    preview: Mapped[str] = mapped_column(String(300), server_default=text("''"), default="")
    search_text: Mapped[str] = mapped_column(Text, server_default=text("''"), default="")
    risk_base_cents: Mapped[int] = mapped_column(Integer, server_default=text("0"), default=0)
    last_message_id: Mapped[int] = mapped_column(Integer, server_default=text("0"), default=0)
    risk_cents: Mapped[int] = mapped_column(Integer, server_default=text("0"), default=0)
    last_message_at: Mapped[datetime | None]


class ConversationIntent(Base):
    """One intent seen in a conversation (the inbox's intent filter reads this)."""

    __tablename__ = "console_conversation_intents"

    intent: Mapped[str] = mapped_column(String(100), primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class CustomerFacts(Base):
    """Per-customer values the console lists and filters by.

    Copied from the brain's ``customer_scores`` when that table exists (``source`` is
    ``"brain"``), else estimated from orders (``source`` is ``"estimate"``).
    """

    __tablename__ = "console_customer_facts"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    spend_cents: Mapped[int] = mapped_column(Integer, server_default=text("0"), default=0)
    order_count: Mapped[int] = mapped_column(Integer, server_default=text("0"), default=0)
    last_order_at: Mapped[datetime | None]
    segment: Mapped[str] = mapped_column(String(40), index=True)
    churn_risk: Mapped[float] = mapped_column(Float, index=True)
    clv_cents: Mapped[int] = mapped_column(Integer, server_default=text("0"), default=0)
    source: Mapped[str] = mapped_column(String(16))


class Takeover(Base):
    """The founder took a conversation over from the bot (active until handed back)."""

    __tablename__ = "takeovers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    author: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    active: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=True)


class StoredSession(Base):
    """A signed-in browser (migration ``0600_console_security``).

    The cookie carries a random session id (signed with ``SESSION_SECRET``); only its
    SHA-256 is stored here, so reading this table does not hand out live sessions. Logout
    deletes the row; a password change deletes every row of the user.
    """

    __tablename__ = "console_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("console_users.id", ondelete="CASCADE"), index=True
    )
    csrf: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class LoginAttempts(Base):
    """Login attempts in the current one-minute window of one throttle key.

    ``key_hash`` is the SHA-256 of ``pair:<ip>|<user>``, ``ip:<ip>`` or ``user:<user>``;
    ``window_start`` is a Unix time in seconds. Rows are changed only by single conditional
    ``UPDATE`` / ``INSERT ... ON CONFLICT`` statements (:mod:`web.console.throttle`).
    """

    __tablename__ = "console_login_attempts"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer)


class KnownClient(Base):
    """A client address a user signed in from (migration ``0700_console_known_clients``).

    ``key_hash`` is the HMAC-SHA256 (key ``SESSION_SECRET``) of ``known:<user>|<address>``
    (IPv6 by /64), so the table holds no address in the clear; ``last_login_at`` is the Unix
    time in seconds of the last successful login. Within 30 days such an address skips the
    login throttle's per-username counter (:mod:`web.console.throttle`).
    """

    __tablename__ = "console_known_clients"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_login_at: Mapped[int] = mapped_column(BigInteger, index=True)


class ConsoleState(Base):
    """Small key/value state of the console (e.g. the facts refresh watermark)."""

    __tablename__ = "console_state"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


HANDOFF_INDEX = Index(
    "ix_console_conversations_handoff",
    Conversation.needs_handoff,
    Conversation.status,
    Conversation.last_message_at,
)
"""An index the console adds to ``conversations`` (migration ``0400_console_speed``): the
open hand-off requests on top of the inbox, and their count polled every 10 s."""
