"""ingest hardening: dead letters, id gaps, per-message customer.

Revision ID: 0500_ingest_hardening
Revises: 0400_console_speed
Create Date: 2026-12-03

* ``ingest_dead_letters``: events the worker could not process (redacted payload, error).
* ``ingest_gaps``: event ids the SQL poller still waits for (a slow transaction's events).
* ``messages.customer_id``: the customer verified on that very message (a conversation is
  never re-homed to its last verified speaker).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from analytics.store.models import UTCDateTime

revision: str = "0500_ingest_hardening"
down_revision: str | Sequence[str] | None = "0400_console_speed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the dead-letter and gap tables; add ``messages.customer_id``."""
    op.create_table(
        "ingest_dead_letters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=True),
        sa.Column("event_key", sa.String(length=255), nullable=True),
        sa.Column("sender_id", sa.String(length=255), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_dead_letters")),
    )
    op.create_index(
        "ix_ingest_dead_letters_created_at", "ingest_dead_letters", ["created_at"], unique=False
    )
    op.create_table(
        "ingest_gaps",
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("event_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.Column("snapshot_xmax", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("source", "event_id", name=op.f("pk_ingest_gaps")),
    )
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("customer_id", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_messages_customer_id"), ["customer_id"], unique=False)
        batch.create_foreign_key(
            batch.f("fk_messages_customer_id_customers"),
            "customers",
            ["customer_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    """Drop what :func:`upgrade` created."""
    with op.batch_alter_table("messages") as batch:
        batch.drop_constraint(batch.f("fk_messages_customer_id_customers"), type_="foreignkey")
        batch.drop_index(batch.f("ix_messages_customer_id"))
        batch.drop_column("customer_id")
    op.drop_table("ingest_gaps")
    op.drop_index("ix_ingest_dead_letters_created_at", table_name="ingest_dead_letters")
    op.drop_table("ingest_dead_letters")
