"""HTTP-level tests of the console's customer pages, charts, exports and take-over errors,
and of the live risk the conversation loop writes, on a real seeded store."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from analytics.core.vocabulary import (
    RISK_BANDS,
    RISK_HIGH,
    RISK_LEVEL_HIGH,
    RISK_LEVEL_LOW,
    risk_band,
)
from tests.web.conftest import Console, csrf_of
from tests.web.console_data import add_conversation, add_live_risk, store_session
from web.console.charts import RISK_COLORS

# --- customers, charts, export, take-over errors -------------------------------------------


def test_customers_list_filters_page_and_csv(client: TestClient, console_env: Console) -> None:
    page = client.get("/console/customers").text
    assert "cus_0003" in page or "李娜" in page
    high = list(
        csv.DictReader(
            io.StringIO(client.get("/console/customers?risk=high&format=csv").text.lstrip("\ufeff"))
        )
    )
    assert high and all(float(r["churn_risk"]) >= RISK_HIGH for r in high)
    every = list(
        csv.DictReader(
            io.StringIO(client.get("/console/customers?format=csv").text.lstrip("\ufeff"))
        )
    )
    assert len(every) == 150 + 4 or len(every) >= 150
    # The filter's "high" is the shared vocabulary's band, counted from the unfiltered export.
    expected = {
        r["external_id"]
        for r in every
        if r["churn_risk"] and risk_band(float(r["churn_risk"])) == RISK_LEVEL_HIGH
    }
    assert {r["external_id"] for r in high} == expected
    segment = every[0]["segment"]
    same = list(
        csv.DictReader(
            io.StringIO(
                client.get(f"/console/customers?segment={segment}&format=csv").text.lstrip("\ufeff")
            )
        )
    )
    assert same and all(r["segment"] == segment for r in same)
    customer = client.get("/console/customers/cus_0003").text
    assert "李娜" in customer and "<svg" in customer
    assert client.get("/console/customers/cus_9999").status_code == 404


def _csv(client: TestClient, path: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(client.get(path).text.lstrip("\ufeff"))))


def test_the_inbox_risk_filter_uses_the_shared_bands(client: TestClient) -> None:
    client.get("/console/inbox")
    band_of = {
        r["external_id"]: risk_band(float(r["churn_risk"]) if r["churn_risk"] else None)
        for r in _csv(client, "/console/customers?format=csv")
    }
    every = _csv(client, "/console/inbox?format=csv")
    seen = 0
    for band in RISK_BANDS:
        rows = _csv(client, f"/console/inbox?risk={band}&format=csv")
        assert {band_of.get(r["customer_external_id"], RISK_LEVEL_LOW) for r in rows} <= {band}
        expected = [
            r for r in every if band_of.get(r["customer_external_id"], RISK_LEVEL_LOW) == band
        ]
        assert len(rows) == len(expected), band
        seen += len(rows)
    assert seen == len(every)


def test_csv_export_neutralises_formulas(client: TestClient, console_env: Console) -> None:
    add_conversation(
        console_env, [("user", '=HYPERLINK("http://evil")', "complain")], sender="csv-1"
    )
    text = client.get("/console/inbox?q=hyperlink&format=csv").text
    assert "'=HYPERLINK" in text


def test_charts_page(client: TestClient) -> None:
    page = client.get("/console/insights").text
    assert page.count("<svg") == 6
    assert all(color in page for color in RISK_COLORS.values())  # the bands' own colours
    assert "complain" in page or "order_status" in page


def test_take_over_reports_an_unreachable_rasa(client: TestClient, console_env: Console) -> None:
    cid = add_conversation(console_env, [("user", "person please", "human_handoff")], sender="to-1")
    page = client.post(
        f"/console/conversations/{cid}/takeover", data={"csrf_token": csrf_of(client)}
    ).text
    assert "127.0.0.1:9" in page
    engine, db = store_session(console_env)
    try:
        from analytics.store.models.console import Takeover

        assert db.scalar(select(func.count()).select_from(Takeover)) == 0
    finally:
        db.close()
        engine.dispose()


# --- live risk (written by the conversation loop) ------------------------------------------

LIVE_REASONS = [
    {
        "code": "cancel_intent",
        "contribution": 1.5,
        "en": "asked to <b>cancel</b> & leave",
        "zh": "要求<script>取消</script>订阅",
    },
    {"code": "anger", "contribution": 0.6, "en": "sounded angry", "zh": "情绪很差"},
]
LIVE_SCORE = 0.55
"""Between the shared cut-off (0.5) and the console's old one (0.6): high only if the console
uses the shared bands."""


def _live_section(page: str) -> str:
    return page.split('id="live-risk"', 1)[1].split("</dl>", 1)[0]


def _switch_to_english(client: TestClient, back: str) -> None:
    client.post("/console/lang", data={"csrf_token": csrf_of(client), "lang": "en", "back": back})


def test_the_customer_page_shows_the_live_risk_escaped(
    client: TestClient, console_env: Console
) -> None:
    page = client.get("/console/customers/cus_0003").text
    assert 'id="live-risk"' in page and "risk-" not in _live_section(page)  # none yet: "—"
    add_live_risk(console_env, "cus_0003", LIVE_SCORE, LIVE_REASONS, alert=True)
    band = risk_band(LIVE_SCORE)
    assert band == RISK_LEVEL_HIGH
    page = client.get("/console/customers/cus_0003").text
    chip = _live_section(page)
    assert f"live-risk risk-{band}" in chip and f"{LIVE_SCORE * 100:.0f}%" in chip
    assert "高" in chip and "需要关注" in chip
    assert "要求&lt;script&gt;取消&lt;/script&gt;订阅" in page
    assert "<script>取消" not in page and "<b>cancel" not in page
    _switch_to_english(client, "/console/customers/cus_0003")
    page = client.get("/console/customers/cus_0003").text
    assert "High" in _live_section(page) and "Needs attention" in _live_section(page)
    assert "asked to &lt;b&gt;cancel&lt;/b&gt; &amp; leave" in page and "sounded angry" in page
    assert "<b>cancel" not in page


def test_the_inbox_shows_live_risk_per_conversation(
    client: TestClient, console_env: Console
) -> None:
    cid = add_conversation(
        console_env, [("user", "I want to cancel", "cancel_subscription")], sender="live-risk-1"
    )
    add_live_risk(console_env, "cus_0003", LIVE_SCORE, LIVE_REASONS)
    page = client.get("/console/inbox?customer=cus_0003&sort=recent").text
    row = page.split(f'data-id="{cid}"', 1)[1].split("</tr>", 1)[0]
    assert f"live-risk risk-{risk_band(LIVE_SCORE)}" in row
    assert "要求&lt;script&gt;取消&lt;/script&gt;订阅 · 情绪很差" in row
    assert "<script>取消" not in page
    page = client.get(f"/console/conversations/{cid}").text  # the customer's panel too
    assert f"live-risk risk-{risk_band(LIVE_SCORE)}" in _live_section(page)
    rows = list(
        csv.DictReader(
            io.StringIO(
                client.get("/console/inbox?customer=cus_0003&format=csv").text.lstrip("\ufeff")
            )
        )
    )
    assert rows and {r["live_risk_level"] for r in rows} == {risk_band(LIVE_SCORE)}
    assert {float(r["live_risk_score"]) for r in rows} == {LIVE_SCORE}


def test_live_risk_adds_no_query_per_row(client: TestClient, console_env: Console) -> None:
    from sqlalchemy import event

    from web.console.queries.inbox import inbox
    from web.console.queries.inbox_filters import InboxFilters

    client.get("/console/inbox")  # the summaries are built

    def statements() -> tuple[int, list[dict[str, object]]]:
        engine, db = store_session(console_env)
        seen: list[str] = []
        event.listen(engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
        try:
            rows = inbox(db, InboxFilters(sort="recent")).rows
        finally:
            db.close()
            engine.dispose()
        return len(seen), rows

    before, rows = statements()
    assert rows and all(r["live_risk"] is None for r in rows)
    customers = {r["customer_external_id"] for r in rows if r["customer_external_id"]}
    assert len(customers) > 1
    for external_id in customers:
        add_live_risk(console_env, external_id, LIVE_SCORE, LIVE_REASONS)
    after, rows = statements()
    assert after == before
    assert all(r["live_risk"] is not None for r in rows if r["customer_external_id"])
