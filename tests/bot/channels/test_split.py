"""Splitting long replies for the messaging platforms (bot/channels/messaging/split.py)."""

from __future__ import annotations

import re

import pytest

from bot.channels.messaging.split import split_text, utf16_length

SUFFIX_RE = re.compile(r" \((\d+)/(\d+)\)$")


def _strip(parts: list[str]) -> list[str]:
    return [SUFFIX_RE.sub("", part) for part in parts]


def _numbered_ok(parts: list[str]) -> None:
    total = len(parts)
    for index, part in enumerate(parts, start=1):
        match = SUFFIX_RE.search(part)
        assert match is not None, part
        assert (int(match.group(1)), int(match.group(2))) == (index, total)


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_a_text_within_the_limit_is_one_part_unchanged() -> None:
    assert split_text("你好 hello", 10) == ["你好 hello"]
    assert split_text("", 10) == [""]
    assert split_text("x" * 10, 10) == ["x" * 10]


def test_chinese_sentences_are_cut_after_their_full_stops() -> None:
    sentence = "您的订单已经发货，预计三天内送达。"
    text = sentence * 20
    parts = split_text(text, 100)
    assert len(parts) > 1
    _numbered_ok(parts)
    for part in _strip(parts):
        assert part.endswith(("。", "！", "？")), part
    assert all(utf16_length(part) <= 100 for part in parts)
    assert _squash("".join(_strip(parts))) == _squash(text)


def test_paragraphs_then_lines_are_preferred_to_sentences() -> None:
    first = "第一段。" * 10
    second = "Second paragraph. " * 5
    text = f"{first}\n\n{second.strip()}"
    parts = split_text(text, len(first) + 30)
    assert _strip(parts)[0] == first
    lines = "\n".join(f"line {i} has a few words in it." for i in range(30))
    for part in _strip(split_text(lines, 120)):
        assert part.endswith("in it."), part


@pytest.mark.parametrize("mark", ["！", "？", "!", "?"])
def test_exclamation_and_question_marks_end_sentences(mark: str) -> None:
    text = f"好的{mark}" * 60
    for part in _strip(split_text(text, 50)):
        assert part.endswith(mark)


def test_english_is_cut_at_a_sentence_or_a_space_never_inside_a_word() -> None:
    words = " ".join(["supercalifragilistic"] * 40)
    parts = split_text(words, 64)
    for part in _strip(parts):
        assert set(part.split(" ")) == {"supercalifragilistic"}, part


def test_every_part_with_its_numbering_is_within_the_limit_also_beyond_nine_parts() -> None:
    text = "这是一个很长的回答。" * 200  # 2,000 characters
    for limit in (25, 40, 333, 4096):
        parts = split_text(text, limit)
        assert all(utf16_length(part) <= limit for part in parts), limit
        if len(parts) > 1:
            _numbered_ok(parts)
        assert _squash("".join(_strip(parts))) == _squash(text)
    assert len(split_text(text, 25)) >= 100  # three-digit numbering still fits


def test_emoji_are_counted_in_utf16_units_and_never_halved() -> None:
    text = "😀" * 300  # 600 UTF-16 units
    parts = split_text(text, 101)
    for part in parts:
        assert utf16_length(part) <= 101
        part.encode("utf-8")  # no lone surrogate
        part.encode("utf-16-le")
    assert "".join(_strip(parts)) == text


def test_graphemes_stay_whole_where_possible() -> None:
    family = "👨\u200d👩\u200d👧"  # one grapheme of five code points
    thumbs = "👍🏽"  # with a skin-tone modifier
    accented = "e\u0301"  # e + combining acute
    for unit in (family, thumbs, accented):
        text = unit * 50
        for part in _strip(split_text(text, 40)):
            assert part.replace(unit, "") == "", (unit, part)


def test_a_byte_length_function_is_honoured() -> None:
    text = "中文内容，" * 300

    def utf8(value: str) -> int:
        return len(value.encode("utf-8"))

    parts = split_text(text, 2048, utf8)
    assert len(parts) > 1
    assert all(utf8(part) <= 2048 for part in parts)
    assert _squash("".join(_strip(parts))) == _squash(text)


def test_a_text_without_any_boundary_is_cut_hard() -> None:
    text = "a" * 250
    parts = split_text(text, 100)
    assert all(len(part) <= 100 for part in parts)
    assert "".join(_strip(parts)) == text


def test_a_limit_must_be_positive() -> None:
    with pytest.raises(ValueError):
        split_text("x", 0)


def test_a_tiny_limit_gives_plain_parts_within_it() -> None:
    parts = split_text("abcdefghij", 3)
    assert all(len(part) <= 3 for part in parts)
    assert "".join(parts) == "abcdefghij"
