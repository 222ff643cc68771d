"""Traditional / Simplified Chinese detection and conversion (``bot.channels.script``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

pytest.importorskip("opencc")

import opencc  # noqa: E402
from rasa.shared.core.events import BotUttered, SessionStarted, SlotSet, UserUttered  # noqa: E402

from bot.channels.script import (  # noqa: E402
    HANS,
    HANT,
    NEUTRAL,
    SHARED_CHARS,
    conversation_script,
    detect_script,
    reply_script,
    script_evidence,
    to_simplified,
    to_traditional,
)

pytestmark = pytest.mark.rasa_env


@pytest.mark.parametrize(
    "text",
    [
        "我的訂單到哪了",
        "請問可以退款嗎",
        "頭髮",
        "這個茶葉怎麼泡",
        "台灣可以寄嗎",  # 台 is also Traditional: 灣 decides
        "有茶友微信群嗎",  # 群 (Taiwan's form) is not Simplified evidence
        "我想取消訂閱 LB100234",
        "cancel 我的訂閱",
        "謝謝！👍",
    ],
)
def test_traditional_messages_are_detected(text: str) -> None:
    assert detect_script(text) == HANT


@pytest.mark.parametrize(
    "text",
    ["我的订单到哪了", "请问可以退款吗", "头发", "这个茶叶怎么泡", "cancel 我的订阅", "谢谢"],
)
def test_simplified_messages_are_detected(text: str) -> None:
    assert detect_script(text) == HANS


@pytest.mark.parametrize(
    "text",
    [
        "好的",
        "你好",
        "在",
        "了解",  # 了 is shared: alone it says nothing
        "LB100234",
        "where is my order?",
        "👍",
        "",
        "   ",
        "/affirm",
        "{order_number}",
    ],
)
def test_messages_without_evidence_are_neutral(text: str) -> None:
    assert detect_script(text) == NEUTRAL


def test_mixed_scripts_go_by_the_majority_and_a_tie_is_neutral() -> None:
    assert detect_script("我想問這个订单") == HANS  # 問 這 vs 个 订 单
    assert detect_script("我想問這個訂单") == HANT
    assert script_evidence("訂单") == (1, 1)
    assert detect_script("訂单") == NEUTRAL


@pytest.mark.parametrize(
    "hostile",
    [
        None,
        123,
        b"\xe8\xa8\x82\xe5\x96\xae",
        "訂\ud800單",  # lone surrogate
        "訂\x00單\x07",  # control characters
        "\ufffe\uffff",
        "'; DROP TABLE orders; -- 訂單",
        "<script>alert('訂單')</script>",
        "訂單" * 50_000,  # huge: only the first characters are looked at
        "\U00020000\U0002a6d6",  # Extension B
    ],
)
def test_hostile_input_never_raises(hostile: object) -> None:
    script = detect_script(hostile)  # type: ignore[arg-type]
    assert script in (HANT, HANS, NEUTRAL)
    converted = to_traditional(hostile)  # type: ignore[arg-type]
    assert converted is hostile or isinstance(converted, str)


def test_hostile_traditional_text_is_still_detected() -> None:
    assert detect_script("訂\ud800單") == HANT
    assert detect_script("<script>alert('訂單')</script>") == HANT
    assert detect_script("訂單" * 50_000) == HANT


def test_conversion_keeps_placeholders_ascii_and_english() -> None:
    text = "订单 {order_number}（{items}）已由{carrier}发出，运单号 {tracking_number}。"
    converted = to_traditional(text)
    assert (
        converted == "訂單 {order_number}（{items}）已由{carrier}發出，運單號 {tracking_number}。"
    )
    assert to_traditional("Order {order_number} is on its way") == (
        "Order {order_number} is on its way"
    )
    assert to_traditional("https://shop.example/退货?id=LB100234").startswith(
        "https://shop.example/"
    )
    assert to_simplified(converted) == text


def test_variants_differ_only_in_regional_forms() -> None:
    text = "里面着急，台湾"
    assert to_traditional(text, "s2tw") == "裡面著急，臺灣"
    assert to_traditional(text, "s2t") == "裏面着急，臺灣"
    assert to_traditional(text, "s2hk") == "裏面着急，台灣"
    assert to_traditional(text, "bogus") == to_traditional(text, "s2tw")


def test_the_chained_variants_equal_opencc_s_own_configurations() -> None:
    """s2tw = s2t then t2tw, s2hk = s2t then t2hk (one set of phrase dictionaries)."""
    samples = [text for _, text in _domain_and_message_samples()]
    for variant in ("s2tw", "s2hk"):
        own = opencc.OpenCC(f"{variant}.json")
        assert [to_traditional(t, variant) for t in samples] == [own.convert(t) for t in samples]


def _domain_and_message_samples() -> list[tuple[str, str]]:
    from tests.bot.traditional_nlu import held_out_examples, training_examples

    texts = training_examples()[::5] + held_out_examples()
    texts += ["里面着急，台湾", "头发干净", "这里的面包", "系统关系", "公里"]
    return [("", t) for t in texts]


def test_shared_characters_are_those_opencc_keeps_as_traditional() -> None:
    """SHARED_CHARS is what the installed OpenCC's STCharacters dictionary says."""
    clib = Path(opencc.__file__).parent / "clib"
    tool = clib / "bin" / "opencc_dict"
    if not tool.exists():
        pytest.skip("this OpenCC build ships no opencc_dict")
    out = Path(subprocess.check_output(["mktemp"], text=True).strip())
    try:
        subprocess.run(
            [str(tool), "-i", str(clib / "share/opencc/STCharacters.ocd2"), "-o", str(out),
             "-f", "ocd2", "-t", "text"],
            check=True, capture_output=True,
        )  # fmt: skip
        shared = set()
        for line in out.read_text(encoding="utf-8").splitlines():
            key, values = line.split("\t")
            if len(key) == 1 and key in values.split(" "):
                shared.add(key)
    finally:
        out.unlink()
    assert shared == SHARED_CHARS


def test_the_newest_non_neutral_customer_message_decides() -> None:
    assert conversation_script([]) == HANS
    assert conversation_script([NEUTRAL, None, "bogus"]) == HANS
    assert conversation_script([NEUTRAL, HANT, HANS]) == HANT
    assert conversation_script([HANS, HANT]) == HANS


def test_reply_script_is_sticky_and_read_from_customer_messages_only() -> None:
    events = [
        SessionStarted(),
        UserUttered("我的訂單到哪了"),
        SlotSet("language", "zh"),
        BotUttered("订单 LB100234 正在打包"),
    ]
    assert reply_script(events) == HANT
    events.append(UserUttered("好的"))  # neutral: stays Traditional
    assert reply_script(events) == HANT
    events.append(UserUttered("thanks"))  # English: stays Traditional for the next Chinese
    assert reply_script(events) == HANT
    events.append(BotUttered("这是店主写的简体", metadata={"author": "founder"}))
    assert reply_script(events) == HANT  # the founder's words never count
    events.append(UserUttered("我想退款，谢谢"))
    assert reply_script(events) == HANS
    assert reply_script([UserUttered("/affirm"), BotUttered("繁體")]) == HANS


def test_reply_script_reads_event_dicts_and_looks_at_a_bounded_number() -> None:
    events = [{"event": "user", "text": "訂單"}] + [{"event": "user", "text": "好的"}] * 60
    assert reply_script(events) == HANS  # the Traditional message is 61 messages back
    assert reply_script(events, max_messages=100) == HANT
    assert reply_script([{"event": "bot", "text": "訂單"}, {"event": "user", "text": None}]) == HANS


@pytest.mark.parametrize(
    "text", ["我的訂單到哪了", "請問可以退款嗎", "我想買西湖龍井", "佢哋幾時寄嘢㗎"]
)
def test_the_nlu_language_detector_reads_traditional_as_chinese(text: str) -> None:
    from bot.nlu.language import detect_language

    assert detect_language(text, neutral_terms=["西湖龙井"]) == "zh"
