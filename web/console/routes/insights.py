"""Console route of the charts page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from web.console import charts
from web.console.deps import DB, User, render, segment_label
from web.console.facts import FACTS
from web.console.i18n import t
from web.console.queries.insights import charts as chart_data

router = APIRouter(include_in_schema=False)  # included by web.console.routes under /console


@router.get("/insights", response_class=HTMLResponse)
def insights_page(request: Request, user: User, db: DB) -> HTMLResponse:
    """Charts: segments, risk over time, reasons, intents, fallback rate, satisfaction."""
    FACTS.sync(db)
    data = chart_data(db)
    tr = user.lang
    segments = [(segment_label(key, tr), n) for key, n in data.segments]
    return render(
        request,
        "insights.html",
        user,
        segments=charts.hbar_chart(segments, t(tr, "segment_sizes")),
        risk=charts.stacked_bars(
            data.risk_months,
            {t(tr, band): values for band, values in data.risk_series.items()},
            t(tr, "risk_over_time"),
            {t(tr, band): color for band, color in charts.RISK_COLORS.items()},
        ),
        reasons=charts.hbar_chart(data.reasons, t(tr, "top_reasons")),
        reasons_source=data.reasons_source,
        intents=charts.line_chart(data.weeks, data.intents_per_week, t(tr, "intents_per_week")),
        fallback=charts.line_chart(
            data.weeks, {"%": data.fallback_rate}, t(tr, "fallback_rate"), "%"
        ),
        satisfaction=charts.line_chart(data.weeks, {"★": data.satisfaction}, t(tr, "satisfaction")),
    )
