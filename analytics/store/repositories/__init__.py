"""Data functions called by the action server, the web app and the ingest worker.

One module per aggregate: :mod:`.customers`, :mod:`.orders` (with the best sellers),
:mod:`.subscriptions`, :mod:`.refunds`, :mod:`.conversations` (the one writer of
conversation rows) and :mod:`.messages`. This package re-exports their public functions, so
``from analytics.store import repositories as repo`` then ``repo.get_customer(...)`` works.

Every function takes a :class:`~sqlalchemy.orm.Session` first. The caller owns the session
lifecycle and the commit; functions that write only ``flush`` so that ids are assigned and
constraint errors surface early. Queries use ``select()`` only.
"""

from analytics.store.repositories.conversations import (
    ConversationActivity,
    find_conversations,
    flag_handoffs,
    mark_handoff,
    note_message,
    rate_conversation,
    record_activity,
    set_reviewed,
    set_status,
    take_over,
    upsert_conversation,
)
from analytics.store.repositories.customers import get_customer
from analytics.store.repositories.messages import MessageRow, add_message, insert_messages
from analytics.store.repositories.orders import (
    best_sellers,
    get_order,
    latest_order,
    normalize_order_number,
)
from analytics.store.repositories.refunds import create_refund_request
from analytics.store.repositories.subscriptions import (
    cancel_subscription,
    current_subscription,
    pause_subscription,
    resume_subscription,
)

__all__ = [
    "ConversationActivity",
    "MessageRow",
    "add_message",
    "best_sellers",
    "cancel_subscription",
    "create_refund_request",
    "current_subscription",
    "find_conversations",
    "flag_handoffs",
    "get_customer",
    "get_order",
    "insert_messages",
    "latest_order",
    "mark_handoff",
    "normalize_order_number",
    "note_message",
    "pause_subscription",
    "rate_conversation",
    "record_activity",
    "resume_subscription",
    "set_reviewed",
    "set_status",
    "take_over",
    "upsert_conversation",
]
