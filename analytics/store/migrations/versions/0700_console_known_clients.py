"""console known clients: addresses the founder signed in from recently.

Revision ID: 0700_console_known_clients
Revises: 0600_console_security
Create Date: 2026-12-04

* ``console_known_clients``: one row per (user, client address) that signed in
  successfully, stored only as a keyed hash (HMAC-SHA256 with ``SESSION_SECRET`` of
  ``known:<user>|<address>``, IPv6 by /64) with the Unix time of the last successful login.
  For 30 days such an address skips the login throttle's per-username counter, so a
  distributed guess at the account cannot lock the founder out (the per user + address
  and per address counters still apply).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0700_console_known_clients"
down_revision: str | Sequence[str] | None = "0600_console_security"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the known-clients table."""
    op.create_table(
        "console_known_clients",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("last_login_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_console_known_clients")),
    )
    op.create_index(
        op.f("ix_console_known_clients_last_login_at"), "console_known_clients", ["last_login_at"]
    )


def downgrade() -> None:
    """Drop what :func:`upgrade` created."""
    op.drop_index(
        op.f("ix_console_known_clients_last_login_at"), table_name="console_known_clients"
    )
    op.drop_table("console_known_clients")
