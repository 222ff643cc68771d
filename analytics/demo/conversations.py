"""Support conversations of the demo shop: scripted chats around orders, refunds and boxes.

Every conversation is a short exchange of customer messages (with intent, confidence,
entities and sentiment, as the bot's NLU would record them) and bot replies. Historical
chats are anchored on the customer's story (a cancelled box, a refund asked in chat, a
late order) and filled up with everyday topics of the customer's type.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from analytics.core.vocabulary import LANG_ZH
from analytics.demo.drafts import (
    ConversationDraft,
    CustomerDraft,
    MessageDraft,
    OrderDraft,
    Sim,
)
from analytics.demo.profiles import (
    TYPE_BARGAIN,
    TYPE_COMPLAINER,
    TYPE_LAPSING,
    TYPE_LOYAL,
    TYPE_NEW,
    TypeProfile,
)
from analytics.store.models import (
    CHANNEL_WEB,
    CONV_OPEN,
    CONV_RESOLVED,
    ROLE_BOT,
    ROLE_USER,
    SOURCE_CHAT,
    SUB_CANCELED,
)

logger = logging.getLogger(__name__)

INTENT_GREET = "greet"
INTENT_THANK = "thank"
INTENT_ORDER_STATUS = "order_status"
INTENT_COMPLAIN = "complain"
INTENT_REFUND = "refund_request"
INTENT_CANCEL = "cancel_subscription"
INTENT_PAUSE = "pause_subscription"
INTENT_RECOMMEND = "ask_recommendation"
INTENT_PRICING = "pricing"
INTENT_SHIPPING = "shipping_info"

HANDOFF_COMPLAINT = "complaint"
HANDOFF_REFUND = "refund"

# --- templates --------------------------------------------------------------
# (zh, en) pairs; {order} is an order number, {product} a product name.

USER_TEXT: dict[str, tuple[tuple[str, str], ...]] = {
    INTENT_GREET: (("你好", "Hi"), ("在吗？", "Hello there")),
    INTENT_ORDER_STATUS: (
        ("我的订单{order}到哪了？", "Where is my order {order}?"),
        ("请帮我查一下{order}的物流", "Can you check the shipping status of {order}?"),
        ("快递单号是多少？订单{order}", "What's the tracking number for {order}?"),
    ),
    INTENT_COMPLAIN: (
        ("订单{order}又晚到了，太失望了", "Order {order} is late again, really disappointed"),
        ("等了一个星期还没到，你们怎么回事", "A week and still nothing, what is going on?"),
        ("这次的{product}味道不对，很不满意", "The {product} tastes off this time, not happy"),
    ),
    INTENT_REFUND: (
        ("我要退款，订单{order}", "I want a refund for order {order}"),
        ("{order}包装破了，可以退款吗？", "Order {order} arrived damaged, can I get a refund?"),
    ),
    INTENT_CANCEL: (
        ("我想取消订阅", "I want to cancel my subscription"),
        ("请帮我退订每月礼盒", "Please cancel my monthly box"),
    ),
    INTENT_PAUSE: (
        ("下个月出差，能暂停订阅吗？", "I'm travelling next month, can I pause my box?"),
        ("先暂停一下订阅", "Please pause my subscription for a while"),
    ),
    INTENT_RECOMMEND: (
        ("有什么推荐的吗？", "What would you recommend?"),
        ("喜欢{product}的话还可以买什么？", "I like {product}, what else should I try?"),
    ),
    INTENT_PRICING: (("{product}多少钱？", "How much is the {product}?"),),
    INTENT_SHIPPING: (("发货要多久？", "How long does shipping take?"),),
    INTENT_THANK: (("谢谢", "Thanks!"), ("好的，谢谢你", "Great, thank you")),
}
BOT_REPLY: dict[str, tuple[str, str, str]] = {
    # intent: (action, zh, en)
    INTENT_GREET: ("action_greet", "你好！有什么可以帮你？", "Hi! How can I help?"),
    INTENT_ORDER_STATUS: (
        "action_order_status",
        "订单{order}的物流状态已为你查到。",
        "Here is the latest status of order {order}.",
    ),
    INTENT_COMPLAIN: (
        "action_complain",
        "非常抱歉给你带来不好的体验，我已经记录下来。",
        "I'm very sorry about that. I've noted it for the founder.",
    ),
    INTENT_REFUND: (
        "action_refund_request",
        "已为你提交退款申请，我们会尽快处理。",
        "I've filed a refund request; we'll handle it shortly.",
    ),
    INTENT_CANCEL: (
        "action_cancel_subscription",
        "确定要取消订阅吗？",
        "Are you sure you want to cancel your subscription?",
    ),
    INTENT_PAUSE: (
        "action_pause_subscription",
        "可以暂停一个月，需要吗？",
        "I can pause it for a month. Shall I?",
    ),
    INTENT_RECOMMEND: (
        "action_recommend",
        "最近大家都喜欢{product}。",
        "Customers love the {product} lately.",
    ),
    INTENT_PRICING: (
        "action_pricing",
        "{product}的价格已发给你。",
        "Here's the price of {product}.",
    ),
    INTENT_SHIPPING: (
        "action_answer_knowledge",
        "一般1-2天发货，3-5天送达。",
        "Orders ship in 1-2 days and arrive in 3-5.",
    ),
    INTENT_THANK: ("utter_thank", "不客气！", "You're welcome!"),
}
SENTIMENT: dict[str, float] = {
    INTENT_GREET: 0.3,
    INTENT_ORDER_STATUS: -0.05,
    INTENT_COMPLAIN: -0.75,
    INTENT_REFUND: -0.5,
    INTENT_CANCEL: -0.3,
    INTENT_PAUSE: 0.0,
    INTENT_RECOMMEND: 0.35,
    INTENT_PRICING: 0.05,
    INTENT_SHIPPING: 0.0,
    INTENT_THANK: 0.8,
}
TOPIC_WEIGHTS: dict[str, dict[str, float]] = {
    TYPE_LOYAL: {
        INTENT_ORDER_STATUS: 0.4,
        INTENT_RECOMMEND: 0.25,
        INTENT_PRICING: 0.1,
        INTENT_SHIPPING: 0.1,
        INTENT_PAUSE: 0.1,
        INTENT_COMPLAIN: 0.05,
    },
    TYPE_LAPSING: {
        INTENT_ORDER_STATUS: 0.3,
        INTENT_RECOMMEND: 0.15,
        INTENT_PRICING: 0.2,
        INTENT_PAUSE: 0.1,
        INTENT_COMPLAIN: 0.15,
        INTENT_REFUND: 0.1,
    },
    TYPE_COMPLAINER: {
        INTENT_ORDER_STATUS: 0.3,
        INTENT_COMPLAIN: 0.4,
        INTENT_REFUND: 0.2,
        INTENT_SHIPPING: 0.1,
    },
    TYPE_BARGAIN: {INTENT_PRICING: 0.5, INTENT_ORDER_STATUS: 0.3, INTENT_SHIPPING: 0.2},
    TYPE_NEW: {INTENT_RECOMMEND: 0.4, INTENT_SHIPPING: 0.3, INTENT_PRICING: 0.3},
}
ORDER_TOPICS = (INTENT_ORDER_STATUS, INTENT_COMPLAIN, INTENT_REFUND)


def fill_template(template: str, values: dict[str, str]) -> str:
    """Replace ``{key}`` by its value; without an order number, squeeze the spaces left."""
    for key, value in values.items():
        template = template.replace("{" + key + "}", value)
    return " ".join(template.split()) if values.get("order") == "" else template


def add_history_conversations(
    sim: Sim, draft: CustomerDraft, profile: TypeProfile, language: str
) -> None:
    """Create historical chat conversations correlated with the customer's story.

    With the type's ``conversation_prob``, the customer has chats: about a cancelled box,
    each refund asked in chat, some late orders, then everyday topics of the type
    (``TOPIC_WEIGHTS``) up to a random number; only those before the reference date.

    Args:
        sim: The customer's conversation stream.
        draft: The customer, after its orders, subscriptions and refunds.
        profile: The profile of its latent type.
        language: The customer's language.
    """
    rng = sim.rng
    if rng.random() >= profile.conversation_prob:
        return
    anchors: list[tuple[str, datetime, OrderDraft | None]] = []
    late_orders = [o for o in draft.orders if o.late]
    for sub in draft.subscriptions:
        if sub.status == SUB_CANCELED and sub.canceled_at and rng.random() < 0.6:
            anchors.append((INTENT_CANCEL, sub.canceled_at - sim.days(0.02), None))
    for refund in draft.refunds:
        if refund.source == SOURCE_CHAT:
            anchors.append((INTENT_REFUND, refund.created_at, refund.order))
    for order in late_orders:
        if rng.random() < 0.6:
            intent = INTENT_COMPLAIN if rng.random() < 0.5 else INTENT_ORDER_STATUS
            anchors.append(
                (intent, order.estimated_delivery + sim.days(rng.uniform(0.3, 3)), order)
            )
    n_total = rng.randint(1, profile.max_conversations)
    weights = TOPIC_WEIGHTS[draft.ctype]
    while len(anchors) < n_total:
        intent = sim.weighted(list(weights), list(weights.values()))
        if intent == INTENT_PAUSE and not draft.subscriptions:
            intent = INTENT_RECOMMEND
        if intent in ORDER_TOPICS:
            if not draft.orders:
                intent = INTENT_SHIPPING
            else:
                picked = rng.choice(draft.orders)
                at = picked.created_at + sim.days(rng.uniform(1, 5))
                anchors.append((intent, at, picked))
                continue
        start = draft.row["created_at"] + sim.days(
            rng.uniform(0, max(0.5, (sim.ref - draft.row["created_at"]).days))
        )
        anchors.append((intent, start, None))
    anchors = [a for a in anchors if a[1] < sim.ref - sim.days(0.05)]
    anchors.sort(key=lambda a: a[1])
    for k, (intent, start, about) in enumerate(anchors[: profile.max_conversations + 2]):
        sender = f"hist-{draft.row['external_id']}-{k + 1}"
        draft.conversations.append(conversation(sim, sender, intent, start, about, language))


def exchange(
    sim: Sim,
    msgs: list[MessageDraft],
    t: datetime,
    it: str,
    template: str,
    fill: dict[str, str],
    has_order: bool,
    sentiment: float,
    noise: float,
    *,
    zh: bool,
) -> datetime:
    """Append one customer message and the bot's reply.

    Args:
        sim: The stream.
        msgs: The conversation's messages so far.
        t: When the customer writes.
        it: The intent of the message.
        template: The message text with ``{order}`` / ``{product}`` placeholders.
        fill: The placeholder values.
        has_order: Whether the chat is about an order (its number is an entity).
        sentiment: Mean sentiment of the message.
        noise: Standard deviation of the sentiment around the mean.
        zh: Whether the chat is in Chinese.

    Returns:
        The time after the reply (the customer's next message).
    """
    rng = sim.rng
    entities: list[dict[str, Any]] = []
    if "{order}" in template and has_order:
        entities.append({"entity": "order_id", "value": fill["order"]})
    if "{product}" in template:
        entities.append({"entity": "product", "value": fill["product"]})
    score = max(-1.0, min(1.0, sentiment + rng.gauss(0, noise)))
    msgs.append(
        MessageDraft(
            ROLE_USER,
            fill_template(template, fill),
            t,
            intent=it,
            confidence=round(rng.uniform(0.62, 0.99), 3),
            entities=entities or None,
            sentiment=round(score, 3),
        )
    )
    t += timedelta(seconds=rng.randint(2, 6))
    action, zh_text, en_text = BOT_REPLY[it]
    msgs.append(
        MessageDraft(ROLE_BOT, fill_template(zh_text if zh else en_text, fill), t, action=action)
    )
    return t + timedelta(seconds=rng.randint(15, 120))


def conversation(
    sim: Sim,
    sender_id: str,
    intent: str,
    start: datetime,
    order: OrderDraft | None,
    language: str,
    *,
    handoff: bool | None = None,
) -> ConversationDraft:
    """Script one conversation around a main intent.

    Args:
        sim: The stream.
        sender_id: The conversation's sender id.
        intent: The main intent.
        start: When it starts.
        order: The order it is about, if any.
        language: The customer's language.
        handoff: Force (or forbid) a handoff to the founder; drawn if ``None``.

    Returns:
        The conversation draft.
    """
    rng = sim.rng
    zh = language == LANG_ZH
    product_sku = order.items[0][0] if order is not None else rng.choice(list(sim.cat))
    product = sim.cat[product_sku].name_zh if zh else sim.cat[product_sku].name_en
    number = order.number if order is not None and order.number else ""
    fill = {"order": number, "product": product}
    t = start
    msgs: list[MessageDraft] = []

    def user(it: str, sentiment_shift: float = 0.0) -> None:
        nonlocal t
        options = USER_TEXT[it]
        if order is None:
            options = tuple(o for o in options if "{order}" not in o[0]) or options
        template = rng.choice(options)[0 if zh else 1]
        mean = SENTIMENT[it] + sentiment_shift
        t = exchange(sim, msgs, t, it, template, fill, order is not None, mean, 0.1, zh=zh)

    if rng.random() < 0.35:
        user(INTENT_GREET)
    late = order is not None and order.late
    user(intent, -0.3 if late and intent == INTENT_ORDER_STATUS else 0.0)
    if late and intent == INTENT_ORDER_STATUS and rng.random() < 0.5:
        user(INTENT_COMPLAIN)
        intent = INTENT_COMPLAIN
    if rng.random() < 0.5:
        user(INTENT_THANK, -0.5 if intent == INTENT_COMPLAIN else 0.0)
    negative = intent in (INTENT_COMPLAIN, INTENT_REFUND)
    if handoff is None:
        handoff = negative and rng.random() < 0.4
    recent = sim.ref - t < sim.days(3)
    rating = None
    if rng.random() < 0.45:
        rating = rng.randint(1, 3) if negative else rng.randint(4, 5)
    return ConversationDraft(
        sender_id=sender_id,
        channel=CHANNEL_WEB,
        started_at=start,
        messages=msgs,
        needs_handoff=handoff,
        handoff_reason=(HANDOFF_COMPLAINT if intent == INTENT_COMPLAIN else HANDOFF_REFUND)
        if handoff
        else None,
        status=CONV_OPEN if recent or (handoff and sim.ref - t < sim.days(7)) else CONV_RESOLVED,
        rating=rating,
        reviewed=not recent and rng.random() < 0.85,
    )
