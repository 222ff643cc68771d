"""Redaction of personal data: positives and near misses in Chinese and English."""

from __future__ import annotations

import pytest

from analytics.privacy import (
    cn_id_valid,
    find_pii,
    luhn_valid,
    redact,
    redact_entities,
    redact_value,
)


def _cn_id(first17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return (
        first17 + "10X98765432"[sum(int(c) * w for c, w in zip(first17, weights, strict=True)) % 11]
    )


def _luhn(body: str) -> str:
    for d in "0123456789":
        if luhn_valid(body + d):
            return body + d
    raise AssertionError("unreachable")


UNIONPAY = _luhn("622202123456789012")  # 19 digits
VALID_ID = _cn_id("11010519491231002")  # ends in X
VALID_ID_2 = _cn_id("31011519900307123")

POSITIVES = [
    # (text, expected redacted text)
    ("我的电话是13812345678，太失望了", "我的电话是[PHONE]，太失望了"),
    ("手机 138 1234 5678", "手机 [PHONE]"),
    ("手机：138-1234-5678。", "手机：[PHONE]。"),
    ("call me at +86 138 1234 5678", "call me at [PHONE]"),
    ("+8613912345678 是我的号码", "[PHONE] 是我的号码"),
    ("my UK number is +44 20 7946 0958 thanks", "my UK number is [PHONE] thanks"),
    ("香港 +852 9123 4567", "香港 [PHONE]"),
    ("call (415) 555-2671 tomorrow", "call [PHONE] tomorrow"),
    ("office 415-555-2671", "office [PHONE]"),
    ("座机 021-62345678", "座机 [PHONE]"),
    ("email me: emily.carter@example.com!", "email me: [EMAIL]!"),
    ("邮箱是wang.xm@qq.com谢谢", "邮箱是[EMAIL]谢谢"),
    ("全角 wang＠163.com", "全角 [EMAIL]"),
    (f"身份证号{VALID_ID}", "身份证号[ID]"),
    (f"ID {VALID_ID_2.lower()} please", "ID [ID] please"),
    ("卡号 4111 1111 1111 1111 谢谢", "卡号 [CARD] 谢谢"),
    ("card 5500-0000-0000-0004", "card [CARD]"),
    (f"银联卡{UNIONPAY}", "银联卡[CARD]"),
    ("我的地址是上海市浦东新区世纪大道100号", "我的地址是[ADDRESS]"),
    ("寄到北京市朝阳区建国路88号3号楼2单元501室吧", "寄到[ADDRESS]吧"),
    ("送到杭州市西湖区文三路478号", "送到[ADDRESS]"),
    ("改成阳光花园3栋2单元601室", "改成[ADDRESS]"),
    ("I live at 221B Baker Street, London", "I live at [ADDRESS], London"),
    ("ship to 12 Nathan Rd, Flat 3", "ship to [ADDRESS]"),
    ("new address: 1600 Pennsylvania Avenue NW", "new address: [ADDRESS] NW"),
    ("Flat 5, 8 Queen's Road", "[ADDRESS]"),
]

NEAR_MISSES = [
    "订单LB100234到哪了",  # order number
    "tracking SF1381234567801",  # tracking number: letters before the digits
    "运单号 SF1402398812764",
    "I ordered 3 boxes for 2 days",
    "2 more days please",
    "I paid 1200 yuan for 3 bags",
    "价格是128元，买2盒",
    "一路顺风",  # "road" without a number
    "我在路上了",
    "快递在路上走了3天",
    "card 4111111111111112",  # Luhn fails
    "order 1234567890123",  # 13 digits, Luhn fails
    "身份证" + VALID_ID[:-1] + ("1" if VALID_ID[-1] != "1" else "2"),  # wrong check character
    "110105194913310021",  # month 13: not a date
    "1381234567",  # 10 digits: not a mobile
    "238123456789",  # 12 digits
    "the year 2025 and 2026",
    "meet at 3 pm on Main",
    "version 3.6.21",
    "预计 2026-11-23 送达",
    "price: ¥88.00 @ 20% off",
    "user@localhost",  # no top-level domain
]


@pytest.mark.parametrize(("text", "expected"), POSITIVES)
def test_redacts_personal_data(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_leaves_near_misses_alone(text: str) -> None:
    assert redact(text) == text


def test_checksums() -> None:
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    assert not luhn_valid("41111x1111111111")
    assert cn_id_valid(VALID_ID)
    assert cn_id_valid(VALID_ID_2)
    assert not cn_id_valid(VALID_ID[:17] + "0" if VALID_ID[17] != "0" else VALID_ID[:17] + "1")
    assert not cn_id_valid("11010520991231002X")  # born in the future


def test_valid_id_wins_over_card_and_phone() -> None:
    spans = find_pii(f"号码{VALID_ID_2}")
    assert [s.kind for s in spans] == ["ID"]


def test_several_kinds_in_one_message() -> None:
    text = "我是王小明，电话13912345678，邮箱 a.b@c.cn，地址上海市静安区南京西路1266号"
    assert redact(text) == "我是王小明，电话[PHONE]，邮箱 [EMAIL]，地址[ADDRESS]"
    kinds = [s.kind for s in find_pii(text)]
    assert kinds == ["PHONE", "EMAIL", "ADDRESS"]


def test_code_switched_message() -> None:
    assert (
        redact("我的phone是13812345678, email是 x@y.com") == "我的phone是[PHONE], email是 [EMAIL]"
    )


def test_entities_and_json_values_are_redacted() -> None:
    entities = [
        {"entity": "phone", "value": "13812345678", "start": 5, "end": 16, "extractor": "Regex"},
        {"entity": "order_number", "value": "LB100234", "start": 0, "end": 8},
    ]
    cleaned = redact_entities(entities)
    assert cleaned == [
        {"entity": "phone", "value": "[PHONE]", "extractor": "Regex"},
        {"entity": "order_number", "value": "LB100234"},
    ]
    assert redact_entities([]) is None
    assert redact_value({"a": ["x@y.com", 3]}) == {"a": ["[EMAIL]", 3]}


def test_empty_and_plain_text() -> None:
    assert redact("") == ""
    assert redact("hello 你好") == "hello 你好"
