"""analytics.store.knowledge: the FAQ parser, on the real folder and on hostile files."""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics.store.knowledge import (
    KnowledgeError,
    clean_text,
    load_knowledge,
    parse_knowledge_text,
    read_knowledge_file,
)

REPO = Path(__file__).resolve().parents[3]
GOOD = """---
topic: shipping
title_zh: 配送
title_en: Shipping
---

## 发货时间 / Shipping times {#shipping-times}

<!-- zh -->
付款后 24 小时内发货。

<!-- en -->
We ship within 24 hours.

## 发票 / Fapiao {#shipping-fapiao}

<!-- zh -->
可以开电子发票。
"""


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_the_real_folder_parses_into_65_typed_passages() -> None:
    passages = load_knowledge(REPO / "knowledge")
    assert len(passages) == 65
    assert len({p.id for p in passages}) == 65
    by_id = {p.id: p for p in passages}
    times = by_id["shipping-times"]
    assert times.topic == "shipping" and times.topic_title_en == "Shipping"
    assert times.text_zh and "24" in times.text_zh and times.text_en
    assert any(p.text_en is None for p in passages) and any(p.text_zh is None for p in passages)
    assert all(p.id.startswith(p.topic + "-") for p in passages)


def test_a_good_file_gives_titles_and_twins(tmp_path: Path) -> None:
    write(tmp_path, "shipping.md", GOOD)
    write(tmp_path, "README.md", "# not a topic file\n")
    first, second = load_knowledge(tmp_path)
    assert (first.id, first.title_zh, first.title_en) == (
        "shipping-times",
        "发货时间",
        "Shipping times",
    )
    assert first.text_en == "We ship within 24 hours."
    assert second.text_zh == "可以开电子发票。" and second.text_en is None
    assert first.file == tmp_path / "shipping.md"


def test_crlf_and_bom_are_accepted(tmp_path: Path) -> None:
    write(tmp_path, "shipping.md", ("\ufeff" + GOOD).replace("\n", "\r\n").encode("utf-8"))
    assert [p.id for p in load_knowledge(tmp_path)] == ["shipping-times", "shipping-fapiao"]


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (GOOD.replace("---\ntopic", "topic", 1), 1, "front matter"),
        (GOOD.replace("title_en: Shipping\n", ""), 4, "misses title_en"),
        (GOOD.replace("title_en: Shipping", "colour: green"), 4, "expected"),
        (GOOD.replace("topic: shipping", "topic: payment"), 2, "file name"),
        (GOOD.replace(" {#shipping-times}", ""), 7, "heading"),
        (GOOD.replace("{#shipping-times}", "{#Shipping Times}"), 7, "heading"),
        (GOOD.replace("<!-- en -->", "<!-- zh -->"), 12, "second zh block"),
        (GOOD.replace("\n<!-- zh -->\n付款", "\n付款"), 9, "outside"),
        (GOOD + "\n# Title\n", 20, "top-level"),
        (GOOD.replace("可以开电子发票。", ""), 15, "empty zh block"),
    ],
)
def test_malformed_files_name_the_file_and_line(text: str, line: int, words: str) -> None:
    with pytest.raises(KnowledgeError, match=words) as caught:
        parse_knowledge_text(text, Path("knowledge/shipping.md"))
    assert caught.value.line == line
    assert str(caught.value).startswith(f"knowledge/shipping.md:{line}: ")


def test_a_duplicate_id_across_files_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "shipping.md", GOOD)
    write(tmp_path, "payment.md", GOOD.replace("topic: shipping", "topic: payment"))
    with pytest.raises(KnowledgeError, match="also in"):
        load_knowledge(tmp_path)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "empty file"),
        (b"   \n\n  \n", "empty file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (GOOD.encode("utf-8").replace("配送".encode(), b"\xff\xfe"), "not valid UTF-8"),
        ("---\ntopic: shipping\n".encode("gbk") + "标题".encode("gbk"), "not valid UTF-8"),
    ],
)
def test_hostile_files_raise_a_clear_error_naming_the_file(
    tmp_path: Path, content: bytes, words: str
) -> None:
    path = write(tmp_path, "shipping.md", content)
    with pytest.raises(KnowledgeError, match=words) as caught:
        load_knowledge(tmp_path)
    assert caught.value.file == path and str(path) in str(caught.value)


def test_a_huge_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, "shipping.md", GOOD + "<!-- en -->\n" + "x" * 2_000_000)
    with pytest.raises(KnowledgeError, match="too large"):
        read_knowledge_file(path)
    with pytest.raises(KnowledgeError, match="too large"):
        load_knowledge(tmp_path, max_bytes=100)


def test_lone_surrogates_and_control_characters_are_stripped() -> None:
    hostile = GOOD.replace("We ship", "We\ud800 \x00ship\x1b[31m\x07").replace("配送", "配\udfff送")
    first, _ = parse_knowledge_text(hostile, Path("shipping.md"))
    assert first.text_en == "We ship[31m within 24 hours."
    assert first.topic_title_zh == "配送"
    assert clean_text("a\tb\r\nc\x7f\u200b") == "a\tb\nc\u200b"


def test_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="knowledge folder"):
        load_knowledge(tmp_path / "nope")


def test_a_folder_without_topic_files_is_empty(tmp_path: Path) -> None:
    assert load_knowledge(tmp_path) == []
