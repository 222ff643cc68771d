"""The purchase, subscription and churn process of one random customer.

Churn is a real latent process: after every order the customer may stop buying (and
cancel any subscription) with a type-dependent hazard that grows with the number of
orders and with bad experiences (late delivery, refund).
"""

from __future__ import annotations

import logging
from datetime import datetime

from analytics.core.vocabulary import LANG_ZH
from analytics.demo.drafts import CustomerDraft, OrderDraft, Sim, SubDraft
from analytics.demo.orders import loyalty_points, make_order, pick_items
from analytics.demo.profiles import (
    CLUSTERS,
    COFFEE_CLUSTER_WEIGHTS,
    COFFEE_CLUSTERS,
    TEA_CLUSTER_WEIGHTS,
    TEA_CLUSTERS,
    TYPE_COMPLAINER,
    TYPE_NEW,
    TypeProfile,
)
from analytics.demo.refunds import add_refund
from analytics.demo.subscriptions import (
    close_subscription,
    renew_subscription,
    start_subscription,
)
from analytics.store.models import (
    CATEGORY_COFFEE,
    CATEGORY_TEA,
    ORDER_REFUNDED,
    PLAN_COFFEE_BOX,
    PLAN_TEA_BOX,
    REFUND_APPROVED,
    REFUND_OPEN,
    REFUND_REJECTED,
)

logger = logging.getLogger(__name__)

BOTH_CATEGORIES = "both"
DISCOUNTS = (0.1, 0.15, 0.2, 0.3)


def _taste(sim: Sim, language: str) -> tuple[str, str | None, str]:
    """Draw the customer's taste clusters and the box that matches the main one.

    Returns:
        The primary cluster, a secondary one (or ``None``) and the box SKU.
    """
    primary_cat = sim.weighted(
        (CATEGORY_TEA, CATEGORY_COFFEE, BOTH_CATEGORIES),
        (0.65, 0.25, 0.10) if language == LANG_ZH else (0.3, 0.55, 0.15),
    )
    tea = sim.weighted(TEA_CLUSTERS, TEA_CLUSTER_WEIGHTS)
    coffee = sim.weighted(COFFEE_CLUSTERS, COFFEE_CLUSTER_WEIGHTS)
    secondary: str | None
    if primary_cat == CATEGORY_TEA:
        primary, secondary = tea, None
    elif primary_cat == CATEGORY_COFFEE:
        primary, secondary = coffee, None
    else:
        primary, secondary = (tea, coffee) if sim.rng.random() < 0.5 else (coffee, tea)
    plan = PLAN_TEA_BOX if CLUSTERS[primary][0] == CATEGORY_TEA else PLAN_COFFEE_BOX
    return primary, secondary, plan


def simulate(sim: Sim, draft: CustomerDraft, profile: TypeProfile, language: str) -> None:
    """Run the purchase / subscription / churn process of one customer.

    Fills the customer's orders, subscriptions and refunds, its latent ``churn_at``, its
    ``churned_at`` (if before the reference date) and its loyalty points.

    Args:
        sim: The customer's random stream.
        draft: The customer (its row's ``created_at`` is the signup).
        profile: The profile of its latent type.
        language: The customer's language.
    """
    rng = sim.rng
    ctype = draft.ctype
    created: datetime = draft.row["created_at"]
    primary, secondary, plan = _taste(sim, language)

    if ctype == TYPE_NEW and rng.random() < 0.35:
        return  # signed up, has not ordered yet
    speed = rng.lognormvariate(0.0, 0.3)
    gap = profile.gap_days * speed
    wants_sub = rng.random() < profile.subscribe_prob
    sub_after = 1 if rng.random() < 0.4 else 2
    bought: set[str] = set()
    sub: SubDraft | None = None
    next_adhoc = created + sim.days(rng.uniform(0.05, 3.0))
    next_renew: datetime | None = None
    n_orders = 0
    churn_at: datetime | None = None
    while True:
        renew_first = next_renew is not None and next_renew <= next_adhoc
        at = next_renew if renew_first and next_renew is not None else next_adhoc
        if at > sim.ref:
            break
        order: OrderDraft | None = None
        if renew_first and sub is not None and next_renew is not None:
            order, next_renew = renew_subscription(sim, sub, at, profile, ctype, language)
            if next_renew is None:
                sub = None  # cancelled on its own
        else:
            discount = 0.0
            if rng.random() < profile.discount_prob:
                discount = rng.choice(DISCOUNTS)
            late = rng.random() < profile.late_prob
            refund_p = profile.refund_prob * (3.0 if late else 1.0)
            order = make_order(
                sim,
                at,
                pick_items(sim, primary, secondary, discount, bought),
                late=late,
                refund=rng.random() < refund_p,
                cancel=rng.random() < 0.02,
            )
            next_adhoc = at + sim.days(max(2.0, rng.gammavariate(2.0, gap / 2.0)))
            gap *= profile.gap_growth
            if sub is not None:
                next_adhoc += sim.days(gap * 0.6)
        if order is None:
            continue
        draft.orders.append(order)
        n_orders += 1
        if order.status == ORDER_REFUNDED and order.delivered_at is not None:
            add_refund(sim, draft, order, language, REFUND_APPROVED)
        elif order.late and rng.random() < (0.5 if ctype == TYPE_COMPLAINER else 0.1):
            recent = sim.ref - at < sim.days(14)
            add_refund(sim, draft, order, language, REFUND_OPEN if recent else REFUND_REJECTED)
        if wants_sub and sub is None and n_orders >= sub_after and not draft.subscriptions:
            sub = start_subscription(sim, draft, plan, at)
            if sub is not None:
                next_renew = sub.started_at
        hazard = profile.hazard + profile.hazard_growth * (n_orders - 1)
        if order.bad:
            hazard += profile.bad_bump
        if sub is not None and order.items[0][0] == plan:
            hazard *= 0.5  # monthly draws, not per purchase
        if rng.random() < hazard:
            churn_at = at + sim.days(rng.uniform(3, 25))
            break
    if sub is not None:
        close_subscription(sim, sub, churn_at, next_renew, ctype, language)
    draft.churn_at = churn_at
    draft.churned_at = churn_at if churn_at is not None and churn_at <= sim.ref else None
    draft.row["points"] = loyalty_points(sim, draft.orders)
