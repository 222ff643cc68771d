"""which knowledge passage answered which question (filled by the knowledge work).

Revision ID: 0800_knowledge_answers
Revises: 0700_console_known_clients
Create Date: 2026-12-03
"""

from collections.abc import Sequence

revision: str = "0800_knowledge_answers"
down_revision: str | Sequence[str] | None = "0700_console_known_clients"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing yet."""


def downgrade() -> None:
    """Nothing yet."""
