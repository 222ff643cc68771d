"""Data functions called by the action server, the web app and the ingest worker.

One module per aggregate: :mod:`.customers`, :mod:`.orders` (with the best sellers),
:mod:`.subscriptions`, :mod:`.refunds`, :mod:`.requests` (changes made in chat), :mod:`.conversations` (the one writer of
conversation rows), :mod:`.messages` and :mod:`.alerts` (founder alerts). This package
re-exports their public functions, so
``from analytics.store import repositories as repo`` then ``repo.get_customer(...)`` works.

Every function takes a :class:`~sqlalchemy.orm.Session` first. The caller owns the session
lifecycle and the commit; functions that write only ``flush`` so that ids are assigned and
constraint errors surface early. Queries use ``select()`` only.
"""

from analytics.store.repositories.alerts import (
    alert_by_platform_message,
    alert_by_ref,
    alerts_of_conversation,
)
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
from analytics.store.repositories.refunds import (
    AlreadyDecidedError,
    create_refund_request,
    decide_refund,
    mark_refund_notified,
    refund_requests_of,
)
from analytics.store.repositories.requests import (
    decide_change,
    mark_change_notified,
    record_change,
)
from analytics.store.repositories.subscriptions import (
    active_discount,
    apply_discount,
    cancel_subscription,
    current_subscription,
    pause_subscription,
    price_for_renewal,
    renew_subscription,
    resume_subscription,
    running_discount,
)

__all__ = [
    "AlreadyDecidedError",
    "ConversationActivity",
    "MessageRow",
    "active_discount",
    "add_message",
    "alert_by_platform_message",
    "alert_by_ref",
    "alerts_of_conversation",
    "apply_discount",
    "best_sellers",
    "cancel_subscription",
    "create_refund_request",
    "current_subscription",
    "decide_change",
    "decide_refund",
    "find_conversations",
    "flag_handoffs",
    "get_customer",
    "get_order",
    "insert_messages",
    "latest_order",
    "mark_change_notified",
    "mark_handoff",
    "mark_refund_notified",
    "normalize_order_number",
    "note_message",
    "pause_subscription",
    "price_for_renewal",
    "rate_conversation",
    "record_activity",
    "record_change",
    "refund_requests_of",
    "renew_subscription",
    "resume_subscription",
    "running_discount",
    "set_reviewed",
    "set_status",
    "take_over",
    "upsert_conversation",
]
