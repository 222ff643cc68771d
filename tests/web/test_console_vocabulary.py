"""The web app speaks the shared vocabulary: risk bands, segments, languages and the
catalogue come from analytics.core and analytics.store, never from a copy in web/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analytics.core.language import detect_language
from analytics.core.vocabulary import (
    LANG_EN,
    LANG_ZH,
    LANGUAGES,
    RISK_BANDS,
    RISK_LEVEL_HIGH,
    SEGMENT_AT_RISK,
    SEGMENTS,
    risk_band,
)
from analytics.store.catalogue import load_catalogue
from web import demo, rating
from web.console import i18n, teach
from web.console.facts import estimate, recency_risk
from web.console.queries.live_risk import live_risk_view

NOW = datetime(2025, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize("orders", [1, 2, 5, 6, 12])
@pytest.mark.parametrize("days", [0, 10, 37, 38, 74, 75, 76, 89, 90, 91, 200])
def test_estimates_use_the_shared_segments_and_bands(orders: int, days: int) -> None:
    segment, churn, _ = estimate(1000 * orders, orders, NOW - timedelta(days=days), NOW, NOW)
    assert segment in SEGMENTS
    assert (segment == SEGMENT_AT_RISK) == (risk_band(churn) == RISK_LEVEL_HIGH)
    assert churn == round(recency_risk(days), 3)


@pytest.mark.parametrize("signed_up_days", [1, 400])
def test_customers_without_orders_are_new_like_the_brain_says(signed_up_days: int) -> None:
    created = NOW - timedelta(days=signed_up_days)
    segment, _, value = estimate(0, 0, None, created, NOW)
    assert segment in SEGMENTS and value == 0


def test_every_band_has_a_label_in_both_languages() -> None:
    assert i18n.LANGS == LANGUAGES and i18n.DEFAULT_LANG == LANG_ZH
    for band in RISK_BANDS:
        assert {i18n.t(lang, band) for lang in LANGUAGES} - {band}, band
    assert i18n.t(LANG_EN, "live_risk") != i18n.t(LANG_ZH, "live_risk")


@pytest.mark.parametrize(
    "text",
    ["where is my tea", "我的茶到哪了", "这个 Kenya AA 的 price 是多少", "LB100234 到了吗", "龍井"],
)
def test_teaching_folders_agree_with_the_shared_language_rule(text: str) -> None:
    folder = teach.language_dir(text)
    assert folder in teach.LANG_DIRS
    if folder != teach.LANG_MIXED:
        assert folder == detect_language(text)


def test_live_risk_takes_its_band_from_the_score_and_its_reasons_in_both_languages() -> None:
    reasons = [{"code": "refund_intent", "contribution": 0.8, "en": "asked", "zh": "申请"}]
    view = live_risk_view(0.5, reasons, True, NOW)
    assert view is not None and view.band == risk_band(0.5) == RISK_LEVEL_HIGH
    assert view.reason_texts(LANG_ZH) == ["申请"] and view.reason_texts(LANG_EN) == ["asked"]
    only_code = live_risk_view(0.1, '[{"code": "handoff"}]', False, None)  # JSON as text
    assert only_code is not None and only_code.reason_texts(LANG_EN) == ["handoff"]
    assert live_risk_view(None, None, None, None) is None


def test_the_demo_shop_and_ratings_read_the_shared_sources() -> None:
    assert [p.sku for p in demo.catalogue()] == [row.sku for row in load_catalogue()]
    assert rating.RatingIn(session_id="s", rating=5).language == LANG_ZH
    assert LANGUAGES == (LANG_ZH, LANG_EN)
