"""Redaction of personal data written in Traditional Chinese (Taiwan, Hong Kong).

The patterns are written in Simplified Chinese and run over a Simplified fold of the text
(OpenCC ``t2s``); the original characters of each match are replaced, so the text around a
placeholder keeps its script. The Traditional twins of the Simplified cases are made here
with OpenCC ``s2tw`` (:func:`analytics.core.language.to_traditional`, the bot's converter).
"""

from __future__ import annotations

import time

import pytest

from analytics.core.language import HANT, detect_script, to_simplified, to_traditional
from analytics.loop import privacy
from analytics.loop.privacy import find_pii, fold, redact
from analytics.loop.privacy_patterns import hk_id_valid, tw_id_valid
from tests.analytics.loop.test_privacy import (
    LINEAR_MAX_RATIO,
    NEAR_MISSES,
    NEW_NEAR_MISSES,
    NEW_POSITIVES,
    POSITIVES,
)

ZH_POSITIVES = [(t, e) for t, e in POSITIVES + NEW_POSITIVES if to_traditional(t) != t]
ZH_NEAR_MISSES = [t for t in NEAR_MISSES + NEW_NEAR_MISSES if to_traditional(t) != t]


def test_the_twins_are_traditional() -> None:
    assert len(ZH_POSITIVES) >= 20 and len(ZH_NEAR_MISSES) >= 4
    assert all(detect_script(to_traditional(t)) == HANT for t, _ in ZH_POSITIVES[:10])


@pytest.mark.parametrize(("text", "expected"), ZH_POSITIVES)
def test_traditional_twins_are_redacted_the_same(text: str, expected: str) -> None:
    assert redact(to_traditional(text)) == to_traditional(expected)


@pytest.mark.parametrize("text", ZH_NEAR_MISSES)
def test_traditional_twins_of_near_misses_are_left_alone(text: str) -> None:
    twin = to_traditional(text)
    assert redact(twin) == twin


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the cases: stored in full before
        ("請寄到臺北市信義區松仁路100號", "請寄到[ADDRESS]"),
        ("陽光小區5棟", "[ADDRESS]"),
        ("請寄到臺北市信義區松仁路100號，謝謝", "請寄到[ADDRESS]，謝謝"),
        # Taiwan: 段 (section), 巷/弄 (lane/alley), 之 (sub-number)
        ("地址：台北市大安區忠孝東路四段100巷5弄3號5樓", "地址：[ADDRESS]"),
        ("寄到忠孝東路四段100號", "寄到[ADDRESS]"),
        ("台北市中山區南京東路二段8號3樓之1", "[ADDRESS]"),
        # Hong Kong roads end in 道
        ("九龍彌敦道100號", "[ADDRESS]"),
        ("送到香港灣仔軒尼詩道123號10樓", "送到[ADDRESS]"),
        # Traditional context words (電話, 手機, 身分證, 郵箱, 微信號, 帳號)
        ("我的電話是13812345678", "我的電話是[PHONE]"),
        ("電話 02-2345-6789", "電話 [PHONE]"),
        ("電話 (02) 2345-6789", "電話 [PHONE]"),
        ("手機 0912-345-678", "手機 [PHONE]"),
        ("手機0912345678謝謝", "手機[PHONE]謝謝"),
        ("香港電話 +852 9123 4567", "香港電話 [PHONE]"),
        ("身分證 A123456789", "身分證 [ID]"),
        ("身分證字號：F131104093", "身分證字號：[ID]"),
        ("香港身份證 G123456(A)", "香港身份證 [ID]"),
        ("身份證 A123456(3)", "身份證 [ID]"),
        ("郵箱 張三@例子.中國謝謝", "郵箱 [EMAIL]謝謝"),
        ("電郵：chen.tw@example.com.tw", "電郵：[EMAIL]"),
        ("微信號：leaf_bean88", "微信號：[WECHAT]"),
        ("QQ號碼：12345678", "QQ號碼：[QQ]"),
        (
            "收件人王小明 電話0912345678 地址新竹市東區光復路二段101號",
            "收件人王小明 電話[PHONE] 地址[ADDRESS]",
        ),
    ],
)
def test_traditional_and_regional_forms(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "我知道3號到",  # a date, not 知道 road
        "這個味道3號試過",
        "頻道3號",
        "請在3號前發貨",
        "訂單 LB100234 到了嗎",
        "身分證 A123456788",  # Taiwan ID, wrong check digit
        "A123456(4)",  # Hong Kong ID, wrong check digit
        "0912-345-67",  # one digit short
        "運單號 SF1402398812764",
        "買了3盒，每盒128元",
    ],
)
def test_traditional_near_misses_are_left_alone(text: str) -> None:
    assert redact(text) == text


def test_checksums_of_regional_ids() -> None:
    assert tw_id_valid("A123456789") and not tw_id_valid("A123456780")
    assert not tw_id_valid("A323456789")  # the second character is 1 or 2
    assert hk_id_valid("A123456(3)") and hk_id_valid("G123456(A)") and hk_id_valid("A1234563")
    assert not hk_id_valid("A123456(4)") and not hk_id_valid("")


def test_spans_point_into_the_traditional_original() -> None:
    text = "請寄到臺北市信義區松仁路100號，電話０９１２-３４５-６７８"
    spans = find_pii(text)
    assert [(s.kind, s.text) for s in spans] == [
        ("ADDRESS", "臺北市信義區松仁路100號"),
        ("PHONE", "０９１２-３４５-６７８"),
    ]
    assert all(text[s.start : s.end] == s.text for s in spans)


def test_fold_is_character_for_character() -> None:
    text = "臺北市信義區松仁路100號 衚衕 這裡 ASCII \x00 \ud800 𠀀"
    folded = fold(text)
    assert len(folded) == len(text)
    assert folded.startswith("台北市信义区松仁路100号 胡同 这里 ASCII \x00 ")
    assert fold("plain ascii") == "plain ascii"


def test_when_folding_changes_the_length_the_folded_text_is_redacted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # OpenCC's t2s kept the length of every character tried here, so the fallback is
    # forced: a fold that adds a character must not leave the address unredacted.
    monkeypatch.setattr(privacy, "fold", lambda text: "（" + to_simplified(text))
    redacted = redact("請寄到臺北市信義區松仁路100號")
    assert redacted == "（请寄到[ADDRESS]"
    assert [s.kind for s in find_pii("電話13812345678")] == ["PHONE"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\ud800",
        "臺北市\ud800信義區松仁路100號\udfff",
        "\x00\x01\x1b[31m臺北市信義區松仁路100號\x7f\u202e",
        "臺" * 100_000,
        "臺北市信義區松仁路" * 11_000,
        "號" * 50_000 + "0912345678",
        "\ufeff電話\u200b0912345678",
        "A123456(" * 10_000,
    ],
)
def test_hostile_traditional_input_never_raises(text: str) -> None:
    redacted = redact(text)
    assert isinstance(redacted, str)
    assert "松仁路100號" not in redacted and "0912345678" not in redacted


def test_personal_data_after_a_long_traditional_run_is_found() -> None:
    text = "臺灣" * 50_000 + " 身分證 A123456789 寄到臺北市信義區松仁路100號"
    assert redact(text).endswith(" 身分證 [ID] 寄到[ADDRESS]")


def _best_time(text: str) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        redact(text)
        best = min(best, time.perf_counter() - start)
    return best


def test_redaction_of_traditional_text_is_linear() -> None:
    """x4 input must cost less than x8 time, as in tests/analytics/loop/test_privacy.py."""
    tile = "請寄到臺北市信義區松仁路100號 電話0912-345-678 身分證A123456789 彌敦道 之 段 "
    small, large = (
        (tile * (5000 // len(tile) + 1))[:5000],
        (tile * (20000 // len(tile) + 1))[:20000],
    )
    ratio = _best_time(large) / _best_time(small)
    assert ratio < LINEAR_MAX_RATIO, ratio
