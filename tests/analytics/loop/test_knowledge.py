"""The hot-reloading knowledge base and the answer log (analytics.loop.knowledge)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from analytics.brain.retrieval import PassageRetriever
from analytics.core.settings import get_settings
from analytics.core.settings_sources import InvalidSettingsError
from analytics.loop.knowledge import (
    KnowledgeBase,
    fingerprint,
    get_knowledge_base,
    load_snapshot,
    record_answer,
    stored_question,
)
from analytics.store.knowledge import load_knowledge
from analytics.store.models import KnowledgeAnswer
from analytics.store.models.knowledge import MAX_QUESTION_CHARS

REPO = Path(__file__).resolve().parents[3]
KNOWLEDGE = REPO / "knowledge"
RELOAD = 10.0

TEAPOT = """---
topic: teapots
title_zh: 茶壶
title_en: Teapots
---

## 紫砂壶开壶 / Seasoning a clay teapot {#teapots-seasoning}

<!-- zh -->
新的紫砂壶第一次使用前，用开水烫洗三遍即可，不需要煮。

<!-- en -->
Before first use, rinse a new Yixing clay teapot three times with boiling water; no boiling needed.
"""


class FakeClock:
    """Monotonic seconds the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """A knowledge folder with two of the repository's topic files."""
    target = tmp_path / "knowledge"
    target.mkdir()
    for name in ("shipping.md", "payment.md"):
        shutil.copy(KNOWLEDGE / name, target / name)
    return target


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture()
def base(folder: Path, clock: FakeClock) -> KnowledgeBase:
    return KnowledgeBase(folder, RELOAD, clock=clock)


def top_id(base: KnowledgeBase, question: str) -> str | None:
    snapshot = base.current()
    assert snapshot.retriever is not None
    hits = snapshot.retriever.retrieve(question, k=1)
    return hits[0].passage_id if hits else None


def test_the_repository_knowledge_loads_whole() -> None:
    snapshot = load_snapshot(KNOWLEDGE)
    assert snapshot.problems == ()
    assert list(snapshot.passages) == [p.id for p in load_knowledge(KNOWLEDGE)]
    assert snapshot.retriever is not None
    assert snapshot.retriever.ids_ == list(snapshot.passages)


def test_a_new_file_is_used_after_the_interval_not_before(
    base: KnowledgeBase, folder: Path, clock: FakeClock
) -> None:
    assert "teapots-seasoning" not in base.current().passages
    (folder / "teapots.md").write_text(TEAPOT, encoding="utf-8")
    clock.advance(RELOAD - 1)
    assert "teapots-seasoning" not in base.current().passages
    clock.advance(1)
    assert "teapots-seasoning" in base.current().passages
    assert top_id(base, "how do I season a new clay teapot") == "teapots-seasoning"
    assert top_id(base, "紫砂壶怎么开壶") == "teapots-seasoning"


def test_a_deleted_file_is_no_longer_used(
    base: KnowledgeBase, folder: Path, clock: FakeClock
) -> None:
    assert "payment-methods" in base.current().passages
    (folder / "payment.md").unlink()
    clock.advance(RELOAD)
    snapshot = base.current()
    assert not [p for p in snapshot.passages if p.startswith("payment-")]
    assert snapshot.retriever is not None
    assert not [
        h for h in snapshot.retriever.retrieve("alipay wechat pay", 5) if "payment" in h.passage_id
    ]


def test_an_edit_with_the_same_size_and_mtime_is_seen_by_its_hash(
    base: KnowledgeBase, folder: Path, clock: FakeClock
) -> None:
    path = folder / "teapots.md"
    path.write_text(TEAPOT, encoding="utf-8")
    stat = path.stat()
    clock.advance(RELOAD)
    assert "three times" in (base.current().passages["teapots-seasoning"].text_en or "")
    path.write_text(TEAPOT.replace("three", "seven"), encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size
    clock.advance(RELOAD)
    assert "seven times" in (base.current().passages["teapots-seasoning"].text_en or "")


def test_same_size_same_mtime_different_bytes_changes_the_fingerprint(folder: Path) -> None:
    path = folder / "teapots.md"
    path.write_text(TEAPOT, encoding="utf-8")
    before = fingerprint(folder)
    stat = path.stat()
    path.write_text(TEAPOT.replace("three", "THREE"), encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    after = fingerprint(folder)
    assert [e[1:3] for e in before] == [e[1:3] for e in after]
    assert before != after


def test_nothing_changed_means_no_refit(base: KnowledgeBase, clock: FakeClock) -> None:
    first = base.current()
    for _ in range(3):
        clock.advance(RELOAD)
        assert base.current() is first
    assert base.reloads == 1


@pytest.mark.parametrize(
    "content",
    [
        b"\xff\xfe not utf-8 \x80",
        b"binary\x00\x01\x02",
        b"",
        "---\ntopic: broken\ntitle_zh: 坏\ntitle_en: Broken\n---\n\n## no id here\n".encode(),
        "---\ntopic: wrong-name\ntitle_zh: 坏\ntitle_en: Broken\n---\n".encode(),
        b"---\n" + b"x" * 2_000_000,
    ],
    ids=["invalid-utf8", "binary", "empty", "bad-heading", "wrong-topic", "too-large"],
)
def test_a_broken_file_is_skipped_and_the_rest_keep_answering(
    base: KnowledgeBase, folder: Path, clock: FakeClock, content: bytes
) -> None:
    before = set(base.current().passages)
    (folder / "broken.md").write_bytes(content)
    clock.advance(RELOAD)
    snapshot = base.current()
    assert set(snapshot.passages) == before
    assert [p.file for p in snapshot.problems] == ["broken.md"]
    assert top_id(base, "支持哪些付款方式") == "payment-methods"


def test_a_file_repeating_another_files_id_is_skipped(
    base: KnowledgeBase, folder: Path, clock: FakeClock
) -> None:
    twin = TEAPOT.replace("teapots-seasoning", "payment-methods").replace("teapots", "zz")
    (folder / "zz.md").write_text(twin.replace("topic: zz", "topic: zz"), encoding="utf-8")
    clock.advance(RELOAD)
    snapshot = base.current()
    assert [p.file for p in snapshot.problems] == ["zz.md"]
    assert snapshot.passages["payment-methods"].topic == "payment"


def test_a_missing_folder_answers_nothing_until_it_appears(
    tmp_path: Path, clock: FakeClock
) -> None:
    folder = tmp_path / "later"
    base = KnowledgeBase(folder, RELOAD, clock=clock)
    snapshot = base.current()
    assert snapshot.retriever is None and not snapshot.passages
    folder.mkdir()
    (folder / "teapots.md").write_text(TEAPOT, encoding="utf-8")
    clock.advance(RELOAD)
    assert list(base.current().passages) == ["teapots-seasoning"]


def test_a_failing_reload_keeps_the_last_good_version(folder: Path, clock: FakeClock) -> None:
    fits = {"n": 0}

    def factory() -> PassageRetriever:
        fits["n"] += 1
        if fits["n"] > 1:
            raise RuntimeError("refit failed")
        return PassageRetriever()

    base = KnowledgeBase(folder, RELOAD, retriever_factory=factory, clock=clock)
    first = base.current()
    (folder / "teapots.md").write_text(TEAPOT, encoding="utf-8")
    clock.advance(RELOAD)
    assert base.current() is first


def test_stored_question_is_redacted_clean_and_bounded() -> None:
    text = "call me on 13812345678 or mail li.na@example.com\x00\x07\ud800 about returns"
    stored = stored_question(text)
    assert "13812345678" not in stored and "li.na@example.com" not in stored
    assert "[PHONE]" in stored and "[EMAIL]" in stored
    assert "\x00" not in stored and "\x07" not in stored and "\ud800" not in stored
    assert len(stored_question("退货" * 100_000)) == MAX_QUESTION_CHARS


def test_record_answer_writes_the_row(empty_store: Engine) -> None:
    with Session(empty_store) as session:
        record_answer(
            session,
            sender_id="s-1",
            customer_id=None,
            question="my phone is 13812345678, what is the return policy?",
            passage_id="returns-refunds-policy",
            score=0.42,
            language="en",
            mode="direct",
            intent="ask_faq",
        )
        record_answer(
            session,
            sender_id="s-1",
            customer_id=None,
            question="who won the match?",
            passage_id="ignored-for-refusals",
            score=0.05,
            language="zh",
            mode="refused",
            intent="ask_faq",
        )
        session.commit()
        rows = session.scalars(select(KnowledgeAnswer).order_by(KnowledgeAnswer.id)).all()
    assert [(r.passage_id, r.mode, r.language) for r in rows] == [
        ("returns-refunds-policy", "direct", "en"),
        (None, "refused", "zh"),
    ]
    assert "13812345678" not in rows[0].question and "[PHONE]" in rows[0].question
    assert rows[0].created_at.tzinfo is not None


def test_the_table_refuses_an_unknown_mode(empty_store: Engine) -> None:
    with Session(empty_store) as session:
        record_answer(
            session,
            sender_id="s",
            customer_id=None,
            question="q",
            passage_id=None,
            score=0.0,
            language="en",
            mode="made-up",
        )
        with pytest.raises(IntegrityError):
            session.commit()


def test_the_process_knowledge_base_follows_the_settings(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KNOWLEDGE_DIR", str(folder))
    monkeypatch.setenv("KNOWLEDGE_RELOAD_SECONDS", "60")
    get_settings.cache_clear()
    get_knowledge_base.cache_clear()
    try:
        base = get_knowledge_base()
        assert (base.folder, base.reload_seconds) == (folder, 60.0)
        assert get_knowledge_base() is base
        assert "payment-methods" in base.current().passages
    finally:
        get_knowledge_base.cache_clear()
        get_settings.cache_clear()


@pytest.mark.parametrize("seconds", ["0", "61", "soon"])
def test_a_reload_interval_outside_1_to_60_s_is_refused(
    seconds: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KNOWLEDGE_RELOAD_SECONDS", seconds)
    get_settings.cache_clear()
    try:
        with pytest.raises(InvalidSettingsError, match="KNOWLEDGE_RELOAD_SECONDS"):
            get_settings()
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
