"""analytics.store.knowledge_files: the console's writes to knowledge/*.md, on copies of the
real folder: exact format, validation by the one parser, confinement, stale forms, atomicity."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from analytics.store import knowledge_files as kf
from analytics.store.knowledge import MAX_FILE_BYTES, load_knowledge
from analytics.store.knowledge_files import KnowledgeEditError, PassageDraft, TopicDraft

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """A private copy of the repository's knowledge folder."""
    target = tmp_path / "knowledge"
    shutil.copytree(REPO / "knowledge", target)
    return target


def _digest(path: Path) -> str:
    return kf.digest(path.read_bytes())


def _draft(pid: str = "shipping-gift-notes", **fields: str | None) -> PassageDraft:
    values: dict[str, str | None] = {
        "title_zh": "贺卡留言",
        "title_en": "Gift notes",
        "text_zh": "下单时在备注里写上留言，我们手写在贺卡上。",
        "text_en": "Write your message in the order note and we hand-write it on a card.",
    }
    values.update(fields)
    return PassageDraft(pid, **values)  # type: ignore[arg-type]


def _refused(code: str, call: object, *args: object) -> KnowledgeEditError:
    with pytest.raises(KnowledgeEditError) as info:
        call(*args)  # type: ignore[operator]
    assert info.value.code == code, info.value
    return info.value


def test_editing_a_passage_changes_only_its_lines(folder: Path) -> None:
    path = folder / "shipping.md"
    before = path.read_text(encoding="utf-8")
    old = next(p for p in load_knowledge(folder) if p.id == "shipping-costs")
    draft = _draft("shipping-costs", text_en="Shipping is free on orders over ¥88.")
    new_digest = kf.update_passage(folder, "shipping", draft, _digest(path))
    after = path.read_text(encoding="utf-8")
    assert new_digest == _digest(path)
    assert old.text_en is not None and old.text_en in before and old.text_en not in after
    assert (
        before.replace(old.text_en, "Shipping is free on orders over ¥88.")
        .replace(f"{old.title_zh} / {old.title_en}", "贺卡留言 / Gift notes")
        .replace(old.text_zh or "", "下单时在备注里写上留言，我们手写在贺卡上。")
        == after
    )
    edited = next(p for p in load_knowledge(folder) if p.id == "shipping-costs")
    assert (
        edited.text_en == "Shipping is free on orders over ¥88." and edited.title_en == "Gift notes"
    )
    assert [p.id for p in load_knowledge(folder)] == [
        p.id for p in load_knowledge(REPO / "knowledge")
    ]


def test_an_unchanged_edit_rewrites_the_same_bytes(folder: Path) -> None:
    path = folder / "payment.md"
    before = path.read_bytes()
    for passage in [p for p in load_knowledge(folder) if p.topic == "payment"]:
        draft = PassageDraft(
            passage.id, passage.title_zh, passage.title_en, passage.text_zh, passage.text_en
        )
        kf.update_passage(folder, "payment", draft, _digest(path))
    assert path.read_bytes() == before


def test_add_and_delete_a_passage_and_a_topic(folder: Path) -> None:
    path = folder / "shipping.md"
    before = path.read_bytes()
    kf.add_passage(folder, "shipping", _draft(text_en=None), _digest(path))
    added = next(p for p in load_knowledge(folder) if p.id == "shipping-gift-notes")
    assert added.text_en is None and added.text_zh and added.topic == "shipping"
    kf.delete_passage(folder, "shipping", "shipping-gift-notes", _digest(path))
    assert path.read_bytes() == before

    topic = TopicDraft("gift-cards", "礼品卡", "Gift cards")
    kf.add_topic(folder, topic, _draft("gift-cards-expiry", text_zh=None))
    new = folder / "gift-cards.md"
    assert new.read_text(encoding="utf-8") == (
        "---\ntopic: gift-cards\ntitle_zh: 礼品卡\ntitle_en: Gift cards\n---\n\n"
        "## 贺卡留言 / Gift notes {#gift-cards-expiry}\n\n<!-- en -->\n"
        "Write your message in the order note and we hand-write it on a card.\n"
    )
    assert oct(new.stat().st_mode & 0o777) == "0o644"
    assert "gift-cards-expiry" in {p.id for p in load_knowledge(folder)}
    kf.delete_topic(folder, "gift-cards", _digest(new))
    assert not new.exists()
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        p.name for p in (REPO / "knowledge").iterdir()
    )  # no temporary files left behind


def test_a_stale_form_is_refused_and_nothing_is_written(folder: Path) -> None:
    path = folder / "shipping.md"
    loaded = _digest(path)
    kf.update_passage(folder, "shipping", _draft("shipping-costs"), loaded)
    after_first = path.read_bytes()
    _refused("stale", kf.update_passage, folder, "shipping", _draft("shipping-times"), loaded)
    _refused("stale", kf.delete_passage, folder, "shipping", "shipping-times", loaded)
    _refused("stale", kf.delete_topic, folder, "shipping", loaded)
    _refused("stale", kf.add_passage, folder, "shipping", _draft(), "0" * 64)
    assert path.read_bytes() == after_first


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("运费\n## 不是标题\n更多", "heading is not"),
        ("运费\n# 大标题", "top-level '# ' heading"),
        ("运费\n\n## 新段 / New {#shipping-sneaky}\n\n<!-- zh -->\n偷偷加一段", "'## ' heading"),
        ("运费说明\n<!-- en -->\nsneaky", "marker"),
        ("<!-- zh -->\n运费", "second zh block"),
    ],
)
def test_text_that_breaks_the_format_is_refused_with_the_parsers_message(
    folder: Path, text: str, message: str
) -> None:
    path = folder / "shipping.md"
    before = path.read_bytes()
    error = _refused(
        "format",
        kf.update_passage,
        folder,
        "shipping",
        _draft("shipping-costs", text_zh=text, text_en=None),
        _digest(path),
    )
    assert message in error.detail
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("code", "draft"),
    [
        ("bad_id", _draft("../../etc/passwd")),
        ("bad_id", _draft("Shipping-X")),
        ("bad_id", _draft("shipping-" + "x" * 90)),
        ("id_prefix", _draft("payment-new")),
        ("id_taken", _draft("shipping-costs")),
        ("title_missing", _draft(title_zh="  ")),
        ("title_invalid", _draft(title_en="two\nlines")),
        ("title_invalid", _draft(title_zh="甲 / 乙")),
        ("title_invalid", _draft(title_en="x" * 200)),
        ("title_zh_needs_chinese", _draft(title_zh="no chinese")),
        ("title_en_has_chinese", _draft(title_en="中文")),
        ("text_missing", _draft(text_zh="", text_en="  \n ")),
        ("text_too_long", _draft(text_en="a" * (kf.MAX_TEXT_CHARS + 1))),
        ("zh_needs_chinese", _draft(text_zh="only latin")),
        ("en_has_chinese", _draft(text_en="mixed 中文")),
    ],
)
def test_invalid_fields_are_refused(folder: Path, code: str, draft: PassageDraft) -> None:
    path = folder / "shipping.md"
    before = path.read_bytes()
    _refused(code, kf.add_passage, folder, "shipping", draft, _digest(path))
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    "topic",
    ["../x", "..", "a/b", "/etc/passwd", "README", "readme", "x.md", "", "Ship", "a" * 41, "é"],
)
def test_topic_names_stay_inside_the_folder(folder: Path, topic: str) -> None:
    _refused("bad_topic", kf.topic_path, folder, topic)
    _refused("bad_topic", kf.add_topic, folder, TopicDraft(topic, "礼品", "Gifts"), _draft())
    assert sorted(os.listdir(folder)) == sorted(os.listdir(REPO / "knowledge"))


def test_a_symbolic_link_is_never_written_through(folder: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.md"
    outside.write_text("keep me", encoding="utf-8")
    (folder / "linked.md").symlink_to(outside)
    _refused("unsafe_path", kf.topic_path, folder, "linked")
    _refused("unsafe_path", kf.delete_topic, folder, "linked", kf.digest(b"keep me"))
    assert outside.read_text(encoding="utf-8") == "keep me"
    assert "linked" not in {t.topic for t in kf.read_topics(folder)}


def test_hostile_characters_are_cleaned_and_the_file_stays_valid(folder: Path) -> None:
    path = folder / "shipping.md"
    hostile = "运费\x00\x07说明\ud800\u202e\r\n第二行\x1b[31m"
    kf.add_passage(folder, "shipping", _draft(text_zh=hostile), _digest(path))
    passage = next(p for p in load_knowledge(folder) if p.id == "shipping-gift-notes")
    assert passage.text_zh == "运费说明\u202e\n第二行[31m"
    path.read_bytes().decode("utf-8")  # still UTF-8, no NUL, no surrogate


def test_a_file_may_not_grow_past_the_parsers_limit(folder: Path) -> None:
    path = folder / "shipping.md"
    big = "\n## 大段 / Big {#shipping-big}\n\n<!-- en -->\n" + "x" * (MAX_FILE_BYTES - 15_000)
    path.write_text(path.read_text(encoding="utf-8") + big + "\n", encoding="utf-8")
    before = path.read_bytes()
    assert len(before) < MAX_FILE_BYTES
    draft = _draft(text_en="y" * kf.MAX_TEXT_CHARS, text_zh=None)
    _refused("file_too_large", kf.add_passage, folder, "shipping", draft, _digest(path))
    assert path.read_bytes() == before
    kf.add_passage(folder, "shipping", _draft(), _digest(path))  # a small one still fits
    load_knowledge(folder)


def test_the_last_passage_is_deleted_with_its_topic(folder: Path) -> None:
    kf.add_topic(folder, TopicDraft("gifts", "礼品", "Gifts"), _draft("gifts-wrap"))
    path = folder / "gifts.md"
    _refused("last_passage", kf.delete_passage, folder, "gifts", "gifts-wrap", _digest(path))
    _refused(
        "topic_exists",
        kf.add_topic,
        folder,
        TopicDraft("gifts", "礼品", "Gifts"),
        _draft("gifts-b"),
    )
    _refused("not_found", kf.delete_passage, folder, "gifts", "gifts-nope", _digest(path))
    _refused("not_found", kf.read_topic, folder, "nothing-here")


def test_the_first_topic_creates_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "new-kb"
    assert kf.read_topics(folder) == []
    kf.add_topic(folder, TopicDraft("gifts", "礼品", "Gifts"), _draft("gifts-wrap"))
    assert [p.id for p in load_knowledge(folder)] == ["gifts-wrap"]


def test_ids_are_unique_across_files(folder: Path) -> None:
    path = folder / "shipping.md"
    kf.add_passage(folder, "shipping", _draft("shipping-extra-a"), _digest(path))
    topic = TopicDraft("shipping-extra", "更多配送", "More shipping")
    _refused("id_taken", kf.add_topic, folder, topic, _draft("shipping-extra-a"))
    kf.add_topic(folder, topic, _draft("shipping-extra-b"))
    extra = folder / "shipping-extra.md"
    _refused(
        "id_taken",
        kf.add_passage,
        folder,
        "shipping-extra",
        _draft("shipping-extra-a"),
        _digest(extra),
    )
    load_knowledge(folder)


def test_a_broken_file_is_listed_with_the_parsers_message(folder: Path) -> None:
    (folder / "broken.md").write_bytes(b"---\ntopic: broken\n\xff\xfe\n")
    topics = {t.topic: t for t in kf.read_topics(folder)}
    assert topics["broken"].passages == () and "not valid UTF-8" in (topics["broken"].error or "")
    assert topics["shipping"].error is None and len(topics["shipping"].passages) >= 5
    draft = _draft("broken-a")
    _refused("broken_file", kf.add_passage, folder, "broken", draft, topics["broken"].digest)


def test_concurrent_edits_of_one_file_let_exactly_one_win(folder: Path) -> None:
    path = folder / "shipping.md"
    loaded = _digest(path)
    outcomes: list[str] = []

    def edit(i: int) -> None:
        try:
            kf.update_passage(
                folder, "shipping", _draft("shipping-costs", title_en=f"T{i}"), loaded
            )
            outcomes.append("ok")
        except KnowledgeEditError as error:
            outcomes.append(error.code)

    threads = [threading.Thread(target=edit, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["ok"] + ["stale"] * 7
    load_knowledge(folder)
