"""The demo-shop generator: determinism, demo customers, realism and churn signal."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path
from statistics import mean
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from analytics.cli import main
from analytics.demo import customers as demo
from analytics.demo.generator import ShopData, generate_shop, seed_database
from analytics.demo.profiles import (
    CUSTOMER_TYPES,
    TYPE_BARGAIN,
    TYPE_COMPLAINER,
    TYPE_LAPSING,
    TYPE_LOYAL,
)
from analytics.demo.writer import count_rows
from analytics.store import repositories as repo
from analytics.store.db import make_engine, make_sessionmaker
from analytics.store.models import (
    ALL_MODELS,
    CATEGORY_COFFEE,
    CATEGORY_TEA,
    ORDER_CANCELLED,
    ORDER_DELIVERED,
    SHIP_DELAYED,
    SHIP_DELIVERED,
    SHIP_IN_TRANSIT,
    SUB_ACTIVE,
    SUB_CANCELED,
    SUB_PAUSED,
    Base,
    Conversation,
    Message,
    Order,
)
from tests.analytics.conftest import REFERENCE, SMALL_N, SeededStore

ORDER_NUMBER = re.compile(r"^LB\d{6}$")
TRACKING = {"SF Express": "SF", "JD Logistics": "JD", "YTO Express": "YT"}


@pytest.fixture(scope="module")
def big_shop() -> ShopData:
    """The full-size shop (2,000 customers), in memory only."""
    return generate_shop(2000, seed=42, reference=REFERENCE)


def _dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    dump: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for model in ALL_MODELS:
            table = Base.metadata.tables[model.__tablename__]
            dump[table.name] = [tuple(r) for r in conn.execute(select(table).order_by(table.c.id))]
    return dump


def test_same_seed_same_rows_different_seed_different(tmp_path: Path) -> None:
    dumps = []
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        url = f"sqlite:///{tmp_path / name}.db"
        seed_database(url, n_customers=60, seed=seed, reference=REFERENCE)
        engine = make_engine(url)
        try:
            dumps.append(_dump(engine))
        finally:
            engine.dispose()
    assert dumps[0] == dumps[1]
    assert dumps[0]["orders"] != dumps[2]["orders"]
    assert dumps[0]["customers"] != dumps[2]["customers"]


def test_generation_is_deterministic_in_memory(small_shop: ShopData) -> None:
    again = generate_shop(SMALL_N, seed=42, reference=REFERENCE)
    assert again.tables == small_shop.tables
    assert again.customer_types == small_shop.customer_types
    other = generate_shop(SMALL_N, seed=43, reference=REFERENCE)
    assert other.tables["orders"] != small_shop.tables["orders"]


def test_demo_customers_are_fixed_across_seeds(small_shop: ShopData) -> None:
    other = generate_shop(SMALL_N, seed=1234, reference=REFERENCE)
    for name in ("customers", "orders"):
        mine = [r for r in small_shop.tables[name] if _demo_row(name, r)]
        theirs = [r for r in other.tables[name] if _demo_row(name, r)]
        strip = ("id",)
        assert [{k: v for k, v in r.items() if k not in strip} for r in mine] == [
            {k: v for k, v in r.items() if k not in strip} for r in theirs
        ]


def _demo_row(table: str, row: dict[str, Any]) -> bool:
    if table == "customers":
        return row["external_id"] in demo.DEMO_IDS
    return str(row["order_number"]).startswith(demo.DEMO_ORDER_PREFIX)


def test_demo_customers_in_store(seeded_store: SeededStore) -> None:
    factory = make_sessionmaker(seeded_store.engine)
    with factory() as session:
        _check_demo_customers(session)


def _check_demo_customers(session: Session) -> None:
    customers = {ext: repo.get_customer(session, ext) for ext in demo.DEMO_IDS}
    for ext, customer in customers.items():
        assert customer is not None
        assert customer.name == demo.DEMO_NAMES[ext]
        assert customer.language == demo.DEMO_LANGUAGES[ext]
    wang, emily, lina, tom = (customers[ext] for ext in demo.DEMO_IDS)
    assert wang is not None and emily is not None and lina is not None and tom is not None

    sub = repo.current_subscription(session, wang.id)
    assert sub is not None and (sub.plan, sub.status) == ("S01", SUB_ACTIVE)
    assert sub.next_renewal_at is not None and sub.next_renewal_at > REFERENCE
    latest = repo.latest_order(session, wang.id)
    assert latest is not None and latest.order_number == demo.DEMO_ZH_LATEST_ORDER
    assert latest.shipping_status == SHIP_IN_TRANSIT and latest.tracking_number

    sub = repo.current_subscription(session, emily.id)
    assert sub is not None and (sub.plan, sub.status) == ("S02", SUB_ACTIVE)
    latest = repo.latest_order(session, emily.id)
    assert latest is not None and latest.order_number == demo.DEMO_EN_LATEST_ORDER
    assert latest.shipping_status == SHIP_DELIVERED and latest.status == ORDER_DELIVERED

    latest = repo.latest_order(session, lina.id)
    assert latest is not None and latest.order_number == demo.DEMO_VIP_LATEST_ORDER
    assert latest.is_late
    assert REFERENCE - latest.created_at > timedelta(days=30)  # lapsing
    lina_sub = repo.current_subscription(session, lina.id)
    assert lina_sub is not None and lina_sub.status == SUB_PAUSED  # paused after late boxes
    totals: Counter[int] = Counter()
    for cid, total in session.execute(
        select(Order.customer_id, Order.total_cents).where(Order.status != ORDER_CANCELLED)
    ):
        totals[cid] += total
    assert totals.most_common(1)[0][0] == lina.id  # the highest-spending customer
    complaints = session.scalars(
        select(Message.sentiment)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Conversation.customer_id == lina.id, Message.intent == "complain")
    ).all()
    assert complaints and max(s for s in complaints if s is not None) < -0.3
    handoffs = session.scalars(
        select(Conversation).where(Conversation.customer_id == lina.id, Conversation.needs_handoff)
    ).all()
    assert handoffs

    assert REFERENCE - tom.created_at <= timedelta(days=7)
    assert repo.latest_order(session, tom.id) is None
    assert repo.current_subscription(session, tom.id) is None


def _last_purchase(data: ShopData) -> dict[int, Any]:
    last: dict[int, Any] = {}
    for order in data.tables["orders"]:
        if order["status"] != ORDER_CANCELLED:
            cid = order["customer_id"]
            last[cid] = max(last.get(cid, order["created_at"]), order["created_at"])
    return last


def test_churn_signal_by_latent_type(big_shop: ShopData) -> None:
    last = _last_purchase(big_shop)
    inactive: dict[str, list[bool]] = defaultdict(list)
    for customer in big_shop.tables["customers"]:
        if REFERENCE - customer["created_at"] < timedelta(days=180):
            continue
        ctype = big_shop.customer_types[customer["external_id"]]
        seen = last.get(customer["id"])
        inactive[ctype].append(seen is None or REFERENCE - seen > timedelta(days=90))
    rate = {ctype: mean(flags) for ctype, flags in inactive.items()}
    assert rate[TYPE_LAPSING] > rate[TYPE_LOYAL] + 0.3
    assert rate[TYPE_COMPLAINER] > rate[TYPE_LOYAL] + 0.3
    assert rate[TYPE_BARGAIN] > 0.9
    assert rate[TYPE_LOYAL] < 0.4
    churned = [ext for ext, at in big_shop.churned_at.items() if at is not None]
    assert len(churned) > 500
    assert set(big_shop.customer_types.values()) == set(CUSTOMER_TYPES)


def test_conversations_carry_churn_signal(big_shop: ShopData) -> None:
    types = {
        c["id"]: big_shop.customer_types[c["external_id"]] for c in big_shop.tables["customers"]
    }
    conv_customer = {c["id"]: c["customer_id"] for c in big_shop.tables["conversations"]}
    complaints: Counter[str] = Counter()
    sentiments: dict[str, list[float]] = defaultdict(list)
    for message in big_shop.tables["messages"]:
        ctype = types[conv_customer[message["conversation_id"]]]
        if message["intent"] == "complain":
            complaints[ctype] += 1
        if message["role"] == "user" and message["sentiment"] is not None:
            sentiments[ctype].append(message["sentiment"])
    n_type = Counter(types.values())
    per_customer = {t: complaints[t] / n_type[t] for t in n_type}
    assert per_customer[TYPE_COMPLAINER] > 3 * per_customer[TYPE_LOYAL]
    assert mean(sentiments[TYPE_COMPLAINER]) < mean(sentiments[TYPE_LOYAL]) - 0.1
    cancel_intents = {
        types[conv_customer[m["conversation_id"]]]
        for m in big_shop.tables["messages"]
        if m["intent"] == "cancel_subscription"
    }
    assert cancel_intents  # cancellations were discussed in chat


def _doubt_times(data: ShopData) -> dict[str, list[Any]]:
    """When each customer sent a doubting message (cancel, pause, complaint or negative)."""
    owner = {c["id"]: c["customer_id"] for c in data.tables["conversations"]}
    external = {c["id"]: c["external_id"] for c in data.tables["customers"]}
    times: dict[str, list[Any]] = defaultdict(list)
    for m in data.tables["messages"]:
        doubt = m["intent"] in ("cancel_subscription", "pause_subscription", "complain")
        if m["role"] == "user" and (doubt or m["sentiment"] < -0.3):
            times[external[owner[m["conversation_id"]]]].append(m["created_at"])
    return times


def test_churners_say_so_in_chat_before_leaving(big_shop: ShopData) -> None:
    """About half of the churners show doubts in the 80 days before they stop, many without
    a late order or refund behind it; customers who stay do so far less often (noise)."""
    doubts = _doubt_times(big_shop)
    external = {c["id"]: c["external_id"] for c in big_shop.tables["customers"]}
    bad: dict[str, list[Any]] = defaultdict(list)
    for o in big_shop.tables["orders"]:
        late = o["delivered_at"] is not None and o["delivered_at"] > o["estimated_delivery"]
        if late or o["status"] == "refunded":
            bad[external[o["customer_id"]]].append(o["created_at"])
    demo_ids = set(demo.DEMO_IDS)
    churners = {
        ext: at for ext, at in big_shop.churned_at.items() if at is not None and ext not in demo_ids
    }
    said = [
        ext
        for ext, at in churners.items()
        if any(at - timedelta(days=80) <= t < at for t in doubts[ext])
    ]
    without_bad_order = [
        ext
        for ext in said
        if not any(churners[ext] - timedelta(days=180) <= t < churners[ext] for t in bad[ext])
    ]
    assert len(churners) > 500
    assert 0.4 < len(said) / len(churners) < 0.65
    assert len(without_bad_order) / len(churners) > 0.2
    created = {c["external_id"]: c["created_at"] for c in big_shop.tables["customers"]}
    stayers = [
        ext
        for ext, at in big_shop.churned_at.items()
        if at is None and ext not in demo_ids and REFERENCE - created[ext] > timedelta(days=200)
    ]
    window = (REFERENCE - timedelta(days=170), REFERENCE - timedelta(days=90))
    noisy = [ext for ext in stayers if any(window[0] <= t < window[1] for t in doubts[ext])]
    assert len(stayers) > 200
    assert 0.02 < len(noisy) / len(stayers) < 0.2  # some noise, far below the churners
    assert len(said) / len(churners) > 3 * len(noisy) / len(stayers)


def test_shop_looks_real(big_shop: ShopData) -> None:
    customers = big_shop.tables["customers"]
    orders = big_shop.tables["orders"]
    assert len(customers) == 2000
    zh_share = mean(c["language"] == "zh" for c in customers)
    assert 0.62 < zh_share < 0.78
    assert {c["external_id"] for c in customers} == {f"cus_{i:04d}" for i in range(1, 2001)}
    numbers = [o["order_number"] for o in orders]
    assert len(set(numbers)) == len(numbers)
    assert all(ORDER_NUMBER.match(n) for n in numbers)
    assert sum(n.startswith(demo.DEMO_ORDER_PREFIX) for n in numbers) == sum(
        1 for o in orders if o["customer_id"] <= 3
    )
    start = REFERENCE - timedelta(days=731)
    for order in orders:
        assert start <= order["created_at"] <= REFERENCE
        if order["tracking_number"]:
            assert order["tracking_number"].startswith(TRACKING[order["carrier"]])
        if order["shipped_at"]:
            assert order["shipped_at"] >= order["created_at"]
        if order["delivered_at"]:
            assert order["delivered_at"] >= order["shipped_at"]
        if order["shipping_status"] in (SHIP_IN_TRANSIT, SHIP_DELAYED):
            assert REFERENCE - order["created_at"] < timedelta(days=14)
        if order["shipping_status"] == SHIP_DELAYED:
            assert order["estimated_delivery"] < REFERENCE
    statuses = Counter(o["shipping_status"] for o in orders)
    assert statuses[SHIP_IN_TRANSIT] > 0 and statuses[SHIP_DELIVERED] > 0.8 * len(orders)
    subs = big_shop.tables["subscriptions"]
    sub_status = Counter(s["status"] for s in subs)
    assert sub_status[SUB_ACTIVE] > 100 and sub_status[SUB_CANCELED] > 50 and sub_status[SUB_PAUSED]
    for sub in subs:
        if sub["status"] == SUB_CANCELED:
            assert sub["canceled_at"] is not None and sub["cancel_reason"]
        if sub["status"] == SUB_PAUSED:
            assert sub["paused_until"] > REFERENCE
    kinds = Counter(e["kind"] for e in big_shop.tables["subscription_events"])
    assert {"start", "renew", "pause", "resume", "skip", "cancel"} <= set(kinds)
    assert kinds["start"] == len(subs) and kinds["cancel"] >= sub_status[SUB_CANCELED]
    assert len(big_shop.tables["refund_requests"]) > 100
    assert len(big_shop.tables["conversations"]) > 500


def test_tea_buyers_buy_tea_and_coffee_buyers_coffee(big_shop: ShopData) -> None:
    sku_category = {p["id"]: p["category"] for p in big_shop.tables["products"]}
    order_customer = {o["id"]: o["customer_id"] for o in big_shop.tables["orders"]}
    units: dict[int, Counter[str]] = defaultdict(Counter)
    for item in big_shop.tables["order_items"]:
        category = sku_category[item["product_id"]]
        if category in (CATEGORY_TEA, CATEGORY_COFFEE):
            units[order_customer[item["order_id"]]][category] += item["quantity"]
    shares = [
        max(counter.values()) / sum(counter.values())
        for counter in units.values()
        if sum(counter.values()) >= 5
    ]
    assert len(shares) > 200
    assert mean(shares) > 0.75


def test_rejects_too_few_customers() -> None:
    with pytest.raises(ValueError, match="at least 4"):
        generate_shop(3, reference=REFERENCE)


def test_seed_cli_refuses_non_empty_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    args = ["--database-url", url, "seed", "--customers", "30", "--reference-date", "2025-06-01"]
    assert main([*args, "--no-progress"]) == 0
    assert "Seeded" in capsys.readouterr().out
    assert main([*args, "--no-progress"]) == 0
    assert "already seeded" in capsys.readouterr().out
    assert main([*args, "--seed", "5", "--reset", "--no-progress"]) == 0
    engine = make_engine(url)
    try:
        assert count_rows(engine)["customers"] == 30
    finally:
        engine.dispose()
    assert main(["--database-url", url, "seed", "--customers", "2", "--reset"]) == 2


def test_seeding_full_shop(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'full.db'}"
    result = seed_database(url, n_customers=2000, reference=REFERENCE)
    assert result.seeded and result.counts["customers"] == 2000
    assert result.counts["orders"] > 5000
