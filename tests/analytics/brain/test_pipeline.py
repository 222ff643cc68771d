"""End-to-end tests of the scoring command on a generated shop (real SQLite store)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from threadpoolctl import threadpool_limits

from analytics.brain.features import load_frames
from analytics.brain.offers import choose_retention_offer
from analytics.brain.pipeline import (
    BrainConfig,
    fit_brain,
    load_current,
    refit_or_keep,
    run,
    save_models,
)
from analytics.cli import main as cli_main
from analytics.demo import customers as demo
from analytics.demo.generator import generate_shop, write_shop
from analytics.store.db import make_engine, make_sessionmaker, upgrade_to_head
from analytics.store.models import CustomerScore
from analytics.store.repositories import get_customer
from analytics.store.scores import get_scores_by_external_id

NOW = datetime(2025, 6, 1, tzinfo=UTC)
FAST = BrainConfig(n_train_cutoffs=4, churn_kwargs={"cv": 3, "hgb_params": {"max_iter": 80}})


@pytest.fixture(autouse=True)
def _one_openmp_thread() -> Iterator[None]:
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("brain")
    url = f"sqlite:///{folder / 'shop.db'}"
    upgrade_to_head(url)
    engine = make_engine(url)
    write_shop(engine, generate_shop(700, seed=11, reference=NOW))
    engine.dispose()
    out = run(url, now=NOW, model_dir=folder / "models", show_progress=False, config=FAST)
    return {"url": url, "out": out, "models": folder / "models"}


def test_every_customer_scored_with_version_and_time(scored: dict[str, Any]) -> None:
    engine = make_engine(scored["url"])
    try:
        with make_sessionmaker(engine)() as s:
            n = s.scalar(select(func.count()).select_from(CustomerScore))
            assert n == scored["out"]["rows"] == 700
            row = s.scalars(select(CustomerScore).limit(1)).one()
            assert row.model_version == scored["out"]["version"]
            assert row.scored_at == NOW
            assert 0 <= row.churn_risk <= 1 and 0 <= row.health <= 100
            assert set(row.health_components) >= {"recency", "support", "churn_risk"}
    finally:
        engine.dispose()
    meta = json.loads((scored["models"] / "current.json").read_text())
    assert meta["version"] == scored["out"]["version"]
    assert meta["data_window"]["end"].startswith("2025-06-01")
    assert 0.5 < meta["metrics"]["churn_holdout"]["roc_auc"] <= 1.0
    assert "precision_at_10" in meta["metrics"]["recommendations"]


def test_vip_at_risk_gets_offer_and_new_customer_gets_popular_items(
    scored: dict[str, Any],
) -> None:
    engine = make_engine(scored["url"])
    try:
        with make_sessionmaker(engine)() as s:
            vip = get_scores_by_external_id(s, demo.DEMO_VIP_AT_RISK)
            assert vip is not None
            # high value, and at risk by the model or by service friction (late deliveries,
            # complaints, handoffs), which is how the demo VIP is scripted
            assert vip.segment in {"champions", "loyal", "at_risk"}
            assert vip.churn_risk >= 0.5 or vip.health_components["support"] <= 50
            assert all(r["en"] and r["zh"] for r in vip.churn_reasons)
            assert bool(vip.churn_reasons) == (vip.churn_risk >= FAST.reasons_min_risk)
            offer = choose_retention_offer(vip, get_customer(s, demo.DEMO_VIP_AT_RISK))
            assert offer is not None
            new = get_scores_by_external_id(s, demo.DEMO_NEW)
            assert new is not None and new.segment == "new"
            assert new.lifecycle_stage == "acquisition"
            assert new.churn_reasons == []
            assert len(new.recommendations) == 10
            assert all(r["because"] is None and r["zh"] == "热销推荐" for r in new.recommendations)
            sub = get_scores_by_external_id(s, demo.DEMO_ZH)  # tea-box subscriber
            assert sub is not None
            skus = [r["sku"] for r in sub.recommendations]
            assert "S01" not in skus
            assert choose_retention_offer(sub, get_customer(s, demo.DEMO_ZH)) is None
    finally:
        engine.dispose()


def test_worse_refit_does_not_replace_stored_model(scored: dict[str, Any], tmp_path: Path) -> None:
    engine = make_engine(scored["url"])
    frames = load_frames(engine)
    engine.dispose()
    good = fit_brain(frames, NOW, FAST)
    save_models(good, tmp_path)
    crippled = BrainConfig(
        n_train_cutoffs=4, churn_kwargs={"candidates": ("logreg",), "C": 1e-7, "cv": 3}
    )
    kept, replaced, info = refit_or_keep(frames, NOW, crippled, tmp_path)
    assert not replaced and kept.version == good.version
    assert info["new_auc"] < info["stored_auc"]
    current = load_current(tmp_path)
    assert current is not None and current.version == good.version
    # a refit at least as good does replace it
    _, replaced_again, _ = refit_or_keep(frames, NOW, FAST, tmp_path)
    assert replaced_again


def test_cli_score_uses_stored_models(
    scored: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli_main(
        [
            "--database-url",
            scored["url"],
            "score",
            "--no-refit",
            "--now",
            "2025-06-01",
            "--model-dir",
            str(scored["models"]),
            "--no-progress",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert f"with {scored['out']['version']}" in out and "Scored 700 customers" in out
