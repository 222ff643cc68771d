"""Refund requests of the demo shop: after late deliveries and bad products."""

from __future__ import annotations

import logging

from analytics.core.vocabulary import LANG_ZH
from analytics.demo.drafts import CustomerDraft, OrderDraft, RefundDraft, Sim
from analytics.store.models import SOURCE_CHAT, SOURCE_EMAIL

logger = logging.getLogger(__name__)

REFUND_LATE = "late"
REFUND_REASONS: dict[str, tuple[str, str]] = {
    REFUND_LATE: ("快递太慢了，超过预计时间好几天", "The parcel arrived days after the estimate"),
    "damaged": ("包装破损，茶叶撒了", "The package arrived damaged"),
    "taste": ("味道和描述不一样", "It doesn't taste like the description"),
    "wrong": ("发错货了", "I received the wrong item"),
}
"""Reason key -> (zh, en) text of the request."""
OTHER_REASONS = ("damaged", "taste", "wrong")
"""The reasons of a refund about an order that was not late."""


def add_refund(
    sim: Sim, draft: CustomerDraft, order: OrderDraft, language: str, status: str
) -> None:
    """Append a refund request about ``order`` to the customer's refunds.

    It is filed shortly after delivery (or the estimated delivery), at the latest just
    before the reference date; a late order's reason is the delay.

    Args:
        sim: The customer's random stream.
        draft: The customer.
        order: The order the request is about.
        language: The customer's language (``zh`` or ``en``).
        status: The request's status.
    """
    base = order.delivered_at or order.estimated_delivery
    created = min(base + sim.days(sim.rng.uniform(0.2, 4.0)), sim.ref - sim.days(0.01))
    if order.late:
        key = REFUND_LATE
    else:
        key = sim.rng.choice(OTHER_REASONS)
    draft.refunds.append(
        RefundDraft(
            order=order,
            reason=REFUND_REASONS[key][0 if language == LANG_ZH else 1],
            status=status,
            source=SOURCE_CHAT if sim.rng.random() < 0.5 else SOURCE_EMAIL,
            created_at=created,
        )
    )
