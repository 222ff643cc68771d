"""The inbox's sort key: revenue at risk of a conversation, in cents.

``console_conversation_facts.risk_cents`` = customer value x churn risk x "unresolved"
weight (:data:`WEIGHT_OPEN`, :data:`WEIGHT_UNREVIEWED`, :data:`WEIGHT_DONE` percent), with
its inputs ``risk_base_cents`` and a copy of ``last_message_at``, so the inbox sorts by an
index. Written here when conversations are summarised or customers re-valued; a database
trigger on ``conversations`` (migration ``0400_console_speed``, same rule) keeps it current
when any writer changes a conversation's status, hand-off, reviewed mark or customer.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from web.console.facts.common import chunks

WEIGHT_OPEN = 100
"""Weight (percent) of an open conversation, or an unreviewed hand-off request."""
WEIGHT_UNREVIEWED = 25
"""Weight (percent) of a resolved conversation nobody has reviewed."""
WEIGHT_DONE = 5
"""Weight (percent) of a resolved, reviewed conversation."""

WEIGHT_SQL = (
    "(CASE WHEN c.status = 'open' OR (c.needs_handoff AND NOT c.reviewed)"
    f" THEN {WEIGHT_OPEN} WHEN NOT c.reviewed THEN {WEIGHT_UNREVIEWED} ELSE {WEIGHT_DONE} END)"
)
"""The "unresolved" weight in percent (same rule as the trigger of migration 0400)."""

_BASE_SQL = (
    "COALESCE((SELECT CAST(cf.clv_cents * cf.churn_risk AS INTEGER)"
    " FROM conversations c JOIN console_customer_facts cf ON cf.customer_id = c.customer_id"
    " WHERE c.id = console_conversation_facts.conversation_id), 0)"
)
_RISK_SQL = (
    "COALESCE((SELECT CAST(cf.clv_cents * cf.churn_risk AS BIGINT) * "
    + WEIGHT_SQL
    + " / 100 FROM conversations c JOIN console_customer_facts cf"
    " ON cf.customer_id = c.customer_id"
    " WHERE c.id = console_conversation_facts.conversation_id), 0)"
)
_LAST_AT_SQL = (
    "(SELECT c.last_message_at FROM conversations c"
    " WHERE c.id = console_conversation_facts.conversation_id)"
)
UPDATE_RISK_SQL = (
    f"UPDATE console_conversation_facts SET risk_base_cents = {_BASE_SQL},"
    f" risk_cents = {_RISK_SQL}, last_message_at = {_LAST_AT_SQL}"
)


def update_risk(
    db: Session,
    *,
    conversation_ids: Sequence[int] | None = None,
    customer_ids: Sequence[int] | None = None,
) -> None:
    """Recomputes ``risk_cents`` (and its inputs) of some facts rows from the store.

    Args:
        db: A session on the store (not committed here).
        conversation_ids: These conversations.
        customer_ids: Every conversation of these customers.
    """
    for chunk in chunks(list(conversation_ids or ()), 500):
        ids = ",".join(str(int(i)) for i in chunk)
        db.execute(text(f"{UPDATE_RISK_SQL} WHERE conversation_id IN ({ids})"))
    for chunk in chunks(list(customer_ids or ()), 200):
        ids = ",".join(str(int(i)) for i in chunk)
        db.execute(
            text(
                f"{UPDATE_RISK_SQL} WHERE conversation_id IN"
                f" (SELECT id FROM conversations WHERE customer_id IN ({ids}))"
            )
        )
