"""Wobble chats: what a customer says before leaving (and, as noise, while staying).

Customers who are about to leave often say so first, as in real life: a share of the
churners (``PRECHURN_CHAT_PROB``) have one to three chats 10-75 days before they stop
(asking for discounts or cheaper options, complaining about price or quality, asking to
pause or cancel, asking again and again where their order is, low ratings, negative
sentiment), themed by their latent reason for leaving. Customers who stay have the same
kind of chats at a lower rate (``WOBBLE_PER_90_DAYS``), so chat behaviour is a signal of
churn, not a leak. These chats are not tied to late orders or refunds, which the store
features already carry.
"""

from __future__ import annotations

import logging
from datetime import datetime

from analytics.core.vocabulary import LANG_ZH
from analytics.demo.conversations import (
    HANDOFF_COMPLAINT,
    INTENT_CANCEL,
    INTENT_COMPLAIN,
    INTENT_GREET,
    INTENT_ORDER_STATUS,
    INTENT_PAUSE,
    INTENT_PRICING,
    INTENT_SHIPPING,
    INTENT_THANK,
    SENTIMENT,
    USER_TEXT,
    exchange,
)
from analytics.demo.drafts import ConversationDraft, CustomerDraft, MessageDraft, Sim
from analytics.demo.profiles import (
    TYPE_BARGAIN,
    TYPE_COMPLAINER,
    TYPE_LAPSING,
    TYPE_LOYAL,
    TYPE_NEW,
)
from analytics.demo.subscriptions import (
    CANCEL_REASON_WEIGHTS,
    CANCEL_REASONS,
    REASON_DELIVERY,
)
from analytics.store.models import CHANNEL_WEB, CONV_OPEN, CONV_RESOLVED

logger = logging.getLogger(__name__)

# theme: (intent, sentiment of the main message, (zh, en) texts). Not tied to a late order
# or a refund; {product} is a product the customer bought.

THEME_DISCOUNT = "discount"
THEME_PRICE = "price_complaint"
THEME_QUALITY = "quality"
THEME_DELIVERY = "delivery_complaint"
THEME_PAUSE = "pause"
THEME_CANCEL = "cancel"
THEME_STATUS = "status"
THEME_MOVING = "moving"
MOOD_THEMES: dict[str, tuple[str, float, tuple[tuple[str, str], ...]]] = {
    THEME_DISCOUNT: (
        INTENT_PRICING,
        -0.35,
        (
            ("有优惠券吗？最近觉得有点贵", "Do you have any discount codes? It's getting pricey"),
            ("有没有比{product}便宜一点的？", "Is there anything cheaper than the {product}?"),
            ("老顾客有折扣吗？", "Is there a discount for regular customers?"),
        ),
    ),
    THEME_PRICE: (
        INTENT_COMPLAIN,
        -0.6,
        (
            ("{product}又涨价了，太贵了", "The {product} went up again, it's too expensive"),
            ("别家同样的东西便宜不少", "Other shops sell the same thing for a lot less"),
        ),
    ),
    THEME_QUALITY: (
        INTENT_COMPLAIN,
        -0.7,
        (
            ("最近几次的{product}品质不如以前", "The {product} hasn't been as good lately"),
            ("这批{product}味道淡了很多，有点失望", "This batch of {product} tastes much weaker"),
        ),
    ),
    THEME_DELIVERY: (
        INTENT_COMPLAIN,
        -0.6,
        (("每次配送都很慢，有点失望", "Deliveries always take so long, a bit disappointed"),),
    ),
    THEME_PAUSE: (
        INTENT_PAUSE,
        -0.15,
        (
            ("家里还有很多，能先暂停吗？", "I still have plenty at home, can I pause for a while?"),
            ("先暂停一下订阅", "Please pause my subscription for a while"),
        ),
    ),
    THEME_CANCEL: (
        INTENT_CANCEL,
        -0.4,
        (
            ("不想继续订阅的话怎么取消？", "How do I cancel if I don't want the box any more?"),
            ("我想取消订阅", "I want to cancel my subscription"),
        ),
    ),
    THEME_STATUS: (INTENT_ORDER_STATUS, -0.35, USER_TEXT[INTENT_ORDER_STATUS]),
    THEME_MOVING: (
        INTENT_SHIPPING,
        -0.05,
        (("要搬家了，能寄到国外吗？", "I'm moving abroad, do you ship there?"),),
    ),
}
SUBSCRIBER_THEMES = frozenset((THEME_PAUSE, THEME_CANCEL))
"""Themes only a customer with a subscription brings up."""
REASON_THEMES: dict[str, dict[str, float]] = {
    # latent reason for leaving (CANCEL_REASONS key) -> chat themes
    "price": {THEME_DISCOUNT: 0.5, THEME_PRICE: 0.3, THEME_CANCEL: 0.2},
    "too_much": {THEME_PAUSE: 0.5, THEME_DISCOUNT: 0.2, THEME_CANCEL: 0.3},
    "delivery": {THEME_STATUS: 0.5, THEME_DELIVERY: 0.3, THEME_CANCEL: 0.2},
    "quality": {THEME_QUALITY: 0.7, THEME_CANCEL: 0.15, THEME_DISCOUNT: 0.15},
    "moving": {THEME_MOVING: 0.6, THEME_PAUSE: 0.2, THEME_CANCEL: 0.2},
    "switching": {THEME_PRICE: 0.35, THEME_DISCOUNT: 0.3, THEME_QUALITY: 0.2, THEME_CANCEL: 0.15},
}
PRECHURN_CHAT_PROB: dict[str, float] = {
    # share of the churners who show it in chat before they stop
    TYPE_LOYAL: 0.5,
    TYPE_LAPSING: 0.5,
    TYPE_COMPLAINER: 0.6,
    TYPE_BARGAIN: 0.4,
    TYPE_NEW: 0.45,
}
PRECHURN_DAYS = (10.0, 75.0)
"""The first wobble chat falls this many days before the churn time."""
WOBBLE_PER_90_DAYS = 0.07
"""Chance of a wobble episode in each 90 days of a customer's active life (noise)."""


def wobble_conversations(sim: Sim, draft: CustomerDraft, language: str) -> None:
    """Add the chats in which a customer shows doubts: before churn, and as noise.

    A churner (latent ``churn_at``, also after the reference) shows it with the
    probability of its type: an episode of one to three chats starting 10-75 days before
    the churn time, themed by the reason for leaving. Every customer also has a
    ``WOBBLE_PER_90_DAYS`` chance of an episode in each 90 days of active life.

    Args:
        sim: The customer's "mood" stream.
        draft: The customer, after its orders and historical conversations.
        language: The customer's language.
    """
    rng = sim.rng
    created: datetime = draft.row["created_at"]
    if not draft.orders:
        return
    reason = leave_reason(sim, draft)
    end = min(draft.churn_at or sim.ref, sim.ref)
    episodes: list[tuple[datetime, datetime, int]] = []  # start, latest end, chats
    block = created
    while block < end:
        if rng.random() < WOBBLE_PER_90_DAYS:
            at = block + sim.days(rng.uniform(0, 90))
            if at < end:
                episodes.append((at, end, 1 if rng.random() < 0.75 else 2))
        block += sim.days(90)
    if draft.churn_at is not None and rng.random() < PRECHURN_CHAT_PROB[draft.ctype]:
        at = draft.churn_at - sim.days(rng.uniform(*PRECHURN_DAYS))
        at = max(at, created + sim.days(0.5))
        n = rng.choices((1, 2, 3), weights=(0.5, 0.35, 0.15), k=1)[0]
        episodes.append((at, draft.churn_at - sim.days(1), n))
    k = len(draft.conversations)
    for start, latest, n in sorted(episodes, key=lambda e: e[0]):
        at = start
        for _ in range(n):
            if at >= min(latest, sim.ref - sim.days(0.05)):
                break
            k += 1
            sender = f"hist-{draft.row['external_id']}-{k}"
            theme = pick_theme(sim, draft, reason, at)
            draft.conversations.append(wobble_chat(sim, sender, theme, at, draft, language))
            at += sim.days(rng.uniform(1, 14) if theme != THEME_STATUS else rng.uniform(1, 3))
            if theme == THEME_STATUS:
                reason = REASON_DELIVERY  # keeps asking about the same order


def leave_reason(sim: Sim, draft: CustomerDraft) -> str:
    """The latent reason for leaving: the subscription's cancel reason, else drawn."""
    for sub in draft.subscriptions:
        for key, texts in CANCEL_REASONS.items():
            if sub.cancel_reason in texts:
                return key
    weights = CANCEL_REASON_WEIGHTS[draft.ctype]
    return sim.weighted(list(weights), list(weights.values()))


def pick_theme(sim: Sim, draft: CustomerDraft, reason: str, at: datetime) -> str:
    """A chat theme for ``reason``, among those that fit the customer at ``at``."""
    subscribed = any(
        s.started_at <= at and (s.canceled_at is None or at < s.canceled_at)
        for s in draft.subscriptions
    )
    ordered = any(o.created_at < at for o in draft.orders)
    weights = {
        t: w
        for t, w in REASON_THEMES[reason].items()
        if (subscribed or t not in SUBSCRIBER_THEMES) and (ordered or t != THEME_STATUS)
    }
    if not weights:
        return THEME_DISCOUNT
    return sim.weighted(list(weights), list(weights.values()))


def wobble_chat(
    sim: Sim, sender_id: str, theme: str, start: datetime, draft: CustomerDraft, language: str
) -> ConversationDraft:
    """Script one chat of a doubting customer (see ``MOOD_THEMES``)."""
    rng = sim.rng
    zh = language == LANG_ZH
    intent, mood, texts = MOOD_THEMES[theme]
    before = [o for o in draft.orders if o.created_at < start]
    order = before[-1] if before else None
    if order is not None:
        sku = order.items[0][0]
    else:
        sku = draft.orders[0].items[0][0]
    product = sim.cat[sku].name_zh if zh else sim.cat[sku].name_en
    number = order.number if order is not None and order.number else ""
    fill = {"order": number, "product": product}
    options = texts if order is not None else tuple(o for o in texts if "{order}" not in o[0])
    t = start
    msgs: list[MessageDraft] = []

    def say(it: str, template: str, sentiment: float) -> None:
        nonlocal t
        has_order = order is not None
        t = exchange(sim, msgs, t, it, template, fill, has_order, sentiment, 0.15, zh=zh)

    if rng.random() < 0.3:
        greet = rng.choice(USER_TEXT[INTENT_GREET])[0 if zh else 1]
        say(INTENT_GREET, greet, SENTIMENT[INTENT_GREET])
    say(intent, rng.choice(options or texts)[0 if zh else 1], mood)
    if intent == INTENT_PRICING and rng.random() < 0.3:
        price = MOOD_THEMES[THEME_PRICE][2]
        say(INTENT_COMPLAIN, rng.choice(price)[0 if zh else 1], MOOD_THEMES[THEME_PRICE][1])
        intent = INTENT_COMPLAIN
    if rng.random() < 0.2:
        thanks = rng.choice(USER_TEXT[INTENT_THANK])[0 if zh else 1]
        say(INTENT_THANK, thanks, 0.2)
    handoff = intent == INTENT_COMPLAIN and rng.random() < 0.25
    recent = sim.ref - t < sim.days(3)
    rating = None
    if rng.random() < 0.5:
        rating = rng.choices((1, 2, 3, 4), weights=(0.3, 0.35, 0.25, 0.1), k=1)[0]
    return ConversationDraft(
        sender_id=sender_id,
        channel=CHANNEL_WEB,
        started_at=start,
        messages=msgs,
        needs_handoff=handoff,
        handoff_reason=HANDOFF_COMPLAINT if handoff else None,
        status=CONV_OPEN if recent or (handoff and sim.ref - t < sim.days(7)) else CONV_RESOLVED,
        rating=rating,
        reviewed=not recent and rng.random() < 0.85,
    )
