"""Queries of the customer list: filters, one page by value at risk, and the CSV export."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from analytics.core.vocabulary import risk_band
from analytics.store.models import Customer
from analytics.store.models.console import CustomerFacts
from web.console.queries.common import (
    MAX_EXPORT_ROWS,
    PAGE_SIZE,
    SORT_RISK,
    Page,
    band_condition,
    filters_query,
)

SORT_NAME = "name"
SORT_SPEND = "spend"
SORTS = (SORT_RISK, SORT_NAME, SORT_SPEND)


@dataclass
class CustomerFilters:
    """Filters of the customer list."""

    q: str = ""
    segment: str = ""
    risk: str = ""
    language: str = ""
    sort: str = SORT_RISK
    page: int = 1

    def query_string(self, **changes: Any) -> str:
        """The filters as a query string, with some values changed."""
        return filters_query(asdict(self), **changes)


CUSTOMER_COLUMNS = [
    Customer.id,
    Customer.external_id,
    Customer.name,
    Customer.email,
    Customer.language,
    Customer.city,
    Customer.created_at,
    CustomerFacts.segment,
    CustomerFacts.churn_risk,
    CustomerFacts.clv_cents,
    CustomerFacts.spend_cents,
    CustomerFacts.order_count,
    CustomerFacts.last_order_at,
    CustomerFacts.source,
]


def _customers_query(f: CustomerFilters, columns: list[Any]) -> Select[Any]:
    query = (
        select(*columns)
        .select_from(Customer)
        .outerjoin(CustomerFacts, CustomerFacts.customer_id == Customer.id)
    )
    conditions: list[Any] = []
    if f.q.strip():
        needle = f"%{f.q.strip()}%"
        conditions.append(
            or_(
                Customer.name.ilike(needle),
                Customer.email.ilike(needle),
                Customer.external_id.ilike(needle),
            )
        )
    if f.segment:
        conditions.append(CustomerFacts.segment == f.segment)
    band = band_condition(CustomerFacts.churn_risk, f.risk)
    if band is not None:
        conditions.append(band)
    if f.language:
        conditions.append(Customer.language == f.language)
    return query.where(*conditions) if conditions else query


def customers(db: Session, f: CustomerFilters, *, page_size: int = PAGE_SIZE) -> Page:
    """One page of the customer list, by value at risk (or name / spend)."""
    total = int(db.scalar(_customers_query(f, [func.count()])) or 0)
    pages = max(1, math.ceil(total / page_size))
    page = min(max(1, f.page), pages)
    query = _customers_query(f, CUSTOMER_COLUMNS)
    if f.sort == SORT_NAME:
        query = query.order_by(Customer.name, Customer.id)
    elif f.sort == SORT_SPEND:
        query = query.order_by(CustomerFacts.spend_cents.desc(), Customer.id)
    else:
        query = query.order_by(
            (CustomerFacts.clv_cents * CustomerFacts.churn_risk).desc(), Customer.id
        )
    rows = [
        dict(r)
        for r in db.execute(query.limit(page_size).offset((page - 1) * page_size)).mappings()
    ]
    for row in rows:
        row["risk_band"] = risk_band(row["churn_risk"])
    return Page(rows, total, page, pages)


def customers_export(db: Session, f: CustomerFilters) -> list[dict[str, Any]]:
    """Every customer matching the filters (capped), for CSV export."""
    query = _customers_query(f, CUSTOMER_COLUMNS).order_by(Customer.id).limit(MAX_EXPORT_ROWS)
    return [dict(r) for r in db.execute(query).mappings()]
