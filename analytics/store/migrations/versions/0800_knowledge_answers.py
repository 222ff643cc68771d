"""Which knowledge passage answered which question: the knowledge_answers table.

Revision ID: 0800_knowledge_answers
Revises: 0700_console_known_clients
Create Date: 2026-12-03

The model is :class:`analytics.store.models.knowledge.KnowledgeAnswer`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from analytics.store.models import UTCDateTime

revision: str = "0800_knowledge_answers"
down_revision: str | Sequence[str] | None = "0700_console_known_clients"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``knowledge_answers``."""
    op.create_table(
        "knowledge_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sender_id", sa.String(length=255), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("passage_id", sa.String(length=200), nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("intent", sa.String(length=100), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "mode IN ('direct', 'quoted', 'refused')", name=op.f("ck_knowledge_answers_mode")
        ),
        sa.CheckConstraint("language IN ('zh', 'en')", name=op.f("ck_knowledge_answers_language")),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_knowledge_answers_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_answers")),
    )
    op.create_index(
        op.f("ix_knowledge_answers_sender_id"), "knowledge_answers", ["sender_id"], unique=False
    )
    op.create_index(
        op.f("ix_knowledge_answers_customer_id"),
        "knowledge_answers",
        ["customer_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_knowledge_answers_created_at"), "knowledge_answers", ["created_at"], unique=False
    )
    op.create_index(
        "ix_knowledge_answers_passage_id_created_at",
        "knowledge_answers",
        ["passage_id", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    """Drop ``knowledge_answers``."""
    op.drop_table("knowledge_answers")
