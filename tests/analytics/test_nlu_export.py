"""Generation of the NLU product lookup table and the jieba user dictionary."""

from __future__ import annotations

import re
from pathlib import Path

import jieba

from analytics.generator import load_catalogue
from analytics.nlu_export import (
    LOOKUP_PATH,
    SHOP_WORDS,
    USERDICT_PATH,
    export_nlu,
    product_names_from_csv,
    render_lookup,
    render_userdict,
)
from analytics.settings import REPO_ROOT
from tests.analytics.conftest import SeededStore

USERDICT_LINE = re.compile(r"^\S+ \d+ [a-z]+$")
REQUIRED_SHOP_WORDS = {"订阅", "退款", "物流", "快递单号", "礼盒", "暂停"}


def _lookup_examples(text: str) -> list[str]:
    lines = text.splitlines()
    assert 'version: "3.1"' in lines
    assert "nlu:" in lines
    start = lines.index("- lookup: product")
    assert lines[start + 1] == "  examples: |"
    examples = []
    for line in lines[start + 2 :]:
        if not line.startswith("    - "):
            break
        examples.append(line[len("    - ") :])
    return examples


def test_lookup_has_every_zh_and_en_name() -> None:
    catalogue = load_catalogue()
    examples = _lookup_examples(render_lookup(product_names_from_csv()))
    assert set(examples) == {r.name_zh for r in catalogue} | {r.name_en for r in catalogue}
    assert len(examples) == len(set(examples))


def test_userdict_format_and_content() -> None:
    text = render_userdict(product_names_from_csv())
    lines = text.splitlines()
    assert all(USERDICT_LINE.match(line) for line in lines), lines
    words = [line.split(" ")[0] for line in lines]
    assert len(words) == len(set(words))
    assert {r.name_zh for r in load_catalogue()} <= set(words)
    assert REQUIRED_SHOP_WORDS <= set(words)
    assert {w for w, _, _ in SHOP_WORDS} <= set(words)


def test_jieba_keeps_product_names_and_shop_words_whole(tmp_path: Path) -> None:
    path = tmp_path / "userdict.txt"
    path.write_text(render_userdict(product_names_from_csv()), encoding="utf-8")
    tokenizer = jieba.Tokenizer()
    tokenizer.load_userdict(str(path))
    tokens = tokenizer.lcut("我买的西湖龙井和耶加雪菲的快递单号是多少，想暂停订阅")
    assert {"西湖龙井", "耶加雪菲", "快递单号"} <= set(tokens)


def test_export_from_store_matches_csv(seeded_store: SeededStore, tmp_path: Path) -> None:
    from_db = export_nlu(seeded_store.url, root=tmp_path / "db")
    from_csv = export_nlu(None, root=tmp_path / "csv")
    assert [p.relative_to(tmp_path / "db") for p in from_db] == [LOOKUP_PATH, USERDICT_PATH]
    for a, b in zip(from_db, from_csv, strict=True):
        assert a.read_text(encoding="utf-8") == b.read_text(encoding="utf-8")


def test_export_falls_back_to_csv_without_database(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    written = export_nlu(f"sqlite:///{missing}", root=tmp_path)
    assert not missing.exists()  # no empty database file is created
    assert all(p.is_file() for p in written)


def test_committed_files_are_up_to_date() -> None:
    products = product_names_from_csv()
    assert (REPO_ROOT / LOOKUP_PATH).read_text(encoding="utf-8") == render_lookup(products)
    assert (REPO_ROOT / USERDICT_PATH).read_text(encoding="utf-8") == render_userdict(products)
