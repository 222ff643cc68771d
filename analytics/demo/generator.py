"""Deterministic generator of the demo shop "Leaf & Bean / 叶与豆".

Customers follow latent types with their own purchase and churn process:

* ``loyal``: frequent regulars, many subscribe to a monthly box, low churn hazard.
* ``lapsing``: buy for a while, gaps grow and the churn hazard rises until they stop.
* ``complainer``: many late deliveries and refunds; each bad experience raises churn.
* ``bargain``: one-time (sometimes two-time) discount buyers.
* ``new``: signed up in the last six weeks.

Churn is a real latent process: after every order the customer may stop buying (and
cancel any subscription) with a type-dependent hazard that grows with bad experiences
(late delivery, refund). The latent type and churn time are returned with the data, not
stored in the database, so churn models can be evaluated against the truth.

Customers who are about to leave often say so first, as in real life: about half of the
churners have one to three "wobble" chats 10-75 days before they stop (asking for discounts
or cheaper options, complaining about price or quality, asking to pause or cancel, asking
again and again where their order is, low ratings, negative sentiment), themed by their
latent reason for leaving. Customers who stay have the same kind of chats at a lower rate
(about 7% per 90 days of active life), so chat behaviour is a signal of churn, not a leak.
These chats are not tied to late orders or refunds, which the store features already carry.

All randomness comes from the seed (one independent stream per customer) and all times
are offsets from the reference date, so the same seed and reference date always yield
identical rows. The four demo customers of ``analytics.demo.customers`` are scripted.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, insert, select, text
from tqdm import tqdm

from analytics.core.vocabulary import LANG_EN, LANG_ZH
from analytics.demo import customers as demo
from analytics.store.catalogue import CATALOGUE_PATH, CatalogueRow, load_catalogue
from analytics.store.models import (
    ALL_MODELS,
    CATEGORY_COFFEE,
    CATEGORY_SUBSCRIPTION,
    CATEGORY_TEA,
    CHANNEL_WEB,
    CONV_OPEN,
    CONV_RESOLVED,
    EVENT_CANCEL,
    EVENT_PAUSE,
    EVENT_RENEW,
    EVENT_RESUME,
    EVENT_SKIP,
    EVENT_START,
    ORDER_CANCELLED,
    ORDER_DELIVERED,
    ORDER_PAID,
    ORDER_REFUNDED,
    ORDER_SHIPPED,
    PLAN_COFFEE_BOX,
    PLAN_TEA_BOX,
    REFUND_APPROVED,
    REFUND_OPEN,
    REFUND_REJECTED,
    ROLE_BOT,
    ROLE_USER,
    SHIP_DELAYED,
    SHIP_DELIVERED,
    SHIP_IN_TRANSIT,
    SHIP_PENDING,
    SHIP_RETURNED,
    SOURCE_CHAT,
    SOURCE_EMAIL,
    SUB_ACTIVE,
    SUB_CANCELED,
    SUB_PAUSED,
    Base,
    Conversation,
    Customer,
    Message,
    Order,
    OrderItem,
    Product,
    RefundRequest,
    Subscription,
    SubscriptionEvent,
)

logger = logging.getLogger(__name__)

DEFAULT_SEED = 42
DEFAULT_CUSTOMERS = 2000
HISTORY_DAYS = 730
NEW_SIGNUP_DAYS = 42
RENEWAL_DAYS = 30
ORDER_NUMBER_PREFIX = "LB"
FIRST_ORDER_NUMBER = 100001
LAST_GENERATED_ORDER_NUMBER = 899999
INSERT_CHUNK = 5000
DEMO_RANDOM_STREAM = "leaf-and-bean-demo"
"""Seed of the demo customers' own random stream: they are identical for every seed."""

TYPE_LOYAL = "loyal"
TYPE_LAPSING = "lapsing"
TYPE_COMPLAINER = "complainer"
TYPE_BARGAIN = "bargain"
TYPE_NEW = "new"
CUSTOMER_TYPES = (TYPE_LOYAL, TYPE_LAPSING, TYPE_COMPLAINER, TYPE_BARGAIN, TYPE_NEW)

CARRIERS: dict[str, str] = {"SF Express": "SF", "JD Logistics": "JD", "YTO Express": "YT"}
CARRIER_WEIGHTS = (0.5, 0.3, 0.2)

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


def default_reference_date() -> datetime:
    """Return today at 00:00 UTC (the default end of the generated history)."""
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


# --- latent customer types ------------------------------------------------------------


@dataclass(frozen=True)
class TypeProfile:
    """Behaviour parameters of a latent customer type."""

    share: float
    gap_days: float
    gap_growth: float
    hazard: float
    hazard_growth: float
    bad_bump: float
    late_prob: float
    refund_prob: float
    subscribe_prob: float
    conversation_prob: float
    discount_prob: float
    max_conversations: int


PROFILES: dict[str, TypeProfile] = {
    TYPE_LOYAL: TypeProfile(0.24, 30, 1.0, 0.015, 0.0, 0.03, 0.05, 0.01, 0.5, 0.3, 0.1, 2),
    TYPE_LAPSING: TypeProfile(0.26, 32, 1.3, 0.05, 0.04, 0.05, 0.07, 0.02, 0.15, 0.35, 0.15, 2),
    TYPE_COMPLAINER: TypeProfile(0.14, 35, 1.1, 0.06, 0.01, 0.25, 0.3, 0.1, 0.15, 0.8, 0.15, 4),
    TYPE_BARGAIN: TypeProfile(0.28, 60, 1.5, 0.75, 0.1, 0.05, 0.06, 0.03, 0.02, 0.1, 0.7, 1),
    TYPE_NEW: TypeProfile(0.08, 18, 1.0, 0.05, 0.0, 0.1, 0.06, 0.02, 0.1, 0.2, 0.3, 1),
}

ACQUISITION: dict[str, tuple[int, int]] = {
    "organic": (0, 0),
    "referral": (1000, 2000),
    "wechat": (3000, 6000),
    "xiaohongshu": (4000, 9000),
    "search_ads": (5000, 12000),
    "marketplace": (2000, 4000),
}
CHANNEL_WEIGHTS: dict[str, tuple[float, ...]] = {
    # organic, referral, wechat, xiaohongshu, search_ads, marketplace
    TYPE_LOYAL: (0.3, 0.25, 0.2, 0.1, 0.1, 0.05),
    TYPE_LAPSING: (0.2, 0.1, 0.2, 0.25, 0.15, 0.1),
    TYPE_COMPLAINER: (0.2, 0.1, 0.2, 0.2, 0.15, 0.15),
    TYPE_BARGAIN: (0.1, 0.05, 0.15, 0.2, 0.2, 0.3),
    TYPE_NEW: (0.2, 0.15, 0.2, 0.2, 0.15, 0.1),
}

# Taste clusters: core products bought together, plus matching accessories.
CLUSTERS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "green_tea": (CATEGORY_TEA, ("T01", "T08", "T06"), ("A02",)),
    "oolong": (CATEGORY_TEA, ("T02", "T10", "T03"), ("A02",)),
    "dark_black": (CATEGORY_TEA, ("T04", "T07", "T09"), ("A05",)),
    "white": (CATEGORY_TEA, ("T05", "T01", "T03"), ("A02",)),
    "pour_over": (CATEGORY_COFFEE, ("C02", "C07", "C01"), ("A01", "A03")),
    "espresso": (CATEGORY_COFFEE, ("C04", "C03", "C08"), ("A03", "A04")),
    "convenience": (CATEGORY_COFFEE, ("C06", "C05", "C01"), ("A05",)),
}
TEA_CLUSTERS = ("green_tea", "oolong", "dark_black", "white")
TEA_CLUSTER_WEIGHTS = (0.35, 0.3, 0.2, 0.15)
COFFEE_CLUSTERS = ("pour_over", "espresso", "convenience")
COFFEE_CLUSTER_WEIGHTS = (0.35, 0.35, 0.3)

# --- names and places -------------------------------------------------------------------

ZH_SURNAMES: tuple[tuple[str, str], ...] = (
    ("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"),
    ("杨", "yang"), ("黄", "huang"), ("赵", "zhao"), ("吴", "wu"), ("周", "zhou"),
    ("徐", "xu"), ("孙", "sun"), ("马", "ma"), ("朱", "zhu"), ("胡", "hu"),
    ("郭", "guo"), ("何", "he"), ("林", "lin"), ("高", "gao"), ("罗", "luo"),
    ("郑", "zheng"), ("梁", "liang"), ("谢", "xie"), ("宋", "song"), ("唐", "tang"),
    ("韩", "han"), ("冯", "feng"), ("许", "xu"), ("邓", "deng"), ("曹", "cao"),
)  # fmt: skip
ZH_GIVEN_CHARS = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红玲兰晨雪琳欣怡浩宇子涵梓轩思雨佳豪文博一诺雅婷晓峰建国志强海燕"
EN_FIRST = (
    "James", "Olivia", "Liam", "Emma", "Noah", "Ava", "Oliver", "Sophia", "Lucas",
    "Mia", "Ethan", "Isabella", "Daniel", "Charlotte", "Henry", "Amelia", "Jack",
    "Harper", "Samuel", "Grace", "David", "Chloe", "Michael", "Sarah", "Thomas",
    "Hannah", "Ben", "Lucy", "Ryan", "Zoe", "Mark", "Anna", "Peter", "Laura",
)  # fmt: skip
EN_LAST = (
    "Smith", "Johnson", "Brown", "Taylor", "Miller", "Wilson", "Moore", "Anderson",
    "Thomas", "Jackson", "White", "Harris", "Martin", "Thompson", "Clark", "Lewis",
    "Walker", "Hall", "Young", "King", "Wright", "Scott", "Green", "Adams", "Baker",
    "Nelson", "Mitchell", "Roberts", "Turner", "Phillips", "Campbell", "Evans",
)  # fmt: skip
ZH_CITIES = ("上海", "北京", "杭州", "深圳", "广州", "成都", "南京", "苏州", "武汉", "西安")
ZH_CITY_WEIGHTS = (0.22, 0.18, 0.12, 0.1, 0.1, 0.08, 0.06, 0.05, 0.05, 0.04)
EN_CITIES = ("Shanghai", "Beijing", "Shenzhen", "Hong Kong", "Guangzhou", "Hangzhou", "Singapore")
EN_CITY_WEIGHTS = (0.3, 0.2, 0.15, 0.12, 0.1, 0.08, 0.05)
ZH_SHARE = 0.7
MOBILE_PREFIXES = ("138", "139", "150", "186", "188", "135", "137", "177", "159")

CANCEL_REASONS: dict[str, tuple[str, str]] = {
    "price": ("太贵了，想省点钱", "Too expensive for me right now"),
    "too_much": ("家里囤太多了，喝不完", "I have too much stock at home"),
    "delivery": ("配送总是延迟", "Deliveries keep arriving late"),
    "quality": ("最近几次品质不如以前", "Quality has dropped lately"),
    "moving": ("要搬家了", "Moving abroad"),
    "switching": ("换了别的牌子", "Switching to another brand"),
}
CANCEL_REASON_WEIGHTS: dict[str, dict[str, float]] = {
    TYPE_LOYAL: {"moving": 0.5, "price": 0.3, "too_much": 0.2},
    TYPE_LAPSING: {"too_much": 0.4, "price": 0.3, "switching": 0.3},
    TYPE_COMPLAINER: {"delivery": 0.5, "quality": 0.35, "price": 0.15},
    TYPE_BARGAIN: {"price": 0.7, "switching": 0.3},
    TYPE_NEW: {"price": 0.5, "too_much": 0.5},
}
REFUND_REASONS: dict[str, tuple[str, str]] = {
    "late": ("快递太慢了，超过预计时间好几天", "The parcel arrived days after the estimate"),
    "damaged": ("包装破损，茶叶撒了", "The package arrived damaged"),
    "taste": ("味道和描述不一样", "It doesn't taste like the description"),
    "wrong": ("发错货了", "I received the wrong item"),
}

# --- conversation templates --------------------------------------------------------------
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
        "utter_shipping_info",
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

# --- "wobble" chats: what a customer says before leaving ------------------------------
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


def _fill(template: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        template = template.replace("{" + key + "}", value)
    return " ".join(template.split()) if values.get("order") == "" else template


# --- drafts (in-memory rows before ids are assigned) ------------------------------------


@dataclass(eq=False)
class _OrderDraft:
    created_at: datetime
    status: str
    shipping_status: str
    carrier: str | None
    tracking_number: str | None
    shipped_at: datetime | None
    delivered_at: datetime | None
    estimated_delivery: datetime
    items: list[tuple[str, int, int]]  # sku, quantity, unit price
    late: bool
    number: str | None = None
    id: int = 0

    @property
    def total_cents(self) -> int:
        return sum(q * p for _, q, p in self.items)

    @property
    def bad(self) -> bool:
        return self.late or self.status == ORDER_REFUNDED


@dataclass(eq=False)
class _SubDraft:
    plan: str
    started_at: datetime
    price_cents: int
    status: str = SUB_ACTIVE
    paused_until: datetime | None = None
    canceled_at: datetime | None = None
    cancel_reason: str | None = None
    next_renewal_at: datetime | None = None
    events: list[tuple[str, datetime, str | None]] = field(default_factory=list)
    id: int = 0


@dataclass(eq=False)
class _RefundDraft:
    order: _OrderDraft | None
    reason: str
    status: str
    source: str
    created_at: datetime


@dataclass(eq=False)
class _MessageDraft:
    role: str
    text: str
    created_at: datetime
    intent: str | None = None
    confidence: float | None = None
    entities: list[dict[str, Any]] | None = None
    action: str | None = None
    sentiment: float | None = None


@dataclass(eq=False)
class _ConversationDraft:
    sender_id: str
    channel: str
    started_at: datetime
    messages: list[_MessageDraft]
    needs_handoff: bool
    handoff_reason: str | None
    status: str
    rating: int | None
    reviewed: bool
    id: int = 0


@dataclass(eq=False)
class _CustomerDraft:
    index: int
    ctype: str
    row: dict[str, Any]
    orders: list[_OrderDraft] = field(default_factory=list)
    subscriptions: list[_SubDraft] = field(default_factory=list)
    refunds: list[_RefundDraft] = field(default_factory=list)
    conversations: list[_ConversationDraft] = field(default_factory=list)
    churned_at: datetime | None = None
    churn_at: datetime | None = None  # latent, may lie after the reference


@dataclass
class ShopData:
    """Generated rows of every table, ready for bulk insert (ids assigned).

    Attributes:
        seed: The seed used.
        reference: The reference date (end of history).
        tables: Rows per table name, in insert order.
        customer_types: Latent type per external id (ground truth, not stored).
        churned_at: Latent churn time per external id (``None`` if still active).
    """

    seed: int
    reference: datetime
    tables: dict[str, list[dict[str, Any]]]
    customer_types: dict[str, str]
    churned_at: dict[str, datetime | None]

    def counts(self) -> dict[str, int]:
        """Return the number of rows per table."""
        return {name: len(rows) for name, rows in self.tables.items()}


# --- the simulation ---------------------------------------------------------------------


class _Sim:
    """Simulates one customer with its own random stream."""

    def __init__(
        self,
        rng: random.Random,
        reference: datetime,
        catalogue: dict[str, CatalogueRow],
    ) -> None:
        self.rng = rng
        self.ref = reference
        self.cat = catalogue

    # helpers
    def days(self, d: float) -> timedelta:
        return timedelta(days=d)

    def weighted(self, options: Sequence[str], weights: Sequence[float]) -> str:
        return self.rng.choices(list(options), weights=list(weights), k=1)[0]

    def tracking(self, carrier: str) -> str:
        prefix = CARRIERS[carrier]
        return prefix + "".join(self.rng.choice("0123456789") for _ in range(13))

    def make_order(
        self,
        created: datetime,
        items: list[tuple[str, int, int]],
        *,
        late: bool,
        refund: bool = False,
        cancel: bool = False,
        carrier: str | None = None,
    ) -> _OrderDraft:
        """Build an order whose statuses follow from its age at the reference date."""
        rng = self.rng
        estimated = created + self.days(4)
        carrier = carrier or self.weighted(list(CARRIERS), CARRIER_WEIGHTS)
        if cancel:
            return _OrderDraft(
                created, ORDER_CANCELLED, SHIP_PENDING, None, None, None, None, estimated, items,
                False,
            )  # fmt: skip
        shipped = created + self.days(rng.uniform(0.2, 1.5))
        transit = rng.uniform(1.2, 2.4)
        if late:
            transit += rng.uniform(3.0, 8.0)
        delivered = shipped + self.days(transit)
        if self.ref < shipped:
            return _OrderDraft(
                created, ORDER_PAID, SHIP_PENDING, None, None, None, None, estimated, items, False
            )
        tracking = self.tracking(carrier)
        if self.ref < delivered:
            ship_status = SHIP_DELAYED if self.ref > estimated else SHIP_IN_TRANSIT
            return _OrderDraft(
                created, ORDER_SHIPPED, ship_status, carrier, tracking, shipped, None, estimated,
                items, late and self.ref > estimated,
            )  # fmt: skip
        status, ship_status = ORDER_DELIVERED, SHIP_DELIVERED
        if refund:
            status = ORDER_REFUNDED
            ship_status = SHIP_RETURNED if rng.random() < 0.5 else SHIP_DELIVERED
        return _OrderDraft(
            created, status, ship_status, carrier, tracking, shipped, delivered, estimated, items,
            delivered > estimated,
        )  # fmt: skip

    def pick_items(
        self, primary: str, secondary: str | None, discount: float, bought: set[str]
    ) -> list[tuple[str, int, int]]:
        """Choose order lines following the customer's taste clusters."""
        rng = self.rng
        _, core, accessories = CLUSTERS[primary]
        n_lines = 1 + (rng.random() < 0.45) + (rng.random() < 0.15)
        chosen: list[str] = []
        all_skus = [s for s, p in self.cat.items() if p.category != CATEGORY_SUBSCRIPTION]
        for _ in range(n_lines * 3):
            if len(chosen) >= n_lines:
                break
            r = rng.random()
            if r < 0.72:
                sku = rng.choices(core, weights=(0.5, 0.3, 0.2)[: len(core)], k=1)[0]
            elif r < 0.84 and secondary is not None:
                sku = rng.choice(CLUSTERS[secondary][1])
            elif r < 0.93:
                sku = rng.choice(accessories)
                if sku in bought and rng.random() < 0.85:
                    continue
            else:
                sku = rng.choice(all_skus)
            if sku not in chosen:
                chosen.append(sku)
        if not chosen:
            chosen.append(rng.choice(core))
        lines = []
        for sku in chosen:
            qty = 1 if rng.random() < 0.8 else (2 if rng.random() < 0.85 else 3)
            price = self.cat[sku].price_cents
            if discount:
                price = int(round(price * (1 - discount) / 100.0)) * 100
            lines.append((sku, qty, price))
            bought.add(sku)
        return lines

    def simulate(self, draft: _CustomerDraft, profile: TypeProfile, language: str) -> None:
        """Run the purchase / subscription / churn process of one customer."""
        rng = self.rng
        ctype = draft.ctype
        created: datetime = draft.row["created_at"]
        primary_cat = self.weighted(
            (CATEGORY_TEA, CATEGORY_COFFEE, "both"),
            (0.65, 0.25, 0.10) if language == LANG_ZH else (0.3, 0.55, 0.15),
        )
        tea = self.weighted(TEA_CLUSTERS, TEA_CLUSTER_WEIGHTS)
        coffee = self.weighted(COFFEE_CLUSTERS, COFFEE_CLUSTER_WEIGHTS)
        if primary_cat == CATEGORY_TEA:
            primary, secondary = tea, None
        elif primary_cat == CATEGORY_COFFEE:
            primary, secondary = coffee, None
        else:
            primary, secondary = (tea, coffee) if rng.random() < 0.5 else (coffee, tea)
        plan = PLAN_TEA_BOX if CLUSTERS[primary][0] == CATEGORY_TEA else PLAN_COFFEE_BOX

        if ctype == TYPE_NEW and rng.random() < 0.35:
            return  # signed up, has not ordered yet
        speed = rng.lognormvariate(0.0, 0.3)
        gap = profile.gap_days * speed
        wants_sub = rng.random() < profile.subscribe_prob
        sub_after = 1 if rng.random() < 0.4 else 2
        bought: set[str] = set()
        sub: _SubDraft | None = None
        next_adhoc = created + self.days(rng.uniform(0.05, 3.0))
        next_renew: datetime | None = None
        n_orders = 0
        churn_at: datetime | None = None
        while True:
            renew_first = next_renew is not None and next_renew <= next_adhoc
            at = next_renew if renew_first and next_renew is not None else next_adhoc
            if at > self.ref:
                break
            order: _OrderDraft | None = None
            if renew_first and sub is not None and next_renew is not None:
                r = rng.random()
                if r < 0.05:
                    sub.events.append((EVENT_SKIP, at, None))
                    next_renew = at + self.days(RENEWAL_DAYS)
                elif r < 0.09:
                    months = 1 if rng.random() < 0.7 else 2
                    until = at + self.days(RENEWAL_DAYS * months)
                    note = f"until {until.date().isoformat()}"
                    sub.events.append((EVENT_PAUSE, at - self.days(rng.uniform(1, 5)), note))
                    if until > self.ref:
                        sub.status, sub.paused_until = SUB_PAUSED, until
                    else:
                        sub.events.append((EVENT_RESUME, until, None))
                    next_renew = until
                else:
                    sub.events.append((EVENT_RENEW, at, None))
                    order = self.make_order(
                        at,
                        [(plan, 1, sub.price_cents)],
                        late=rng.random() < profile.late_prob,
                        refund=rng.random() < profile.refund_prob / 2,
                    )
                    next_renew = at + self.days(RENEWAL_DAYS)
                    if ctype != TYPE_COMPLAINER and rng.random() < 0.008:
                        self.cancel(sub, next_renew - self.days(3), ctype, language)
                        sub, next_renew = None, None
            else:
                discount = 0.0
                if rng.random() < profile.discount_prob:
                    discount = rng.choice((0.1, 0.15, 0.2, 0.3))
                late = rng.random() < profile.late_prob
                refund_p = profile.refund_prob * (3.0 if late else 1.0)
                order = self.make_order(
                    at,
                    self.pick_items(primary, secondary, discount, bought),
                    late=late,
                    refund=rng.random() < refund_p,
                    cancel=rng.random() < 0.02,
                )
                next_adhoc = at + self.days(max(2.0, rng.gammavariate(2.0, gap / 2.0)))
                gap *= profile.gap_growth
                if sub is not None:
                    next_adhoc += self.days(gap * 0.6)
            if order is None:
                continue
            draft.orders.append(order)
            n_orders += 1
            if order.status == ORDER_REFUNDED and order.delivered_at is not None:
                self.add_refund(draft, order, language, REFUND_APPROVED)
            elif order.late and rng.random() < (0.5 if ctype == TYPE_COMPLAINER else 0.1):
                recent = self.ref - at < self.days(14)
                self.add_refund(draft, order, language, REFUND_OPEN if recent else REFUND_REJECTED)
            if wants_sub and sub is None and n_orders >= sub_after and not draft.subscriptions:
                start = at + self.days(rng.uniform(0.5, 4.0))
                if start < self.ref:
                    price = self.cat[plan].price_cents
                    if self.ref - start > self.days(365) and rng.random() < 0.3:
                        price -= 1000  # early-bird price
                    sub = _SubDraft(plan=plan, started_at=start, price_cents=price)
                    sub.events.append((EVENT_START, start, None))
                    draft.subscriptions.append(sub)
                    next_renew = start
            hazard = profile.hazard + profile.hazard_growth * (n_orders - 1)
            if order.bad:
                hazard += profile.bad_bump
            if sub is not None and order.items[0][0] == plan:
                hazard *= 0.5  # monthly draws, not per purchase
            if rng.random() < hazard:
                churn_at = at + self.days(rng.uniform(3, 25))
                break
        if sub is not None:
            if churn_at is not None and churn_at <= self.ref:
                self.cancel(sub, churn_at, ctype, language)
            elif sub.status == SUB_ACTIVE:
                sub.next_renewal_at = next_renew
            else:
                sub.next_renewal_at = sub.paused_until
        draft.churn_at = churn_at
        draft.churned_at = churn_at if churn_at is not None and churn_at <= self.ref else None
        draft.row["points"] = self.points(draft.orders)

    def cancel(self, sub: _SubDraft, at: datetime, ctype: str, language: str) -> None:
        weights = CANCEL_REASON_WEIGHTS[ctype]
        key = self.weighted(list(weights), list(weights.values()))
        reason = CANCEL_REASONS[key][0 if language == LANG_ZH else 1]
        sub.status = SUB_CANCELED
        sub.canceled_at = at
        sub.cancel_reason = reason
        sub.paused_until = None
        sub.next_renewal_at = None
        sub.events.append((EVENT_CANCEL, at, reason))

    def add_refund(
        self, draft: _CustomerDraft, order: _OrderDraft, language: str, status: str
    ) -> None:
        base = order.delivered_at or order.estimated_delivery
        created = min(base + self.days(self.rng.uniform(0.2, 4.0)), self.ref - self.days(0.01))
        if order.late:
            key = "late"
        else:
            key = self.rng.choice(("damaged", "taste", "wrong"))
        draft.refunds.append(
            _RefundDraft(
                order=order,
                reason=REFUND_REASONS[key][0 if language == LANG_ZH else 1],
                status=status,
                source=SOURCE_CHAT if self.rng.random() < 0.5 else SOURCE_EMAIL,
                created_at=created,
            )
        )

    def points(self, orders: Iterable[_OrderDraft]) -> int:
        spent = sum(o.total_cents for o in orders if o.status in (ORDER_DELIVERED, ORDER_SHIPPED))
        return int(spent / 100 * self.rng.uniform(0.3, 1.0))

    # conversations
    def conversations(self, draft: _CustomerDraft, profile: TypeProfile, language: str) -> None:
        """Create historical chat conversations correlated with the customer's story."""
        rng = self.rng
        if rng.random() >= profile.conversation_prob:
            return
        anchors: list[tuple[str, datetime, _OrderDraft | None]] = []
        late_orders = [o for o in draft.orders if o.late]
        for sub in draft.subscriptions:
            if sub.status == SUB_CANCELED and sub.canceled_at and rng.random() < 0.6:
                anchors.append((INTENT_CANCEL, sub.canceled_at - self.days(0.02), None))
        for refund in draft.refunds:
            if refund.source == SOURCE_CHAT:
                anchors.append((INTENT_REFUND, refund.created_at, refund.order))
        for order in late_orders:
            if rng.random() < 0.6:
                intent = INTENT_COMPLAIN if rng.random() < 0.5 else INTENT_ORDER_STATUS
                anchors.append(
                    (intent, order.estimated_delivery + self.days(rng.uniform(0.3, 3)), order)
                )
        n_total = rng.randint(1, profile.max_conversations)
        weights = TOPIC_WEIGHTS[draft.ctype]
        while len(anchors) < n_total:
            intent = self.weighted(list(weights), list(weights.values()))
            if intent == INTENT_PAUSE and not draft.subscriptions:
                intent = INTENT_RECOMMEND
            if intent in ORDER_TOPICS:
                if not draft.orders:
                    intent = INTENT_SHIPPING
                else:
                    picked = rng.choice(draft.orders)
                    at = picked.created_at + self.days(rng.uniform(1, 5))
                    anchors.append((intent, at, picked))
                    continue
            start = draft.row["created_at"] + self.days(
                rng.uniform(0, max(0.5, (self.ref - draft.row["created_at"]).days))
            )
            anchors.append((intent, start, None))
        anchors = [a for a in anchors if a[1] < self.ref - self.days(0.05)]
        anchors.sort(key=lambda a: a[1])
        for k, (intent, start, about) in enumerate(anchors[: profile.max_conversations + 2]):
            sender = f"hist-{draft.row['external_id']}-{k + 1}"
            draft.conversations.append(self.conversation(sender, intent, start, about, language))

    def wobble_conversations(self, draft: _CustomerDraft, language: str) -> None:
        """Add the chats in which a customer shows doubts: before churn, and as noise.

        A churner (latent ``churn_at``, also after the reference) shows it with the
        probability of its type: an episode of one to three chats starting 10-75 days before
        the churn time, themed by the reason for leaving. Every customer also has a
        ``WOBBLE_PER_90_DAYS`` chance of an episode in each 90 days of active life.
        """
        rng = self.rng
        created: datetime = draft.row["created_at"]
        if not draft.orders:
            return
        reason = self.leave_reason(draft)
        end = min(draft.churn_at or self.ref, self.ref)
        episodes: list[tuple[datetime, datetime, int]] = []  # start, latest end, chats
        block = created
        while block < end:
            if rng.random() < WOBBLE_PER_90_DAYS:
                at = block + self.days(rng.uniform(0, 90))
                if at < end:
                    episodes.append((at, end, 1 if rng.random() < 0.75 else 2))
            block += self.days(90)
        if draft.churn_at is not None and rng.random() < PRECHURN_CHAT_PROB[draft.ctype]:
            at = draft.churn_at - self.days(rng.uniform(*PRECHURN_DAYS))
            at = max(at, created + self.days(0.5))
            n = rng.choices((1, 2, 3), weights=(0.5, 0.35, 0.15), k=1)[0]
            episodes.append((at, draft.churn_at - self.days(1), n))
        k = len(draft.conversations)
        for start, latest, n in sorted(episodes, key=lambda e: e[0]):
            at = start
            for _ in range(n):
                if at >= min(latest, self.ref - self.days(0.05)):
                    break
                k += 1
                sender = f"hist-{draft.row['external_id']}-{k}"
                theme = self.theme(draft, reason, at)
                draft.conversations.append(self.wobble(sender, theme, at, draft, language))
                at += self.days(rng.uniform(1, 14) if theme != THEME_STATUS else rng.uniform(1, 3))
                if theme == THEME_STATUS:
                    reason = "delivery"  # keeps asking about the same order

    def leave_reason(self, draft: _CustomerDraft) -> str:
        """The latent reason for leaving: the subscription's cancel reason, else drawn."""
        for sub in draft.subscriptions:
            for key, texts in CANCEL_REASONS.items():
                if sub.cancel_reason in texts:
                    return key
        weights = CANCEL_REASON_WEIGHTS[draft.ctype]
        return self.weighted(list(weights), list(weights.values()))

    def theme(self, draft: _CustomerDraft, reason: str, at: datetime) -> str:
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
        return self.weighted(list(weights), list(weights.values()))

    def wobble(
        self, sender_id: str, theme: str, start: datetime, draft: _CustomerDraft, language: str
    ) -> _ConversationDraft:
        """Script one chat of a doubting customer (see ``MOOD_THEMES``)."""
        rng = self.rng
        zh = language == LANG_ZH
        intent, mood, texts = MOOD_THEMES[theme]
        before = [o for o in draft.orders if o.created_at < start]
        order = before[-1] if before else None
        if order is not None:
            sku = order.items[0][0]
        else:
            sku = draft.orders[0].items[0][0]
        product = self.cat[sku].name_zh if zh else self.cat[sku].name_en
        number = order.number if order is not None and order.number else ""
        fill = {"order": number, "product": product}
        options = texts if order is not None else tuple(o for o in texts if "{order}" not in o[0])
        t = start
        msgs: list[_MessageDraft] = []

        def say(it: str, template: str, sentiment: float) -> None:
            nonlocal t
            has_order = order is not None
            t = self.exchange(msgs, t, it, template, fill, has_order, sentiment, 0.15, zh=zh)

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
        recent = self.ref - t < self.days(3)
        rating = None
        if rng.random() < 0.5:
            rating = rng.choices((1, 2, 3, 4), weights=(0.3, 0.35, 0.25, 0.1), k=1)[0]
        return _ConversationDraft(
            sender_id=sender_id,
            channel=CHANNEL_WEB,
            started_at=start,
            messages=msgs,
            needs_handoff=handoff,
            handoff_reason=HANDOFF_COMPLAINT if handoff else None,
            status=CONV_OPEN
            if recent or (handoff and self.ref - t < self.days(7))
            else CONV_RESOLVED,
            rating=rating,
            reviewed=not recent and rng.random() < 0.85,
        )

    def exchange(
        self,
        msgs: list[_MessageDraft],
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
        """Append one customer message and the bot's reply; returns the time after them."""
        rng = self.rng
        entities: list[dict[str, Any]] = []
        if "{order}" in template and has_order:
            entities.append({"entity": "order_id", "value": fill["order"]})
        if "{product}" in template:
            entities.append({"entity": "product", "value": fill["product"]})
        score = max(-1.0, min(1.0, sentiment + rng.gauss(0, noise)))
        msgs.append(
            _MessageDraft(
                ROLE_USER,
                _fill(template, fill),
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
            _MessageDraft(ROLE_BOT, _fill(zh_text if zh else en_text, fill), t, action=action)
        )
        return t + timedelta(seconds=rng.randint(15, 120))

    def conversation(
        self,
        sender_id: str,
        intent: str,
        start: datetime,
        order: _OrderDraft | None,
        language: str,
        *,
        handoff: bool | None = None,
    ) -> _ConversationDraft:
        """Script one conversation around a main intent."""
        rng = self.rng
        zh = language == LANG_ZH
        product_sku = order.items[0][0] if order is not None else rng.choice(list(self.cat))
        product = self.cat[product_sku].name_zh if zh else self.cat[product_sku].name_en
        number = order.number if order is not None and order.number else ""
        fill = {"order": number, "product": product}
        t = start
        msgs: list[_MessageDraft] = []

        def user(it: str, sentiment_shift: float = 0.0) -> None:
            nonlocal t
            options = USER_TEXT[it]
            if order is None:
                options = tuple(o for o in options if "{order}" not in o[0]) or options
            template = rng.choice(options)[0 if zh else 1]
            mean = SENTIMENT[it] + sentiment_shift
            t = self.exchange(msgs, t, it, template, fill, order is not None, mean, 0.1, zh=zh)

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
        recent = self.ref - t < self.days(3)
        rating = None
        if rng.random() < 0.45:
            rating = rng.randint(1, 3) if negative else rng.randint(4, 5)
        return _ConversationDraft(
            sender_id=sender_id,
            channel=CHANNEL_WEB,
            started_at=start,
            messages=msgs,
            needs_handoff=handoff,
            handoff_reason=(HANDOFF_COMPLAINT if intent == INTENT_COMPLAIN else HANDOFF_REFUND)
            if handoff
            else None,
            status=CONV_OPEN
            if recent or (handoff and self.ref - t < self.days(7))
            else CONV_RESOLVED,
            rating=rating,
            reviewed=not recent and rng.random() < 0.85,
        )


# --- customers --------------------------------------------------------------------------


def _random_customer(
    sim: _Sim, index: int, ctype: str, reference: datetime
) -> tuple[_CustomerDraft, str]:
    rng = sim.rng
    language = LANG_ZH if rng.random() < ZH_SHARE else LANG_EN
    if ctype == TYPE_NEW:
        days_ago = rng.uniform(0.3, NEW_SIGNUP_DAYS)
    else:
        days_ago = NEW_SIGNUP_DAYS + (HISTORY_DAYS - NEW_SIGNUP_DAYS) * rng.random() ** 1.3
    created = reference - timedelta(days=days_ago)
    if language == LANG_ZH:
        surname, pinyin = rng.choice(ZH_SURNAMES)
        given = "".join(rng.choice(ZH_GIVEN_CHARS) for _ in range(1 if rng.random() < 0.3 else 2))
        name = surname + given
        email = f"{pinyin}{rng.randint(10, 9999)}@example.cn"
        city = sim.weighted(ZH_CITIES, ZH_CITY_WEIGHTS)
        has_phone = rng.random() < 0.85
    else:
        first, last = rng.choice(EN_FIRST), rng.choice(EN_LAST)
        name = f"{first} {last}"
        email = f"{first.lower()}.{last.lower()}{rng.randint(1, 999)}@example.com"
        city = sim.weighted(EN_CITIES, EN_CITY_WEIGHTS)
        has_phone = rng.random() < 0.5
    phone = (
        rng.choice(MOBILE_PREFIXES) + "".join(rng.choice("0123456789") for _ in range(8))
        if has_phone
        else None
    )
    channel = sim.weighted(list(ACQUISITION), CHANNEL_WEIGHTS[ctype])
    low, high = ACQUISITION[channel]
    cost = rng.randint(low, high) // 100 * 100
    row = _customer_row(index, name, email, phone, language, city, created, channel, cost)
    return _CustomerDraft(index=index, ctype=ctype, row=row), language


def _customer_row(
    index: int,
    name: str,
    email: str,
    phone: str | None,
    language: str,
    city: str,
    created: datetime,
    channel: str,
    cost: int,
) -> dict[str, Any]:
    return {
        "id": index,
        "external_id": f"cus_{index:04d}",
        "name": name,
        "email": email,
        "phone": phone,
        "language": language,
        "city": city,
        "created_at": created,
        "points": 0,
        "acquisition_channel": channel,
        "acquisition_cost_cents": cost,
    }


def _demo_customers(sim: _Sim, ref: datetime) -> list[_CustomerDraft]:
    """Script the four demo customers (their story does not depend on the seed)."""
    d = sim.days
    cat = sim.cat

    def line(sku: str, qty: int = 1) -> tuple[str, int, int]:
        return (sku, qty, cat[sku].price_cents)

    def delivered_order(
        created: datetime, items: list[tuple[str, int, int]], late_days: float = 0.0
    ) -> _OrderDraft:
        shipped = created + d(0.6)
        delivered = shipped + d(2.0 + late_days)
        return _OrderDraft(
            created, ORDER_DELIVERED, SHIP_DELIVERED, "SF Express", sim.tracking("SF Express"),
            shipped, delivered, created + d(4), items, delivered > created + d(4),
        )  # fmt: skip

    def box_history(
        draft: _CustomerDraft, sub: _SubDraft, last: datetime, skip: int | None = None
    ) -> None:
        at, k = sub.started_at, 0
        while at <= last:
            if k == skip:
                sub.events.append((EVENT_SKIP, at, None))
            else:
                sub.events.append((EVENT_RENEW, at, None))
                draft.orders.append(delivered_order(at, [(sub.plan, 1, sub.price_cents)]))
            at += d(RENEWAL_DAYS)
            k += 1

    # 王小明: loyal tea subscriber, latest order in transit.
    wang = _CustomerDraft(
        1,
        TYPE_LOYAL,
        _customer_row(
            1, demo.DEMO_NAMES[demo.DEMO_ZH], "wang.xiaoming@example.cn", "13800138000", LANG_ZH,
            "上海", ref - d(400), "referral", 1500,
        ),
    )  # fmt: skip
    for k, days_ago in enumerate(range(398, 40, -36)):
        skus = [("T01", "T08"), ("T06",), ("T01", "A02"), ("T08",)][k % 4]
        wang.orders.append(delivered_order(ref - d(days_ago), [line(s) for s in skus]))
    sub = _SubDraft(PLAN_TEA_BOX, ref - d(300 - 0.4), cat[PLAN_TEA_BOX].price_cents)
    sub.events.append((EVENT_START, sub.started_at, None))
    box_history(wang, sub, ref - d(11), skip=4)
    sub.next_renewal_at = sub.started_at + d(RENEWAL_DAYS * 10)
    wang.subscriptions.append(sub)
    created = ref - d(2.1)
    wang.orders.append(
        _OrderDraft(
            created, ORDER_SHIPPED, SHIP_IN_TRANSIT, "SF Express", "SF1402398812764",
            created + d(0.5), None, ref + d(1.5), [line("T01"), line("T05")], False,
        )
    )  # fmt: skip

    # Emily Carter: coffee subscriber, latest order delivered.
    emily = _CustomerDraft(
        2,
        TYPE_LOYAL,
        _customer_row(
            2, demo.DEMO_NAMES[demo.DEMO_EN], "emily.carter@example.com", None, LANG_EN,
            "Shanghai", ref - d(250), "xiaohongshu", 6000,
        ),
    )  # fmt: skip
    for k, days_ago in enumerate(range(248, 30, -45)):
        skus = [("C02", "A01"), ("C07",), ("C02", "C01"), ("C07", "A03"), ("C02",)][k % 5]
        emily.orders.append(delivered_order(ref - d(days_ago), [line(s) for s in skus]))
    sub = _SubDraft(PLAN_COFFEE_BOX, ref - d(220 - 0.3), cat[PLAN_COFFEE_BOX].price_cents)
    sub.events.append((EVENT_START, sub.started_at, None))
    box_history(emily, sub, ref - d(9))
    sub.next_renewal_at = sub.started_at + d(RENEWAL_DAYS * 8)
    emily.subscriptions.append(sub)
    emily.orders.append(delivered_order(ref - d(7.8), [line("C07"), line("C05", 2)]))

    # 李娜: high-spend VIP, late deliveries and complaints, lapsing.
    lina = _CustomerDraft(
        3,
        TYPE_COMPLAINER,
        _customer_row(
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
        lines = [line(str(b[i]), int(b[i + 1])) for i in range(0, len(b), 2)]
        lina.orders.append(delivered_order(ref - d(days_ago), lines))
    earlier_late = delivered_order(ref - d(61), [line("T05", 2), line("T03", 2)], late_days=3.5)
    latest = delivered_order(ref - d(38), [line("T05", 3), line("T10", 2)], late_days=4.0)
    lina.orders += [earlier_late, latest]
    sub = _SubDraft(PLAN_TEA_BOX, ref - d(210), cat[PLAN_TEA_BOX].price_cents)
    sub.events.append((EVENT_START, sub.started_at, None))
    box_history(lina, sub, ref - d(45))
    # After two late deliveries she paused the box (lapsing, still cancellable).
    sub.status = SUB_PAUSED
    sub.paused_until = ref + d(28)
    sub.next_renewal_at = None
    sub.events.append((EVENT_PAUSE, ref - d(32), CANCEL_REASONS["delivery"][0]))
    lina.subscriptions.append(sub)
    lina.refunds.append(
        _RefundDraft(
            earlier_late, REFUND_REASONS["late"][0], REFUND_APPROVED, SOURCE_CHAT, ref - d(55)
        )
    )
    for draft in (wang, emily, lina):
        draft.row["points"] = sim.points(draft.orders)
        draft.orders.sort(key=lambda o: o.created_at)
        for j, order in enumerate(reversed(draft.orders), start=1):
            order.number = f"{ORDER_NUMBER_PREFIX}{900000 + draft.index * 100 + j}"
    lina.conversations.append(
        sim.conversation("hist-cus_0003-1", INTENT_REFUND, ref - d(55), earlier_late, LANG_ZH)
    )
    lina.conversations.append(
        sim.conversation(
            "hist-cus_0003-2", INTENT_COMPLAIN, ref - d(31), latest, LANG_ZH, handoff=True
        )
    )
    lina.churned_at = ref - d(32)

    # Tom Baker: signed up last week, no orders.
    tom = _CustomerDraft(
        4,
        TYPE_NEW,
        _customer_row(
            4, demo.DEMO_NAMES[demo.DEMO_NEW], "tom.baker@example.com", None, LANG_EN,
            "Shenzhen", ref - d(5), "search_ads", 8000,
        ),
    )  # fmt: skip

    return [wang, emily, lina, tom]


def _assign_types(n_random: int, rng: random.Random) -> list[str]:
    """Deterministic type quotas (shares of ``PROFILES``), shuffled."""
    types: list[str] = []
    for name, profile in PROFILES.items():
        types += [name] * round(profile.share * n_random)
    while len(types) < n_random:
        types.append(TYPE_LOYAL)
    types = types[:n_random]
    rng.shuffle(types)
    return types


def generate_shop(
    n_customers: int = DEFAULT_CUSTOMERS,
    *,
    seed: int = DEFAULT_SEED,
    reference: datetime | None = None,
    progress: bool = False,
    catalogue_path: Path = CATALOGUE_PATH,
) -> ShopData:
    """Generate the demo shop in memory.

    Args:
        n_customers: Total number of customers, including the four demo customers.
        seed: Random seed.
        reference: End of the history (timezone-aware); defaults to today 00:00 UTC.
        progress: Show a tqdm progress bar.
        catalogue_path: The catalogue CSV.

    Returns:
        The rows of every table with ids assigned.

    Raises:
        ValueError: If ``n_customers`` is below 4 or ``reference`` is naive.
    """
    if n_customers < len(demo.DEMO_IDS):
        raise ValueError(f"need at least {len(demo.DEMO_IDS)} customers (the demo customers)")
    if n_customers > 9999:
        raise ValueError("at most 9999 customers (external ids are cus_0001..cus_9999)")
    reference = reference or default_reference_date()
    if reference.tzinfo is None:
        raise ValueError("reference must be timezone-aware")
    reference = reference.astimezone(UTC)
    catalogue = load_catalogue(catalogue_path)
    by_sku = {row.sku: row for row in catalogue}

    demo_sim = _Sim(random.Random(DEMO_RANDOM_STREAM), reference, by_sku)
    drafts = _demo_customers(demo_sim, reference)
    n_random = n_customers - len(drafts)
    types = _assign_types(n_random, random.Random(f"{seed}:types"))
    for ctype in tqdm(types, desc="customers", unit="cust", disable=not progress, leave=False):
        index = len(drafts) + 1
        sim = _Sim(random.Random(f"{seed}:{index}"), reference, by_sku)
        draft, language = _random_customer(sim, index, ctype, reference)
        sim.simulate(draft, PROFILES[ctype], language)
        drafts.append(draft)
    _number_orders(drafts)
    for draft in drafts[len(demo.DEMO_IDS) :]:
        sim = _Sim(random.Random(f"{seed}:{draft.index}:conv"), reference, by_sku)
        sim.conversations(draft, PROFILES[draft.ctype], draft.row["language"])
        mood = _Sim(random.Random(f"{seed}:{draft.index}:mood"), reference, by_sku)
        mood.wobble_conversations(draft, draft.row["language"])
    return _flatten(seed, reference, catalogue, drafts)


def _number_orders(drafts: list[_CustomerDraft]) -> None:
    """Give every order an id (by time) and non-demo orders sequential numbers."""
    all_orders = [(o.created_at, d.index, j, o) for d in drafts for j, o in enumerate(d.orders)]
    all_orders.sort(key=lambda t: (t[0], t[1], t[2]))
    number = FIRST_ORDER_NUMBER
    for order_id, (_, _, _, order) in enumerate(all_orders, start=1):
        order.id = order_id
        if order.number is None:
            if number > LAST_GENERATED_ORDER_NUMBER:
                raise ValueError("too many orders for the LB + 6 digits numbering")
            order.number = f"{ORDER_NUMBER_PREFIX}{number}"
            number += 1


def _flatten(
    seed: int, reference: datetime, catalogue: list[CatalogueRow], drafts: list[_CustomerDraft]
) -> ShopData:
    product_ids = {row.sku: i for i, row in enumerate(catalogue, start=1)}
    products = [
        {
            "id": product_ids[row.sku],
            "sku": row.sku,
            "name_zh": row.name_zh,
            "name_en": row.name_en,
            "category": row.category,
            "price_cents": row.price_cents,
            "active": True,
        }
        for row in catalogue
    ]
    customers = [d.row for d in drafts]
    orders: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    order_drafts = sorted(((o, d.index) for d in drafts for o in d.orders), key=lambda t: t[0].id)
    for order, customer_id in order_drafts:
        orders.append(
            {
                "id": order.id,
                "order_number": order.number,
                "customer_id": customer_id,
                "created_at": order.created_at,
                "status": order.status,
                "shipping_status": order.shipping_status,
                "carrier": order.carrier,
                "tracking_number": order.tracking_number,
                "shipped_at": order.shipped_at,
                "delivered_at": order.delivered_at,
                "estimated_delivery": order.estimated_delivery,
                "total_cents": order.total_cents,
            }
        )
        for sku, qty, price in order.items:
            items.append(
                {
                    "id": len(items) + 1,
                    "order_id": order.id,
                    "product_id": product_ids[sku],
                    "quantity": qty,
                    "unit_price_cents": price,
                }
            )
    subs = sorted(
        ((s, d.index) for d in drafts for s in d.subscriptions),
        key=lambda t: (t[0].started_at, t[1]),
    )
    sub_rows: list[dict[str, Any]] = []
    event_rows: list[dict[str, Any]] = []
    for sub_id, (sub, customer_id) in enumerate(subs, start=1):
        sub.id = sub_id
        sub_rows.append(
            {
                "id": sub_id,
                "customer_id": customer_id,
                "plan": sub.plan,
                "status": sub.status,
                "started_at": sub.started_at,
                "paused_until": sub.paused_until,
                "canceled_at": sub.canceled_at,
                "cancel_reason": sub.cancel_reason,
                "next_renewal_at": sub.next_renewal_at,
                "price_cents": sub.price_cents,
            }
        )
        for kind, at, note in sorted(sub.events, key=lambda e: e[1]):
            event_rows.append({"subscription_id": sub_id, "kind": kind, "at": at, "note": note})
    event_rows.sort(key=lambda e: (e["at"], e["subscription_id"]))
    for i, row in enumerate(event_rows, start=1):
        row["id"] = i
    refunds = sorted(
        ((r, d.index) for d in drafts for r in d.refunds), key=lambda t: (t[0].created_at, t[1])
    )
    refund_rows = [
        {
            "id": i,
            "customer_id": customer_id,
            "order_id": r.order.id if r.order is not None else None,
            "reason": r.reason,
            "status": r.status,
            "source": r.source,
            "created_at": r.created_at,
        }
        for i, (r, customer_id) in enumerate(refunds, start=1)
    ]
    convs = sorted(
        ((c, d) for d in drafts for c in d.conversations),
        key=lambda t: (t[0].started_at, t[0].sender_id),
    )
    conv_rows: list[dict[str, Any]] = []
    message_rows: list[dict[str, Any]] = []
    for conv_id, (conv, draft) in enumerate(convs, start=1):
        conv.id = conv_id
        language = draft.row["language"]
        conv_rows.append(
            {
                "id": conv_id,
                "sender_id": conv.sender_id,
                "customer_id": draft.index,
                "channel": conv.channel,
                "language": language,
                "started_at": conv.started_at,
                "last_message_at": conv.messages[-1].created_at
                if conv.messages
                else conv.started_at,
                "needs_handoff": conv.needs_handoff,
                "handoff_reason": conv.handoff_reason,
                "status": conv.status,
                "rating": conv.rating,
                "reviewed": conv.reviewed,
            }
        )
        for k, m in enumerate(conv.messages):
            message_rows.append(
                {
                    "conversation_id": conv_id,
                    "event_key": f"{conv.sender_id}:{k}",
                    "role": m.role,
                    "text": m.text,
                    "language": language,
                    "intent": m.intent,
                    "confidence": m.confidence,
                    "entities": m.entities,
                    "action": m.action,
                    "sentiment": m.sentiment,
                    "created_at": m.created_at,
                }
            )
    message_rows.sort(key=lambda m: (m["created_at"], m["event_key"]))
    for i, row in enumerate(message_rows, start=1):
        row["id"] = i
    tables: dict[str, list[dict[str, Any]]] = {
        Customer.__tablename__: customers,
        Product.__tablename__: products,
        Order.__tablename__: orders,
        OrderItem.__tablename__: items,
        Subscription.__tablename__: sub_rows,
        SubscriptionEvent.__tablename__: event_rows,
        RefundRequest.__tablename__: refund_rows,
        Conversation.__tablename__: conv_rows,
        Message.__tablename__: message_rows,
    }
    return ShopData(
        seed=seed,
        reference=reference,
        tables=tables,
        customer_types={d.row["external_id"]: d.ctype for d in drafts},
        churned_at={d.row["external_id"]: d.churned_at for d in drafts},
    )


# --- writing ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedResult:
    """Outcome of :func:`seed_database`.

    Attributes:
        seeded: Whether rows were written (``False`` if the store was already seeded).
        counts: Rows per table in the database afterwards.
        seconds: Wall time of generation plus writing.
        data: The generated data (``None`` if nothing was seeded).
    """

    seeded: bool
    counts: dict[str, int]
    seconds: float
    data: ShopData | None = None


def _tables_in_insert_order() -> list[str]:
    return [model.__tablename__ for model in ALL_MODELS]


def count_rows(engine: Engine) -> dict[str, int]:
    """Count the rows of every store table.

    Args:
        engine: The engine of a migrated store.

    Returns:
        Rows per table name.
    """
    counts: dict[str, int] = {}
    with engine.connect() as conn:
        for model in ALL_MODELS:
            table = Base.metadata.tables[model.__tablename__]
            counts[table.name] = conn.execute(select(func.count()).select_from(table)).scalar_one()
    return counts


def clear_store(engine: Engine) -> None:
    """Delete every row of the store tables (children first).

    Args:
        engine: The engine of a migrated store.
    """
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(_tables_in_insert_order())
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            return
        for name in reversed(_tables_in_insert_order()):
            conn.execute(Base.metadata.tables[name].delete())


def write_shop(engine: Engine, data: ShopData, *, progress: bool = False) -> None:
    """Bulk-insert generated rows into an empty, migrated store in one transaction.

    On PostgreSQL the id sequences are moved past the inserted ids afterwards.

    Args:
        engine: The engine of the store.
        data: The generated data.
        progress: Show a tqdm progress bar.
    """
    total = sum(len(rows) for rows in data.tables.values())
    with (
        engine.begin() as conn,
        tqdm(total=total, desc="insert", unit="row", disable=not progress, leave=False) as bar,
    ):
        for name in _tables_in_insert_order():
            rows = data.tables[name]
            table = Base.metadata.tables[name]
            for start in range(0, len(rows), INSERT_CHUNK):
                chunk = rows[start : start + INSERT_CHUNK]
                conn.execute(insert(table), chunk)
                bar.update(len(chunk))
        if conn.dialect.name == "postgresql":
            for name in _tables_in_insert_order():
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM {name}"
                    )
                )


def seed_database(
    url: str,
    *,
    n_customers: int = DEFAULT_CUSTOMERS,
    seed: int = DEFAULT_SEED,
    reference: datetime | None = None,
    reset: bool = False,
    progress: bool = False,
    migrate: bool = True,
) -> SeedResult:
    """Migrate the store at ``url`` and fill it with the demo shop.

    Args:
        url: SQLAlchemy URL of the store.
        n_customers: Total customers, including the four demo customers.
        seed: Random seed.
        reference: End of the history; defaults to today 00:00 UTC.
        reset: Delete existing rows first; without it a non-empty store is left alone.
        progress: Show tqdm progress bars.
        migrate: Upgrade the schema to head first.

    Returns:
        What happened, with row counts.
    """
    from analytics.store.db import make_engine, upgrade_to_head

    started = time.perf_counter()
    if migrate:
        upgrade_to_head(url)
    engine = make_engine(url)
    try:
        counts = count_rows(engine)
        if counts[Customer.__tablename__] and not reset:
            logger.info("Store already has %d customers", counts[Customer.__tablename__])
            return SeedResult(False, counts, time.perf_counter() - started)
        if any(counts.values()):
            clear_store(engine)
        data = generate_shop(n_customers, seed=seed, reference=reference, progress=progress)
        write_shop(engine, data, progress=progress)
        counts = count_rows(engine)
    finally:
        engine.dispose()
    seconds = time.perf_counter() - started
    logger.info("Seeded %s in %.1f s", counts, seconds)
    return SeedResult(True, counts, seconds, data)
