"""Console routes of customers: the list (and its CSV export) and one customer's page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from web.console import charts
from web.console.deps import DB, User, csv_response, dt, render
from web.console.facts import FACTS
from web.console.i18n import t
from web.console.queries import customer as queries
from web.console.queries.common import SORT_RISK
from web.console.queries.customers import (
    SORTS,
    CustomerFilters,
    customers,
    customers_export,
)
from web.console.queries.inbox import filter_options

MAX_QUERY_CHARS = 200
FORMAT_CSV = "csv"
TIMELINE_FORMAT = "%m-%d"

router = APIRouter(include_in_schema=False)  # included by web.console.routes under /console


def customer_filters(
    q: str = "",
    segment: str = "",
    risk: str = "",
    language: str = "",
    sort: str = SORT_RISK,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> CustomerFilters:
    """The customer-list filters from the query string."""
    return CustomerFilters(
        q=q[:MAX_QUERY_CHARS],
        segment=segment,
        risk=risk,
        language=language,
        sort=sort if sort in SORTS else SORT_RISK,
        page=page,
    )


CUSTOMER_CSV_COLUMNS = [
    "external_id",
    "name",
    "email",
    "language",
    "city",
    "created_at",
    "segment",
    "churn_risk",
    "clv_cents",
    "spend_cents",
    "order_count",
    "last_order_at",
    "source",
]


@router.get("/customers", response_class=HTMLResponse)
def customers_page(
    request: Request,
    user: User,
    db: DB,
    filters: Annotated[CustomerFilters, Depends(customer_filters)],
    format: str = "",
) -> Response:
    """Customers by value at risk, with segment and risk filters."""
    FACTS.sync(db)
    if format == FORMAT_CSV:
        return csv_response(customers_export(db, filters), CUSTOMER_CSV_COLUMNS, "customers.csv")
    return render(
        request,
        "customers.html",
        user,
        page=customers(db, filters),
        f=filters,
        options=filter_options(db),
    )


@router.get("/customers/{external_id}", response_class=HTMLResponse)
def customer_page(request: Request, user: User, db: DB, external_id: str) -> HTMLResponse:
    """One customer: scores, live risk, orders, subscription, conversations, charts."""
    FACTS.sync(db)
    customer = queries.customer_by_external_id(db, external_id)
    if customer is None:
        raise HTTPException(status_code=404, detail="no such customer")
    panel = queries.customer_panel(db, customer.id)
    months, spend = queries.spend_per_month(db, customer.id)
    timeline = list(reversed(panel["conversations"])) if panel else []
    spend_chart = charts.line_chart(months, {"¥": spend}, t(user.lang, "orders_chart"))
    sentiment_chart = charts.line_chart(
        [dt(c["started_at"], TIMELINE_FORMAT) for c in timeline],
        {t(user.lang, "sentiment"): [round((c["avg_sentiment"] or 0) + 1, 2) for c in timeline]},
        t(user.lang, "sentiment_chart"),
    )
    return render(
        request,
        "customer.html",
        user,
        p=panel,
        spend_chart=spend_chart,
        sentiment_chart=sentiment_chart,
    )
