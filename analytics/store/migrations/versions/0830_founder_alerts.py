"""Founder alerts and their deliveries (the outbox of the alert dispatcher).

Revision ID: 0830_founder_alerts
Revises: 0820_attachments
Create Date: 2026-12-03

The models are :class:`analytics.store.models.alerts.FounderAlert` and
:class:`analytics.store.models.alerts.AlertDelivery`; docs/alerts.md explains them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from analytics.store.models import UTCDateTime

revision: str = "0830_founder_alerts"
down_revision: str | Sequence[str] | None = "0820_attachments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATES = "state IN ('pending', 'sent', 'failed')"


def upgrade() -> None:
    """Create ``founder_alerts`` and ``founder_alert_deliveries``."""
    op.create_table(
        "founder_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=16), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("sender_id", sa.String(length=128), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("segment", sa.String(length=32), nullable=True),
        sa.Column("risk", sa.Float(), nullable=True),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("link", sa.String(length=512), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(_STATES, name=op.f("ck_founder_alerts_state")),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_founder_alerts_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_founder_alerts_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_founder_alerts")),
        sa.UniqueConstraint("ref", name=op.f("uq_founder_alerts_ref")),
    )
    op.create_index(
        "ix_founder_alerts_conversation_id_created_at",
        "founder_alerts",
        ["conversation_id", "created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_founder_alerts_created_at"), "founder_alerts", ["created_at"], unique=False
    )
    op.create_index(
        op.f("ix_founder_alerts_customer_id"), "founder_alerts", ["customer_id"], unique=False
    )
    op.create_table(
        "founder_alert_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("platform_message_id", sa.String(length=128), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(_STATES, name=op.f("ck_founder_alert_deliveries_state")),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["founder_alerts.id"],
            name=op.f("fk_founder_alert_deliveries_alert_id_founder_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_founder_alert_deliveries")),
        sa.UniqueConstraint(
            "alert_id", "channel", name="uq_founder_alert_deliveries_alert_id_channel"
        ),
    )
    op.create_index(
        "ix_founder_alert_deliveries_channel_platform_message_id",
        "founder_alert_deliveries",
        ["channel", "platform_message_id"],
        unique=False,
    )
    op.create_index(
        "ix_founder_alert_deliveries_state_next_attempt_at",
        "founder_alert_deliveries",
        ["state", "next_attempt_at"],
        unique=False,
    )


def downgrade() -> None:
    """Drop ``founder_alert_deliveries`` and ``founder_alerts``."""
    op.drop_table("founder_alert_deliveries")
    op.drop_table("founder_alerts")
