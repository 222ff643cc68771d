"""founder console: users, tags, notes, intent corrections, conversation facts, takeovers.

Revision ID: 0100_console
Revises: 0001
Create Date: 2026-11-22

Self-contained: every column is spelled out here, so later changes to
:mod:`analytics.store.models.console` need a new revision and never change this one (the models are
registered for schema comparisons by :mod:`analytics.store.schema`). Full-text search structures
that depend on the database (SQLite FTS5, PostgreSQL pg_trgm) are created at run time by
the console, not here.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from analytics.store.models import UTCDateTime

revision: str = "0100_console"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the console tables."""
    op.create_table(
        "console_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("language", sa.String(length=8), server_default=sa.text("'zh'"), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_login_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_users")),
        sa.UniqueConstraint("username", name=op.f("uq_console_users_username")),
    )
    op.create_table(
        "conversation_tags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=50), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_tags_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_tags")),
        sa.UniqueConstraint("conversation_id", "tag", name="uq_conversation_tags_pair"),
    )
    op.create_index(
        op.f("ix_conversation_tags_conversation_id"), "conversation_tags", ["conversation_id"]
    )
    op.create_index(op.f("ix_conversation_tags_tag"), "conversation_tags", ["tag"])
    op.create_table(
        "notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("author", sa.String(length=100), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_notes_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_notes_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notes")),
    )
    op.create_index(op.f("ix_notes_conversation_id"), "notes", ["conversation_id"])
    op.create_index(op.f("ix_notes_customer_id"), "notes", ["customer_id"])
    op.create_table(
        "intent_corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("predicted_intent", sa.String(length=100), nullable=True),
        sa.Column("intent", sa.String(length=100), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("written_to", sa.String(length=255), nullable=True),
        sa.Column("author", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_intent_corrections_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intent_corrections")),
        sa.UniqueConstraint("message_id", name=op.f("uq_intent_corrections_message_id")),
    )
    op.create_table(
        "console_conversation_facts",
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("intents", sa.String(length=1000), server_default=sa.text("''"), nullable=False),
        sa.Column("had_fallback", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("message_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("min_confidence", sa.Float(), nullable=True),
        sa.Column("avg_sentiment", sa.Float(), nullable=True),
        sa.Column("preview", sa.String(length=300), server_default=sa.text("''"), nullable=False),
        sa.Column("search_text", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("risk_base_cents", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_message_id", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_console_conversation_facts_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_console_conversation_facts")),
    )
    op.create_index("ix_console_facts_risk", "console_conversation_facts", ["risk_base_cents"])
    op.create_table(
        "console_customer_facts",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("spend_cents", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("order_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_order_at", UTCDateTime(), nullable=True),
        sa.Column("segment", sa.String(length=40), nullable=False),
        sa.Column("churn_risk", sa.Float(), nullable=False),
        sa.Column("clv_cents", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_console_customer_facts_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_console_customer_facts")),
    )
    op.create_index(
        op.f("ix_console_customer_facts_segment"), "console_customer_facts", ["segment"]
    )
    op.create_index(
        op.f("ix_console_customer_facts_churn_risk"), "console_customer_facts", ["churn_risk"]
    )
    op.create_table(
        "takeovers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=100), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_takeovers_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_takeovers")),
    )
    op.create_index(op.f("ix_takeovers_conversation_id"), "takeovers", ["conversation_id"])
    op.create_table(
        "console_state",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_console_state")),
    )


def downgrade() -> None:
    """Drop the console tables (and the run-time search structures)."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS console_search")
    op.drop_table("console_state")
    op.drop_index(op.f("ix_takeovers_conversation_id"), table_name="takeovers")
    op.drop_table("takeovers")
    op.drop_index(op.f("ix_console_customer_facts_churn_risk"), table_name="console_customer_facts")
    op.drop_index(op.f("ix_console_customer_facts_segment"), table_name="console_customer_facts")
    op.drop_table("console_customer_facts")
    op.drop_index("ix_console_facts_risk", table_name="console_conversation_facts")
    op.drop_table("console_conversation_facts")
    op.drop_table("intent_corrections")
    op.drop_index(op.f("ix_notes_customer_id"), table_name="notes")
    op.drop_index(op.f("ix_notes_conversation_id"), table_name="notes")
    op.drop_table("notes")
    op.drop_index(op.f("ix_conversation_tags_tag"), table_name="conversation_tags")
    op.drop_index(op.f("ix_conversation_tags_conversation_id"), table_name="conversation_tags")
    op.drop_table("conversation_tags")
    op.drop_table("console_users")
