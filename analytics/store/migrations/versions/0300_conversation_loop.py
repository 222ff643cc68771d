"""conversation loop: live_risk and ingest_checkpoints tables.

Revision ID: 0300_conversation_loop
Revises: 0250_retention_offers
Create Date: 2026-11-22

The models are :class:`analytics.store.models.loop.LiveRisk` (one current row per customer, written
by the ingest worker) and :class:`analytics.store.models.loop.IngestCheckpoint` (where each
event source has got to, moved in the same transaction as the messages).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from analytics.store.models import UTCDateTime

revision: str = "0300_conversation_loop"
down_revision: str | Sequence[str] | None = "0250_retention_offers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``live_risk`` and ``ingest_checkpoints``."""
    op.create_table(
        "live_risk",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("base_score", sa.Float(), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("sender_id", sa.String(length=255), nullable=True),
        sa.Column("event_key", sa.String(length=255), nullable=True),
        sa.Column("alert", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_live_risk_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_live_risk")),
    )
    op.create_index(op.f("ix_live_risk_level"), "live_risk", ["level"], unique=False)
    op.create_index(op.f("ix_live_risk_updated_at"), "live_risk", ["updated_at"], unique=False)
    op.create_table(
        "ingest_checkpoints",
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_ingest_checkpoints")),
    )


def downgrade() -> None:
    """Drop the conversation-loop tables."""
    op.drop_table("ingest_checkpoints")
    op.drop_index(op.f("ix_live_risk_updated_at"), table_name="live_risk")
    op.drop_index(op.f("ix_live_risk_level"), table_name="live_risk")
    op.drop_table("live_risk")
