"""customers' photos attached in the widget (filled by the photo work).

Revision ID: 0820_attachments
Revises: 0810_follow_through
Create Date: 2026-12-03
"""

from collections.abc import Sequence

revision: str = "0820_attachments"
down_revision: str | Sequence[str] | None = "0810_follow_through"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing yet."""


def downgrade() -> None:
    """Nothing yet."""
