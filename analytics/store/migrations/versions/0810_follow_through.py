"""applied retention offers and the founder's decisions on refund and data requests (filled by the follow-through work).

Revision ID: 0810_follow_through
Revises: 0800_knowledge_answers
Create Date: 2026-12-03
"""

from collections.abc import Sequence

revision: str = "0810_follow_through"
down_revision: str | Sequence[str] | None = "0800_knowledge_answers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing yet."""


def downgrade() -> None:
    """Nothing yet."""
