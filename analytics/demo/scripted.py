"""The four scripted demo customers (``analytics.demo.customers``): the same for every seed.

* 王小明 (``cus_0001``): loyal tea subscriber, latest order in transit.
* Emily Carter (``cus_0002``): coffee subscriber, latest order delivered.
* 李娜 (``cus_0003``): high-spend VIP with late deliveries and complaints; her box is paused
  (lapsing, still cancellable).
* Tom Baker (``cus_0004``): signed up last week, no orders.

Their random details (tracking numbers, loyalty points, chat wording) come from their own
stream (``DEMO_RANDOM_STREAM``), and their order numbers are fixed
(``LB900000 + 100 * index + k``, the latest order being ``k = 1``).
"""

from __future__ import annotations

import logging
from datetime import datetime

from analytics.core.vocabulary import LANG_EN, LANG_ZH
from analytics.demo import customers as demo
from analytics.demo.conversations import INTENT_COMPLAIN, INTENT_REFUND, conversation
from analytics.demo.drafts import CustomerDraft, OrderDraft, RefundDraft, Sim, SubDraft
from analytics.demo.orders import ORDER_NUMBER_PREFIX, loyalty_points, tracking_number
from analytics.demo.people import customer_row
from analytics.demo.profiles import RENEWAL_DAYS, TYPE_COMPLAINER, TYPE_LOYAL, TYPE_NEW
from analytics.demo.refunds import REFUND_LATE, REFUND_REASONS
from analytics.demo.subscriptions import CANCEL_REASONS, REASON_DELIVERY
from analytics.store.models import (
    EVENT_PAUSE,
    EVENT_RENEW,
    EVENT_SKIP,
    EVENT_START,
    ORDER_DELIVERED,
    ORDER_SHIPPED,
    PLAN_COFFEE_BOX,
    PLAN_TEA_BOX,
    REFUND_APPROVED,
    SHIP_DELIVERED,
    SHIP_IN_TRANSIT,
    SOURCE_CHAT,
    SUB_PAUSED,
)

logger = logging.getLogger(__name__)

DEMO_CARRIER = "SF Express"
DEMO_ORDER_BASE = 900000
"""Demo order numbers are ``LB{DEMO_ORDER_BASE + 100 * index + k}``."""


def _line(sim: Sim, sku: str, qty: int = 1) -> tuple[str, int, int]:
    """An order line at list price."""
    return (sku, qty, sim.cat[sku].price_cents)


def _delivered_order(
    sim: Sim, created: datetime, items: list[tuple[str, int, int]], late_days: float = 0.0
) -> OrderDraft:
    """A delivered order (late by ``late_days`` beyond the usual 2 days in transit)."""
    d = sim.days
    shipped = created + d(0.6)
    delivered = shipped + d(2.0 + late_days)
    tracking = tracking_number(sim, DEMO_CARRIER)
    return OrderDraft(
        created, ORDER_DELIVERED, SHIP_DELIVERED, DEMO_CARRIER, tracking, shipped, delivered,
        created + d(4), items, delivered > created + d(4),
    )  # fmt: skip


def _box_history(
    sim: Sim, draft: CustomerDraft, sub: SubDraft, last: datetime, skip: int | None = None
) -> None:
    """Renew ``sub`` every ``RENEWAL_DAYS`` until ``last`` (a delivered order each time)."""
    at, k = sub.started_at, 0
    while at <= last:
        if k == skip:
            sub.events.append((EVENT_SKIP, at, None))
        else:
            sub.events.append((EVENT_RENEW, at, None))
            draft.orders.append(_delivered_order(sim, at, [(sub.plan, 1, sub.price_cents)]))
        at += sim.days(RENEWAL_DAYS)
        k += 1


def _start_box(sim: Sim, plan: str, started_at: datetime) -> SubDraft:
    """A box subscription at list price, with its start event."""
    sub = SubDraft(plan, started_at, sim.cat[plan].price_cents)
    sub.events.append((EVENT_START, sub.started_at, None))
    return sub


def _wang(sim: Sim, ref: datetime) -> CustomerDraft:
    """王小明: loyal tea subscriber, latest order in transit."""
    d = sim.days
    wang = CustomerDraft(
        1,
        TYPE_LOYAL,
        customer_row(
            1, demo.DEMO_NAMES[demo.DEMO_ZH], "wang.xiaoming@example.cn", "13800138000", LANG_ZH,
            "上海", ref - d(400), "referral", 1500,
        ),
    )  # fmt: skip
    for k, days_ago in enumerate(range(398, 40, -36)):
        skus = [("T01", "T08"), ("T06",), ("T01", "A02"), ("T08",)][k % 4]
        wang.orders.append(_delivered_order(sim, ref - d(days_ago), [_line(sim, s) for s in skus]))
    sub = _start_box(sim, PLAN_TEA_BOX, ref - d(300 - 0.4))
    _box_history(sim, wang, sub, ref - d(11), skip=4)
    sub.next_renewal_at = sub.started_at + d(RENEWAL_DAYS * 10)
    wang.subscriptions.append(sub)
    created = ref - d(2.1)
    wang.orders.append(
        OrderDraft(
            created, ORDER_SHIPPED, SHIP_IN_TRANSIT, DEMO_CARRIER, "SF1402398812764",
            created + d(0.5), None, ref + d(1.5), [_line(sim, "T01"), _line(sim, "T05")], False,
        )
    )  # fmt: skip
    return wang


def _emily(sim: Sim, ref: datetime) -> CustomerDraft:
    """Emily Carter: coffee subscriber, latest order delivered."""
    d = sim.days
    emily = CustomerDraft(
        2,
        TYPE_LOYAL,
        customer_row(
            2, demo.DEMO_NAMES[demo.DEMO_EN], "emily.carter@example.com", None, LANG_EN,
            "Shanghai", ref - d(250), "xiaohongshu", 6000,
        ),
    )  # fmt: skip
    for k, days_ago in enumerate(range(248, 30, -45)):
        skus = [("C02", "A01"), ("C07",), ("C02", "C01"), ("C07", "A03"), ("C02",)][k % 5]
        emily.orders.append(_delivered_order(sim, ref - d(days_ago), [_line(sim, s) for s in skus]))
    sub = _start_box(sim, PLAN_COFFEE_BOX, ref - d(220 - 0.3))
    _box_history(sim, emily, sub, ref - d(9))
    sub.next_renewal_at = sub.started_at + d(RENEWAL_DAYS * 8)
    emily.subscriptions.append(sub)
    emily.orders.append(
        _delivered_order(sim, ref - d(7.8), [_line(sim, "C07"), _line(sim, "C05", 2)])
    )
    return emily


def _lina(sim: Sim, ref: datetime) -> tuple[CustomerDraft, OrderDraft, OrderDraft]:
    """李娜: high-spend VIP, late deliveries and complaints, lapsing.

    Returns:
        Her draft, the earlier late order (refunded) and the latest (late) order.
    """
    d = sim.days
    lina = CustomerDraft(
        3,
        TYPE_COMPLAINER,
        customer_row(
            3, demo.DEMO_NAMES[demo.DEMO_VIP_AT_RISK], "li.na@example.cn", "13912345678",
            LANG_ZH, "北京", ref - d(600), "organic", 0,
        ),
    )  # fmt: skip
    baskets = [
        ("T05", 2, "T03", 1, "A02", 1),
        ("T03", 2, "T10", 2),
        ("T05", 3, "T01", 2),
        ("T10", 2, "T02", 2),
    ]
    for k, days_ago in enumerate(range(596, 70, -19)):
        b = baskets[k % len(baskets)]
        lines = [_line(sim, str(b[i]), int(b[i + 1])) for i in range(0, len(b), 2)]
        lina.orders.append(_delivered_order(sim, ref - d(days_ago), lines))
    earlier_late = _delivered_order(
        sim, ref - d(61), [_line(sim, "T05", 2), _line(sim, "T03", 2)], late_days=3.5
    )
    latest = _delivered_order(
        sim, ref - d(38), [_line(sim, "T05", 3), _line(sim, "T10", 2)], late_days=4.0
    )
    lina.orders += [earlier_late, latest]
    sub = _start_box(sim, PLAN_TEA_BOX, ref - d(210))
    _box_history(sim, lina, sub, ref - d(45))
    # After two late deliveries she paused the box (lapsing, still cancellable).
    sub.status = SUB_PAUSED
    sub.paused_until = ref + d(28)
    sub.next_renewal_at = None
    sub.events.append((EVENT_PAUSE, ref - d(32), CANCEL_REASONS[REASON_DELIVERY][0]))
    lina.subscriptions.append(sub)
    lina.refunds.append(
        RefundDraft(
            earlier_late, REFUND_REASONS[REFUND_LATE][0], REFUND_APPROVED, SOURCE_CHAT, ref - d(55)
        )
    )
    return lina, earlier_late, latest


def _tom(sim: Sim, ref: datetime) -> CustomerDraft:
    """Tom Baker: signed up last week, no orders."""
    return CustomerDraft(
        4,
        TYPE_NEW,
        customer_row(
            4, demo.DEMO_NAMES[demo.DEMO_NEW], "tom.baker@example.com", None, LANG_EN,
            "Shenzhen", ref - sim.days(5), "search_ads", 8000,
        ),
    )  # fmt: skip


def demo_customers(sim: Sim, ref: datetime) -> list[CustomerDraft]:
    """Script the four demo customers (their story does not depend on the seed).

    Args:
        sim: The demo customers' own stream (seeded with ``DEMO_RANDOM_STREAM``).
        ref: The reference date (end of history).

    Returns:
        Their drafts, ids 1 to 4, with numbered orders (order ids come later, with all
        orders).
    """
    wang = _wang(sim, ref)
    emily = _emily(sim, ref)
    lina, earlier_late, latest = _lina(sim, ref)
    for draft in (wang, emily, lina):
        draft.row["points"] = loyalty_points(sim, draft.orders)
        draft.orders.sort(key=lambda o: o.created_at)
        for j, order in enumerate(reversed(draft.orders), start=1):
            order.number = f"{ORDER_NUMBER_PREFIX}{DEMO_ORDER_BASE + draft.index * 100 + j}"
    d = sim.days
    lina.conversations.append(
        conversation(sim, "hist-cus_0003-1", INTENT_REFUND, ref - d(55), earlier_late, LANG_ZH)
    )
    lina.conversations.append(
        conversation(
            sim, "hist-cus_0003-2", INTENT_COMPLAIN, ref - d(31), latest, LANG_ZH, handoff=True
        )
    )
    lina.churned_at = ref - d(32)
    return [wang, emily, lina, _tom(sim, ref)]
