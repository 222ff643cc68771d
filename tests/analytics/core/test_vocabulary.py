"""The shared vocabulary: risk bands, segment names, languages."""

from __future__ import annotations

import pytest

from analytics.core import vocabulary as v
from analytics.core.settings import REPO_ROOT


@pytest.mark.parametrize(
    ("score", "band"),
    [
        (None, "low"),
        (0.0, "low"),
        (0.2499, "low"),
        (0.25, "medium"),
        (0.4999, "medium"),
        (0.5, "high"),
        (1.0, "high"),
    ],
)
def test_risk_band_edges(score: float | None, band: str) -> None:
    assert v.risk_band(score) == band


def test_bands_are_ordered_and_named_once() -> None:
    assert v.RISK_BANDS == ("low", "medium", "high")
    assert 0 < v.RISK_MEDIUM < v.RISK_HIGH < 1
    assert v.ANGRY_SENTIMENT < v.NEGATIVE_SENTIMENT < 0


def test_segment_names_in_both_languages() -> None:
    assert v.segment_name(v.SEGMENT_AT_RISK, v.LANG_ZH) == "流失风险"
    assert v.segment_name(v.SEGMENT_CHAMPIONS) == "Champions"
    assert set(v.SEGMENTS) == set(v.SEGMENT_NAMES)
    for en, zh in v.SEGMENT_NAMES.values():
        assert en.isascii() and not zh.isascii()
    with pytest.raises(KeyError):
        v.segment_name("vip")


def test_mixed_is_an_nlu_label_not_a_customer_language() -> None:
    assert v.LANG_MIXED == "mixed"
    assert v.NLU_LANGUAGES == (v.LANG_ZH, v.LANG_EN, v.LANG_MIXED)
    assert v.LANG_MIXED not in v.LANGUAGES
    nlu_data = REPO_ROOT / "nlu_data"
    folders = {path.name for path in nlu_data.iterdir() if path.is_dir()} - {"lookups"}
    assert folders == set(v.NLU_LANGUAGES)
