"""Random customers of the demo shop: names, contact details, city and acquisition channel.

About 70% write Chinese (a Chinese name, an ``example.cn`` e-mail, usually a mobile number,
a Chinese city), the others English. Signup dates spread over ``HISTORY_DAYS`` (the ``new``
type in the last ``NEW_SIGNUP_DAYS``); the acquisition channel and its cost depend on the
latent type.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from analytics.core.vocabulary import LANG_EN, LANG_ZH
from analytics.demo.drafts import CustomerDraft, Sim
from analytics.demo.profiles import (
    HISTORY_DAYS,
    NEW_SIGNUP_DAYS,
    TYPE_BARGAIN,
    TYPE_COMPLAINER,
    TYPE_LAPSING,
    TYPE_LOYAL,
    TYPE_NEW,
)

logger = logging.getLogger(__name__)

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


def random_customer(
    sim: Sim, index: int, ctype: str, reference: datetime
) -> tuple[CustomerDraft, str]:
    """Draw a random customer of latent type ``ctype``.

    Args:
        sim: The customer's random stream.
        index: The customer id.
        ctype: The latent type.
        reference: The reference date (end of history).

    Returns:
        The customer draft (no orders yet) and its language.
    """
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
    row = customer_row(index, name, email, phone, language, city, created, channel, cost)
    return CustomerDraft(index=index, ctype=ctype, row=row), language


def customer_row(
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
    """Return the customers-table row of customer ``index`` (points are set later)."""
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
