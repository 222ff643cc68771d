"""console speed: stored revenue-at-risk sort key, intent index table, triggers.

Revision ID: 0400_console_speed
Revises: 0300_conversation_loop
Create Date: 2026-11-22

* ``console_conversation_facts`` gets ``risk_cents`` (customer value x churn risk x the
  conversation's "unresolved" weight: 100 % when open or an unreviewed hand-off, 25 % when
  resolved but not reviewed, 5 % when reviewed) and a copy of ``last_message_at``, indexed
  together as the inbox's default order; a second index serves "most recent".
* ``console_conversation_intents`` (intent, conversation) serves the intent filter.
* ``ix_console_conversations_handoff`` on ``conversations`` (needs_handoff, status,
  last_message_at) serves the open hand-off requests listed and polled by the console.
* A trigger on ``conversations`` keeps ``risk_cents``, ``risk_base_cents`` and
  ``last_message_at`` of the facts row current whenever any writer (ingest worker, action
  server, widget rating, console) changes status, hand-off, reviewed, customer or last
  message time. The SQL is spelled out here on purpose (self-contained revision).
* The facts watermark is reset so that the console rebuilds its summaries (in the
  background, in chunks) with the new columns.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from analytics.store.models import UTCDateTime

revision: str = "0400_console_speed"
down_revision: str | Sequence[str] | None = "0300_conversation_loop"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRIGGER = "trg_console_facts_conversation"
PG_FUNCTION = "console_facts_from_conversation"
WATCHED = "status, needs_handoff, reviewed, customer_id, last_message_at"
WEIGHT = (
    "(CASE WHEN NEW.status = 'open' OR (NEW.needs_handoff AND NOT NEW.reviewed) THEN 100"
    " WHEN NOT NEW.reviewed THEN 25 ELSE 5 END)"
)
BASE = (
    "COALESCE((SELECT CAST(cf.clv_cents * cf.churn_risk AS BIGINT)"
    " FROM console_customer_facts cf WHERE cf.customer_id = NEW.customer_id), 0)"
)

SQLITE_TRIGGER = f"""
CREATE TRIGGER {TRIGGER} AFTER UPDATE OF {WATCHED} ON conversations
FOR EACH ROW BEGIN
  UPDATE console_conversation_facts SET
    risk_base_cents = {BASE},
    risk_cents = {BASE} * {WEIGHT} / 100,
    last_message_at = NEW.last_message_at
  WHERE conversation_id = NEW.id;
END
"""

PG_TRIGGER_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE base bigint;
BEGIN
  base := {BASE};
  UPDATE console_conversation_facts SET
    risk_base_cents = base,
    risk_cents = base * {WEIGHT} / 100,
    last_message_at = NEW.last_message_at
  WHERE conversation_id = NEW.id;
  RETURN NULL;
END
$$
"""

PG_TRIGGER = (
    f"CREATE TRIGGER {TRIGGER} AFTER UPDATE OF {WATCHED} ON conversations "
    f"FOR EACH ROW EXECUTE FUNCTION {PG_FUNCTION}()"
)


def upgrade() -> None:
    """Add the sort key, the intent table and the trigger."""
    with op.batch_alter_table("console_conversation_facts") as batch:
        batch.add_column(
            sa.Column("risk_cents", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
        batch.add_column(sa.Column("last_message_at", UTCDateTime(), nullable=True))
        batch.drop_index("ix_console_facts_risk")
        batch.create_index(
            "ix_console_facts_order", ["risk_cents", "last_message_at", "conversation_id"]
        )
        batch.create_index("ix_console_facts_recent", ["last_message_at", "conversation_id"])
    op.create_table(
        "console_conversation_intents",
        sa.Column("intent", sa.String(length=100), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_console_conversation_intents_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "intent", "conversation_id", name=op.f("pk_console_conversation_intents")
        ),
    )
    op.create_index(
        op.f("ix_console_conversation_intents_conversation_id"),
        "console_conversation_intents",
        ["conversation_id"],
    )
    op.create_index(
        "ix_console_conversations_handoff",
        "conversations",
        ["needs_handoff", "status", "last_message_at"],
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_TRIGGER_FUNCTION)
        op.execute(PG_TRIGGER)
    else:
        op.execute(SQLITE_TRIGGER)
    op.execute("DELETE FROM console_state WHERE key = 'facts_message_id'")


def downgrade() -> None:
    """Drop the trigger, the intent table and the sort key."""
    op.execute(
        f"DROP TRIGGER IF EXISTS {TRIGGER}"
        + (" ON conversations" if op.get_bind().dialect.name == "postgresql" else "")
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {PG_FUNCTION}()")
    op.drop_index("ix_console_conversations_handoff", table_name="conversations")
    op.drop_index(
        op.f("ix_console_conversation_intents_conversation_id"),
        table_name="console_conversation_intents",
    )
    op.drop_table("console_conversation_intents")
    with op.batch_alter_table("console_conversation_facts") as batch:
        batch.drop_index("ix_console_facts_recent")
        batch.drop_index("ix_console_facts_order")
        batch.create_index("ix_console_facts_risk", ["risk_base_cents"])
        batch.drop_column("last_message_at")
        batch.drop_column("risk_cents")
    op.execute("DELETE FROM console_state WHERE key = 'facts_message_id'")
