"""Queries of the charts page.

Segment sizes, churn-risk bands over time, top reasons, and weekly intents, fallback rate,
satisfaction and sentiment.

The risk bands are :func:`analytics.core.vocabulary.risk_band` of the same recency estimate
the customer facts use (:func:`web.console.facts.recency_risk`), so a month's "high" is
what the inbox and the bot call high.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from analytics.core.vocabulary import RISK_BANDS, RISK_HIGH, risk_band
from analytics.store.models import Conversation, Order
from analytics.store.models.console import ConversationFacts, CustomerFacts
from web.console.facts import recency_risk, scores_table
from web.console.queries.common import as_list, aware, describe

WEEKS = 12
MONTHS = 12
TOP_REASONS = 8
REASONS_PER_CUSTOMER = 3
MAX_SCORED_ROWS = 50_000
TOP_INTENTS = 6
SOURCE_BRAIN = "brain"
SOURCE_HANDOFF = "handoff"
MONTH_FORMAT = "%Y-%m"
WEEK_FORMAT = "%m-%d"


@dataclass
class Charts:
    """Data series of the charts page."""

    segments: list[tuple[str, int]] = field(default_factory=list)
    risk_months: list[str] = field(default_factory=list)
    risk_series: dict[str, list[float]] = field(default_factory=dict)
    reasons: list[tuple[str, int]] = field(default_factory=list)
    reasons_source: str = ""
    weeks: list[str] = field(default_factory=list)
    intents_per_week: dict[str, list[float]] = field(default_factory=dict)
    fallback_rate: list[float] = field(default_factory=list)
    satisfaction: list[float] = field(default_factory=list)
    sentiment: list[float] = field(default_factory=list)


def _week_start(value: datetime) -> date:
    d = value.date()
    return d - timedelta(days=d.weekday())


def _segments(db: Session) -> list[tuple[str, int]]:
    query = (
        select(CustomerFacts.segment, func.count())
        .group_by(CustomerFacts.segment)
        .order_by(func.count().desc())
    )
    return [(s, int(n)) for s, n in db.execute(query)]


def _risk_over_time(db: Session, out: Charts, months: int) -> None:
    """At each month end, customers with an order bucketed by the risk of their recency."""
    latest = db.scalar(select(func.max(Order.created_at)))
    end = aware(latest) if latest is not None else datetime.now(UTC)
    month_starts = []
    cursor = date(end.year, end.month, 1)
    for _ in range(months):
        month_starts.append(cursor)
        cursor = (cursor - timedelta(days=1)).replace(day=1)
    month_starts.reverse()
    out.risk_months = [m.strftime(MONTH_FORMAT) for m in month_starts]
    bands: dict[str, list[float]] = {band: [] for band in RISK_BANDS}
    for month in month_starts:
        cutoff = datetime.combine((month + timedelta(days=32)).replace(day=1), time.min, tzinfo=UTC)
        last = (
            select(Order.customer_id, func.max(Order.created_at).label("last"))
            .where(Order.created_at < cutoff)
            .group_by(Order.customer_id)
            .subquery()
        )
        counts = dict.fromkeys(RISK_BANDS, 0)
        for value in db.execute(select(last.c.last)).scalars():
            counts[risk_band(recency_risk((cutoff - aware(value)).days))] += 1
        for band in RISK_BANDS:
            bands[band].append(counts[band])
    out.risk_series = bands


def _reasons(db: Session, out: Charts) -> None:
    """From the brain's churn reasons of high-risk customers when scored, else hand-offs."""
    table = scores_table(db)
    counts: dict[str, int] = {}
    if table is not None and "churn_reasons" in table.c:
        out.reasons_source = SOURCE_BRAIN
        query = select(table.c.churn_reasons)
        if "churn_risk" in table.c:
            query = query.where(table.c.churn_risk >= RISK_HIGH)
        for value in db.scalars(query.limit(MAX_SCORED_ROWS)):
            for item in as_list(value)[:REASONS_PER_CUSTOMER]:
                label = describe(item)
                if isinstance(item, dict):
                    label = str(item.get("code") or item.get("key") or label)
                counts[label] = counts.get(label, 0) + 1
    else:
        out.reasons_source = SOURCE_HANDOFF
        for reason, n in db.execute(
            select(Conversation.handoff_reason, func.count())
            .where(Conversation.handoff_reason.is_not(None))
            .group_by(Conversation.handoff_reason)
        ):
            counts[str(reason)] = int(n)
    out.reasons = sorted(counts.items(), key=lambda kv: -kv[1])[:TOP_REASONS]


def _per_week(db: Session, out: Charts, weeks: int) -> None:
    """Weekly conversation series over the last ``weeks`` weeks of conversations."""
    latest = db.scalar(select(func.max(Conversation.last_message_at)))
    last_at = aware(latest) if latest is not None else datetime.now(UTC)
    first_week = _week_start(last_at) - timedelta(weeks=weeks - 1)
    week_list = [first_week + timedelta(weeks=i) for i in range(weeks)]
    out.weeks = [w.strftime(WEEK_FORMAT) for w in week_list]
    since = datetime.combine(first_week, time.min, tzinfo=UTC)
    index = {w: i for i, w in enumerate(week_list)}
    intent_counts: dict[str, list[float]] = {}
    sums: dict[str, list[Any]] = {
        name: [0] * weeks
        for name in ("total", "fallback", "rating", "rating_n", "sentiment", "sentiment_n")
    }
    conv_rows = db.execute(
        select(
            Conversation.started_at,
            Conversation.rating,
            ConversationFacts.intents,
            ConversationFacts.had_fallback,
            ConversationFacts.avg_sentiment,
        )
        .outerjoin(ConversationFacts, ConversationFacts.conversation_id == Conversation.id)
        .where(Conversation.started_at >= since)
    )
    for started, rating, intents, fallback, sentiment in conv_rows:
        i = index.get(_week_start(started))
        if i is None:
            continue
        sums["total"][i] += 1
        sums["fallback"][i] += 1 if fallback else 0
        if rating is not None:
            sums["rating"][i] += rating
            sums["rating_n"][i] += 1
        if sentiment is not None:
            sums["sentiment"][i] += sentiment
            sums["sentiment_n"][i] += 1
        for intent in (intents or "").split():
            intent_counts.setdefault(intent, [0.0] * weeks)[i] += 1
    out.intents_per_week = dict(
        sorted(intent_counts.items(), key=lambda kv: -sum(kv[1]))[:TOP_INTENTS]
    )
    out.fallback_rate = [
        round(100 * fb / n, 1) if n else 0.0
        for fb, n in zip(sums["fallback"], sums["total"], strict=True)
    ]
    out.satisfaction = [
        round(s / n, 2) if n else 0.0 for s, n in zip(sums["rating"], sums["rating_n"], strict=True)
    ]
    out.sentiment = [
        round(s / n, 2) if n else 0.0
        for s, n in zip(sums["sentiment"], sums["sentiment_n"], strict=True)
    ]


def charts(db: Session, *, weeks: int = WEEKS, months: int = MONTHS) -> Charts:
    """Computes the series of the charts page.

    Args:
        db: A session on the store.
        weeks: Weeks of conversation history (intents, fallback rate, satisfaction).
        months: Months of risk history.

    Returns:
        The series.
    """
    out = Charts(segments=_segments(db))
    _risk_over_time(db, out, months)
    _reasons(db, out)
    _per_week(db, out, weeks)
    return out
