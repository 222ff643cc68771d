"""The inbox's filters and order, as SQL on the conversation facts.

Every filter is driven by an indexed column of the store or of the console's facts tables
(:mod:`web.console.facts`); ``conversations`` is joined only when a filter needs it. The
churn-risk filter uses the bands of :mod:`analytics.core.vocabulary`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from analytics.core.vocabulary import RISK_LEVEL_LOW, RISK_MEDIUM
from analytics.store.models import Conversation, Customer
from analytics.store.models.console import (
    ConversationFacts,
    ConversationIntent,
    ConversationTag,
    CustomerFacts,
)
from web.console.queries.common import SORT_RISK, band_condition, day_start, filters_query, flag
from web.console.queries.search import key, search_condition

SORT_RECENT = "recent"
RATING_NONE = "none"
RATING_LOW = "low"
LOW_RATING_MAX = 3
"""Ratings up to this are "low"."""

CONVERSATION_FILTERS = (
    "date_to",
    "channel",
    "language",
    "handoff",
    "reviewed",
    "rating",
    "status",
    "customer",
    "segment",
    "risk",
)
"""Filters on columns of ``conversations`` (the facts table alone cannot answer them)."""


@dataclass
class InboxFilters:
    """The inbox's filters, as given in the query string (all optional)."""

    q: str = ""
    date_from: date | None = None
    date_to: date | None = None
    channel: str = ""
    language: str = ""
    intent: str = ""
    segment: str = ""
    risk: str = ""
    fallback: str = ""
    handoff: str = ""
    rating: str = ""
    reviewed: str = ""
    tag: str = ""
    status: str = ""
    customer: str = ""
    sort: str = SORT_RISK
    page: int = 1

    def query_string(self, **changes: Any) -> str:
        """The filters as a query string, with some values changed (for links)."""
        return filters_query(asdict(self), **changes)


def has_filters(f: InboxFilters) -> bool:
    """Whether any filter is set (else the count is the facts table's size)."""
    return bool(f.q.strip() or f.date_from or f.intent or f.fallback or f.tag) or any(
        getattr(f, name) for name in CONVERSATION_FILTERS
    )


def _customers_where(*conditions: Any) -> Any:
    return select(CustomerFacts.customer_id).where(*conditions)


def _risk_condition(f: InboxFilters, customer_id: Any) -> Any:
    """Conversations of customers in the churn-risk band (anonymous ones count as low)."""
    if f.risk == RISK_LEVEL_LOW:
        return or_(
            Conversation.customer_id.is_(None),
            customer_id.not_in(_customers_where(CustomerFacts.churn_risk >= RISK_MEDIUM)),
        )
    band = band_condition(CustomerFacts.churn_risk, f.risk)
    return None if band is None else customer_id.in_(_customers_where(band))


def filtered(
    db: Session, f: InboxFilters, columns: list[Any], *, driving: bool = True
) -> Select[Any]:
    """The facts table, joined to ``conversations`` only when a filter needs it.

    Args:
        db: A session on the store.
        f: The filters.
        columns: What to select.
        driving: Whether filters may drive the plan (see
            :func:`web.console.queries.search.key`); pass ``False`` when many rows match
            and the query is ordered and limited.

    Returns:
        The ``SELECT`` with every filter's condition.
    """
    facts_id = key(db, ConversationFacts.conversation_id, driving)
    customer_id = key(db, Conversation.customer_id, driving)
    query = select(*columns).select_from(ConversationFacts)
    if any(getattr(f, name) for name in CONVERSATION_FILTERS):
        query = query.join(Conversation, Conversation.id == facts_id)
    conditions: list[Any] = []
    if f.q.strip():
        conditions.append(search_condition(db, f.q, driving=driving))
    if f.date_from:
        last_at = key(db, ConversationFacts.last_message_at, driving)
        conditions.append(last_at >= day_start(f.date_from))
    if f.date_to:
        conditions.append(Conversation.started_at < day_start(f.date_to + timedelta(days=1)))
    if f.channel:
        conditions.append(Conversation.channel == f.channel)
    if f.language:
        conditions.append(Conversation.language == f.language)
    if f.intent:
        intents = select(ConversationIntent.conversation_id)
        conditions.append(facts_id.in_(intents.where(ConversationIntent.intent == f.intent)))
    if f.segment:
        conditions.append(customer_id.in_(_customers_where(CustomerFacts.segment == f.segment)))
    if f.risk:
        risk = _risk_condition(f, customer_id)
        if risk is not None:
            conditions.append(risk)
    handoff = flag(f.handoff)
    if handoff is not None:
        had = or_(Conversation.needs_handoff.is_(True), Conversation.handoff_reason.is_not(None))
        conditions.append(had if handoff else ~had)
    for value, col in (
        (f.fallback, ConversationFacts.had_fallback),
        (f.reviewed, Conversation.reviewed),
    ):
        wanted = flag(value)
        if wanted is not None:
            conditions.append(col.is_(True) if wanted else or_(col.is_(False), col.is_(None)))
    if f.rating == RATING_NONE:
        conditions.append(Conversation.rating.is_(None))
    elif f.rating == RATING_LOW:
        conditions.append(Conversation.rating <= LOW_RATING_MAX)
    elif f.rating.isdigit():
        conditions.append(Conversation.rating == int(f.rating))
    if f.tag:
        tagged = select(ConversationTag.conversation_id).where(ConversationTag.tag == f.tag)
        conditions.append(facts_id.in_(tagged))
    if f.status:
        conditions.append(Conversation.status == f.status)
    if f.customer:
        by_external_id = select(Customer.id).where(Customer.external_id == f.customer)
        conditions.append(customer_id == by_external_id.scalar_subquery())
    return query.where(*conditions) if conditions else query


def order(f: InboxFilters) -> list[Any]:
    """The inbox order; both orders are served by an index of the facts table."""
    if f.sort == SORT_RECENT:
        return [ConversationFacts.last_message_at.desc(), ConversationFacts.conversation_id.desc()]
    return [
        ConversationFacts.risk_cents.desc(),
        ConversationFacts.last_message_at.desc(),
        ConversationFacts.conversation_id.desc(),
    ]
