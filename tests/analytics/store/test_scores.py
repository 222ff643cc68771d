"""Tests of the stored scores table."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from analytics.demo.generator import generate_shop, write_shop
from analytics.store.db import make_engine, make_sessionmaker, upgrade_to_head
from analytics.store.scores import get_scores, get_scores_by_external_id
from tests.analytics.conftest import customer_score as score

NOW = datetime(2025, 6, 1, tzinfo=UTC)


def test_get_scores_round_trip(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    upgrade_to_head(url)
    engine = make_engine(url)
    try:
        write_shop(engine, generate_shop(10, seed=1, reference=NOW))
        with make_sessionmaker(engine).begin() as s:
            s.add(
                score(
                    customer_id=3,
                    churn_reasons=[{"en": "x", "zh": "y"}],
                    recommendations=[{"sku": "T01", "en": "a", "zh": "b"}],
                )
            )
        with make_sessionmaker(engine)() as s2:
            assert isinstance(s2, Session)
            got = get_scores(s2, 3)
            assert got is not None and got.churn_reasons == [{"en": "x", "zh": "y"}]
            assert got.scored_at == NOW
            assert get_scores(s2, 4) is None
            by_ext = get_scores_by_external_id(s2, "cus_0003")
            assert by_ext is not None and by_ext.customer_id == 3
    finally:
        engine.dispose()
