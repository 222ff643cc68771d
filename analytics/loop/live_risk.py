"""Live churn risk: updated from what a customer just said, between nightly refits.

The nightly brain writes ``customer_scores.churn_risk`` (:mod:`analytics.store.scores`). During a
conversation the ingest worker calls :func:`update_live_risk` after every user message of a
verified customer. The live risk starts from the stored nightly score (or a prior when the
customer was never scored) and adds log-odds for fresh signals, each with a reason in
Chinese and English:

* a cancel request (and repeated cancel requests), a pause request, a refund request;
* anger: a complaint or a clearly negative message (sentiment below -0.5);
* repeated order-status questions this week, worded "asked about a late order three times
  this week" when one of the customer's recent orders is late;
* repeated complaints or fallbacks in the last 30 days, a request for a person;
* thanks or praise lower the risk.

One current row per customer is kept in ``live_risk`` (upserted, so replaying the same
message changes nothing). ``alert`` is set when the level rises to ``high``, for the founder.
The action server reads it with :func:`get_live_risk`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from analytics.brain.conversation_features import customers_conversation_features
from analytics.core.vocabulary import (
    ANGRY_SENTIMENT,
    LANG_EN,
    LANG_ZH,
    RISK_LEVEL_HIGH,
    risk_band,
)
from analytics.store.models import SHIP_DELIVERED, Customer, LiveRisk, Order

logger = logging.getLogger(__name__)

PRIOR_RISK = 0.2
"""Risk of a customer the nightly brain has not scored yet."""
LATE_ORDER_LOOKBACK = timedelta(days=60)
_EPSILON = timedelta(microseconds=1)

_EN_TIMES = {1: "once", 2: "twice", 3: "three times", 4: "four times", 5: "five times"}
_ZH_NUM = {1: "一", 2: "两", 3: "三", 4: "四", 5: "五", 6: "六", 7: "七", 8: "八", 9: "九"}


@dataclass(frozen=True)
class RiskReason:
    """One reason behind a live risk change.

    Attributes:
        code: A stable identifier, e.g. ``late_order_repeat``.
        contribution: Log-odds added (negative lowers the risk).
        en: The reason in English.
        zh: The reason in Chinese.
    """

    code: str
    contribution: float
    en: str
    zh: str

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "code": self.code,
            "contribution": round(self.contribution, 3),
            LANG_EN: self.en,
            LANG_ZH: self.zh,
        }


@dataclass(frozen=True)
class Utterance:
    """What the customer just said (already redacted and classified).

    Attributes:
        intent: The NLU intent.
        sentiment: Sentiment in [-1, 1], if scored.
        at: When it was said.
        sender_id: The conversation.
        event_key: The message's idempotency key.
        earlier_intents: Intents of the customer's other messages ingested in the same batch
            (under load the worker updates once per customer and batch, not per message).
    """

    intent: str | None
    sentiment: float | None
    at: datetime
    sender_id: str | None = None
    event_key: str | None = None
    earlier_intents: tuple[str, ...] = ()

    @property
    def intents(self) -> frozenset[str]:
        """Every intent said in this update."""
        return frozenset(i for i in (self.intent, *self.earlier_intents) if i)


def _en_times(n: int) -> str:
    return _EN_TIMES.get(n, f"{n} times")


def _zh_times(n: int) -> str:
    return f"{_ZH_NUM.get(n, str(n))}次"


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def late_order_customers(session: Session, at_by_customer: dict[int, datetime]) -> set[int]:
    """The customers with a recent late order as known at their own time.

    Late means delivered after its estimate, delayed in transit, or not delivered although
    the estimated date has passed; recent means created in the last 60 days.

    Args:
        session: A session on the store.
        at_by_customer: Internal customer id -> the time of the question.

    Returns:
        The ids of customers with a late order.
    """
    if not at_by_customer:
        return set()
    earliest = min(at_by_customer.values()) - LATE_ORDER_LOOKBACK
    ids = sorted(at_by_customer)
    late: set[int] = set()
    for start in range(0, len(ids), 500):
        orders = session.scalars(
            select(Order).where(
                Order.customer_id.in_(ids[start : start + 500]),
                Order.created_at >= earliest,
            )
        ).all()
        for order in orders:
            at = at_by_customer[order.customer_id]
            if not at - LATE_ORDER_LOOKBACK <= order.created_at < at:
                continue
            eta = order.estimated_delivery
            if order.is_late or (
                eta is not None and eta < at and order.shipping_status != SHIP_DELIVERED
            ):
                late.add(order.customer_id)
    return late


def has_late_order(session: Session, customer_id: int, at: datetime) -> bool:
    """Whether one of the customer's recent orders is late as known at ``at``.

    Args:
        session: A session on the store.
        customer_id: The internal customer id.
        at: The time of the question.

    Returns:
        Whether a late order exists among orders created in the last 60 days.
    """
    return customer_id in late_order_customers(session, {customer_id: at})


def base_risks(session: Session, customer_ids: list[int]) -> dict[int, float]:
    """The nightly churn probabilities of customers, :data:`PRIOR_RISK` when unscored.

    Args:
        session: A session on the store.
        customer_ids: Internal customer ids.

    Returns:
        Customer id -> probability.
    """
    risks = dict.fromkeys(customer_ids, PRIOR_RISK)
    try:
        from analytics.store.models import CustomerScore
    except ImportError:  # the brain's scores module is optional for the loop
        return risks
    for start in range(0, len(customer_ids), 500):
        rows = session.execute(
            select(CustomerScore.customer_id, CustomerScore.churn_risk).where(
                CustomerScore.customer_id.in_(customer_ids[start : start + 500])
            )
        )
        for cid, risk in rows:
            risks[int(cid)] = float(risk)
    return risks


def explain(
    utterance: Utterance, features: dict[str, float], *, late_order: bool
) -> list[RiskReason]:
    """The reasons (with log-odds) behind a live update.

    Args:
        utterance: What was just said.
        features: The customer's conversation features including this message.
        late_order: Whether a recent order of the customer is late.

    Returns:
        Reasons, largest absolute contribution first.
    """
    reasons: list[RiskReason] = []
    said = utterance.intents
    intent = utterance.intent or ""
    cancels = int(features.get("cancel_intents_30d", 0))
    if "cancel_subscription" in said:
        extra = 0.4 * max(0, min(cancels, 4) - 1)
        if cancels >= 2:
            en = f"asked to cancel the subscription {_en_times(cancels)} in 30 days"
            zh = f"30 天内{_zh_times(cancels)}提出取消订阅"
        else:
            en, zh = "wants to cancel the subscription", "提出要取消订阅"
        reasons.append(RiskReason("cancel_intent", 1.5 + extra, en, zh))
    elif "pause_subscription" in said:
        reasons.append(
            RiskReason("pause_intent", 0.3, "wants to pause the subscription", "想暂停订阅")
        )
    if "refund_request" in said:
        reasons.append(RiskReason("refund_intent", 0.8, "asked for a refund", "申请了退款"))
    angry = utterance.sentiment is not None and utterance.sentiment < ANGRY_SENTIMENT
    if said & {"complain", "report_problem"} or angry:
        reasons.append(
            RiskReason("upset", 0.9, "is upset in this conversation", "在本次对话中表达了不满")
        )
    asked = int(features.get("order_status_7d", 0))
    if "order_status" in said and asked >= 2:
        n = min(asked, 5)
        weight = (0.5 if late_order else 0.25) * (n - 1)
        if late_order:
            en = f"asked about a late order {_en_times(asked)} this week"
            zh = f"本周{_zh_times(asked)}询问延迟的订单"
        else:
            en = f"asked where an order is {_en_times(asked)} this week"
            zh = f"本周{_zh_times(asked)}询问订单到哪了"
        reasons.append(RiskReason("order_status_repeat", weight, en, zh))
    complaints = int(features.get("complaints_30d", 0) + features.get("problems_30d", 0))
    if complaints >= 2:
        reasons.append(
            RiskReason(
                "complaints_30d",
                0.3 * min(complaints - 1, 3),
                f"complained {_en_times(complaints)} in 30 days",
                f"30 天内投诉{_zh_times(complaints)}",
            )
        )
    fallbacks = int(features.get("fallbacks_30d", 0))
    if fallbacks >= 2:
        reasons.append(
            RiskReason(
                "fallbacks_30d",
                0.2 * min(fallbacks - 1, 3),
                f"the bot did not understand them {_en_times(fallbacks)} in 30 days",
                f"30 天内机器人{_zh_times(fallbacks)}没听懂",
            )
        )
    if "human_handoff" in said:
        reasons.append(RiskReason("handoff", 0.3, "asked for a person", "要求人工服务"))
    if intent in ("praise", "thank") and not angry and len(reasons) == 0:
        reasons.append(
            RiskReason("praise", -0.4, "thanked or praised the shop", "表达了感谢或好评")
        )
    reasons.sort(key=lambda r: -abs(r.contribution))
    return reasons


def update_live_risk(session: Session, customer_id: int, utterance: Utterance) -> LiveRisk:
    """Recompute and store a customer's live risk after a message (idempotent).

    The features include the message itself (cutoff just after ``utterance.at``). Replaying
    the same message yields the same row. The caller commits.

    Args:
        session: A session on the store.
        customer_id: The internal customer id.
        utterance: What was just said.

    Returns:
        The stored row.
    """
    return update_live_risks(session, {customer_id: utterance})[customer_id]


def update_live_risks(session: Session, updates: dict[int, Utterance]) -> dict[int, LiveRisk]:
    """:func:`update_live_risk` for several customers with a handful of queries in all.

    Args:
        session: A session on the store.
        updates: Internal customer id -> what they just said.

    Returns:
        Customer id -> the stored row.
    """
    if not updates:
        return {}
    ids = sorted(updates)
    features = customers_conversation_features(
        session, {cid: u.at + _EPSILON for cid, u in updates.items()}
    )
    late = late_order_customers(
        session, {cid: u.at for cid, u in updates.items() if "order_status" in u.intents}
    )
    bases = base_risks(session, ids)
    existing = {
        row.customer_id: row
        for start in range(0, len(ids), 500)
        for row in session.scalars(
            select(LiveRisk).where(LiveRisk.customer_id.in_(ids[start : start + 500]))
        )
    }
    out: dict[int, LiveRisk] = {}
    changed: list[dict[str, Any]] = []
    for cid in ids:
        utterance = updates[cid]
        at = utterance.at
        row = existing.get(cid)
        if row is not None and row.updated_at is not None and row.updated_at > at:
            out[cid] = row  # an older message replayed after a newer one: keep the newer state
            continue
        reasons = explain(utterance, features[cid], late_order=cid in late)
        base = bases[cid]
        score = _sigmoid(_logit(base) + sum(r.contribution for r in reasons))
        level = risk_band(score)
        previous_level = risk_band(base) if row is None else row.level
        values: dict[str, Any] = {
            "score": round(score, 4),
            "base_score": round(base, 4),
            "level": level,
            "reasons": [r.as_dict() for r in reasons],
            "features": {k: round(v, 4) for k, v in features[cid].items()},
            "sender_id": utterance.sender_id,
            "event_key": utterance.event_key,
            "alert": level == RISK_LEVEL_HIGH
            and (previous_level != RISK_LEVEL_HIGH or bool(row is not None and row.alert)),
            "updated_at": at,
        }
        if row is None:
            row = LiveRisk(customer_id=cid, **values)
            session.add(row)
        else:
            # Written below with one executemany for all existing rows (the ORM would send
            # one UPDATE per distinct set of changed columns); the loaded row is kept current.
            for key, value in values.items():
                set_committed_value(row, key, value)
            changed.append({"pk": cid, **{f"v_{key}": value for key, value in values.items()}})
        if level == RISK_LEVEL_HIGH and previous_level != RISK_LEVEL_HIGH:
            logger.debug("Live risk of customer %s rose to high (%.2f)", cid, score)
        out[cid] = row
    if changed:
        table = cast(Table, LiveRisk.__table__)
        session.execute(
            update(table)
            .where(table.c.customer_id == bindparam("pk"))
            .values({key[2:]: bindparam(key) for key in changed[0] if key != "pk"}),
            changed,
        )
    session.flush()
    return out


def get_live_risk(session: Session, customer_id: int) -> LiveRisk | None:
    """The current live risk of a customer (internal id), or ``None``.

    Args:
        session: A session on the store.
        customer_id: The internal customer id.

    Returns:
        The row, or ``None`` if the customer has not chatted since the table existed.
    """
    return session.get(LiveRisk, customer_id)


def get_live_risk_by_external_id(session: Session, external_id: str) -> LiveRisk | None:
    """The current live risk of a customer by the id the host website sends.

    Args:
        session: A session on the store.
        external_id: E.g. ``cus_0001``.

    Returns:
        The row, or ``None``.
    """
    stmt = (
        select(LiveRisk)
        .join(Customer, Customer.id == LiveRisk.customer_id)
        .where(Customer.external_id == external_id)
    )
    return session.scalars(stmt).first()
