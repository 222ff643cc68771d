"""brain: customer_scores table.

Revision ID: 0200_customer_scores
Revises: 0100_console
Create Date: 2026-11-22

The model is :class:`analytics.store.models.scores.CustomerScore`; one current row per customer, written
by ``python -m analytics score``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from analytics.store.models import UTCDateTime

revision: str = "0200_customer_scores"
down_revision: str | Sequence[str] | None = "0100_console"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``customer_scores``."""
    op.create_table(
        "customer_scores",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("segment", sa.String(length=32), nullable=False),
        sa.Column("churn_risk", sa.Float(), nullable=False),
        sa.Column("churn_reasons", sa.JSON(), nullable=False),
        sa.Column("clv_cents", sa.Integer(), nullable=False),
        sa.Column("expected_purchases_90d", sa.Float(), nullable=False),
        sa.Column("p_alive", sa.Float(), nullable=False),
        sa.Column("health", sa.Float(), nullable=False),
        sa.Column("health_components", sa.JSON(), nullable=False),
        sa.Column("lifecycle_stage", sa.String(length=16), nullable=False),
        sa.Column("recommendations", sa.JSON(), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("scored_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_scores_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customer_scores")),
    )
    op.create_index(op.f("ix_customer_scores_segment"), "customer_scores", ["segment"])
    op.create_index(op.f("ix_customer_scores_churn_risk"), "customer_scores", ["churn_risk"])
    op.create_index(
        op.f("ix_customer_scores_lifecycle_stage"), "customer_scores", ["lifecycle_stage"]
    )


def downgrade() -> None:
    """Drop ``customer_scores``."""
    op.drop_index(op.f("ix_customer_scores_lifecycle_stage"), table_name="customer_scores")
    op.drop_index(op.f("ix_customer_scores_churn_risk"), table_name="customer_scores")
    op.drop_index(op.f("ix_customer_scores_segment"), table_name="customer_scores")
    op.drop_table("customer_scores")
