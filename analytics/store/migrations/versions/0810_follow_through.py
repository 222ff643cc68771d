"""follow-through: applied retention offers and the founder's decisions on requests.

Revision ID: 0810_follow_through
Revises: 0800_knowledge_answers
Create Date: 2026-12-03

* ``subscription_events``: a new kind ``discount`` (an applied retention offer) and two
  columns, ``price_cents`` (the discounted price of each renewal, or the price a
  ``renew`` charged) and ``ends_at`` (renewals from then on pay the regular price again).
* ``refund_requests``: the conversation and language it was made in (``sender_id``,
  ``language``: the decision is sent there), and the founder's decision (``decided_at``,
  ``decided_by``, ``decision_note``, ``notified_at``); an index on ``status`` for the queue.
* ``change_requests``: changes to a customer's data made (or asked for) in chat
  (:class:`analytics.store.models.requests.ChangeRequest`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from analytics.store.models import UTCDateTime

revision: str = "0810_follow_through"
down_revision: str | Sequence[str] | None = "0800_knowledge_answers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KINDS = "kind IN ('start', 'pause', 'resume', 'skip', 'cancel', 'renew')"
NEW_KINDS = "kind IN ('start', 'pause', 'resume', 'skip', 'cancel', 'renew', 'discount')"


def upgrade() -> None:
    """Add the columns, the event kind and ``change_requests``."""
    with op.batch_alter_table("subscription_events") as batch:
        batch.add_column(sa.Column("price_cents", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("ends_at", UTCDateTime(), nullable=True))
        batch.drop_constraint(op.f("ck_subscription_events_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_subscription_events_kind"), NEW_KINDS)
    with op.batch_alter_table("refund_requests") as batch:
        batch.add_column(sa.Column("sender_id", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("language", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("decided_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("decided_by", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("decision_note", sa.Text(), nullable=True))
        batch.add_column(sa.Column("notified_at", UTCDateTime(), nullable=True))
        batch.create_index(op.f("ix_refund_requests_status"), ["status"])
        batch.create_index(op.f("ix_refund_requests_sender_id"), ["sender_id"])
    op.create_table(
        "change_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("sender_id", sa.String(length=255), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("notified_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('cancel_subscription', 'pause_subscription', 'retention_offer', "
            "'account_details')",
            name=op.f("ck_change_requests_kind"),
        ),
        sa.CheckConstraint(
            "status IN ('open', 'approved', 'rejected')", name=op.f("ck_change_requests_status")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_change_requests_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_change_requests_subscription_id_subscriptions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_requests")),
    )
    op.create_index(op.f("ix_change_requests_customer_id"), "change_requests", ["customer_id"])
    op.create_index(op.f("ix_change_requests_sender_id"), "change_requests", ["sender_id"])
    op.create_index(
        "ix_change_requests_status_created_at", "change_requests", ["status", "created_at"]
    )


def downgrade() -> None:
    """Drop what :func:`upgrade` added (``discount`` events go with the kind)."""
    op.drop_table("change_requests")
    with op.batch_alter_table("refund_requests") as batch:
        batch.drop_index(op.f("ix_refund_requests_sender_id"))
        batch.drop_index(op.f("ix_refund_requests_status"))
        for column in (
            "notified_at",
            "decision_note",
            "decided_by",
            "decided_at",
            "language",
            "sender_id",
        ):
            batch.drop_column(column)
    op.execute("DELETE FROM subscription_events WHERE kind = 'discount'")
    with op.batch_alter_table("subscription_events") as batch:
        batch.drop_constraint(op.f("ck_subscription_events_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_subscription_events_kind"), OLD_KINDS)
        batch.drop_column("ends_at")
        batch.drop_column("price_cents")
