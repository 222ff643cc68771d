"""bot: retention_offers table.

Revision ID: 0250_retention_offers
Revises: 0200_customer_scores
Create Date: 2026-11-22

The model is :class:`analytics.store.models.offers.RetentionOfferRecord`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from analytics.store.models import UTCDateTime

revision: str = "0250_retention_offers"
down_revision: str | Sequence[str] | None = "0200_customer_scores"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``retention_offers``."""
    op.create_table(
        "retention_offers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("sender_id", sa.String(length=255), nullable=False),
        sa.Column("offered_at", UTCDateTime(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "outcome IN ('offered', 'accepted', 'declined')",
            name=op.f("ck_retention_offers_outcome"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_retention_offers_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_retention_offers_subscription_id_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_offers")),
    )
    op.create_index(
        op.f("ix_retention_offers_customer_id"), "retention_offers", ["customer_id"], unique=False
    )
    op.create_index(
        op.f("ix_retention_offers_subscription_id"),
        "retention_offers",
        ["subscription_id"],
        unique=False,
    )


def downgrade() -> None:
    """Drop ``retention_offers``."""
    op.drop_table("retention_offers")
