"""Changes to a customer's data made in a conversation (``change_requests``).

The founder's "Requests" queue (:mod:`web.console.routes.requests`) lists two kinds of
rows: refund requests (:class:`~analytics.store.models.shop.RefundRequest`, decided by
the founder) and these. The bot carries out a change the customer confirmed (cancel or
pause the subscription, accept a retention offer) and files it here as ``approved`` by
``bot`` with what was stored, so every promise the bot makes is visible in the console.
A change the bot cannot make (``account_details``: an address, phone number, e-mail) is
filed ``open`` once the customer confirms and waits for the founder like a refund request;
the founder approves or refuses it with a note and the decision is sent to the
conversation it came from.

Statuses share the refund requests' vocabulary (``open`` / ``approved`` / ``rejected``,
read "refused"). ``detail`` is written by the bot from stored values, or is the
customer's request redacted (:func:`analytics.loop.privacy.redact`), never raw text.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from analytics.store.models.shop import REFUND_STATUSES, Base, UTCDateTime, _in_check

CHANGE_CANCEL = "cancel_subscription"
CHANGE_PAUSE = "pause_subscription"
CHANGE_OFFER = "retention_offer"
#: a change to the account (address, phone, e-mail...) the bot cannot make: filed open.
CHANGE_ACCOUNT = "account_details"
CHANGE_KINDS = (CHANGE_CANCEL, CHANGE_PAUSE, CHANGE_OFFER, CHANGE_ACCOUNT)
DECIDED_BY_BOT = "bot"
"""``decided_by`` of a change the bot carried out on the customer's confirmation."""
MAX_DETAIL_CHARS = 500


class ChangeRequest(Base):
    """A change to the customer's data asked for (and possibly made) in a conversation."""

    __tablename__ = "change_requests"
    __table_args__ = (
        CheckConstraint(_in_check("kind", CHANGE_KINDS), name="kind"),
        CheckConstraint(_in_check("status", REFUND_STATUSES), name="status"),
        Index("ix_change_requests_status_created_at", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    sender_id: Mapped[str | None] = mapped_column(String(255), index=True)
    language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decision_note: Mapped[str | None] = mapped_column(Text)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"ChangeRequest(id={self.id!r}, kind={self.kind!r}, status={self.status!r})"
