"""console security: server-side sessions and the login throttle.

Revision ID: 0600_console_security
Revises: 0500_ingest_hardening
Create Date: 2026-12-03

* ``console_sessions``: one row per signed-in browser (SHA-256 of the cookie's random id,
  user, CSRF token, language, expiry); logout and password changes delete rows.
* ``console_login_attempts``: per throttle key (SHA-256 of ``pair:<ip>|<user>``,
  ``ip:<ip>`` or ``user:<user>``) the current one-minute window and its attempt count,
  changed only by single conditional statements so that concurrent logins cannot pass it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from analytics.store.models import UTCDateTime

revision: str = "0600_console_security"
down_revision: str | Sequence[str] | None = "0500_ingest_hardening"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the session and login-attempt tables."""
    op.create_table(
        "console_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["console_users.id"],
            name=op.f("fk_console_sessions_user_id_console_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_console_sessions")),
    )
    op.create_index(op.f("ix_console_sessions_user_id"), "console_sessions", ["user_id"])
    op.create_index(op.f("ix_console_sessions_expires_at"), "console_sessions", ["expires_at"])
    op.create_table(
        "console_login_attempts",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_console_login_attempts")),
    )


def downgrade() -> None:
    """Drop what :func:`upgrade` created."""
    op.drop_table("console_login_attempts")
    op.drop_index(op.f("ix_console_sessions_expires_at"), table_name="console_sessions")
    op.drop_index(op.f("ix_console_sessions_user_id"), table_name="console_sessions")
    op.drop_table("console_sessions")
