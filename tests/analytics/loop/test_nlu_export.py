"""Generation of the NLU product lookup table and the jieba user dictionary."""

from __future__ import annotations

import io
import json
import re
import subprocess
import unicodedata
from pathlib import Path

import jieba
import pytest
from ruamel.yaml import YAML
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from analytics.core.settings import REPO_ROOT
from analytics.loop.nlu_export import (
    LOOKUP_PATH,
    MAX_NAME_CHARS,
    SHOP_WORDS,
    USERDICT_PATH,
    ProductName,
    check_lookup,
    clean_name,
    export_nlu,
    parse_lookup,
    product_names_from_csv,
    render_lookup,
    render_userdict,
)
from analytics.store.catalogue import load_catalogue
from analytics.store.models import Product
from tests.analytics.conftest import BACKENDS, SeededStore

USERDICT_LINE = re.compile(r"^\S+ \d+ [a-z]+$")
REQUIRED_SHOP_WORDS = {"订阅", "退款", "物流", "快递单号", "礼盒", "暂停"}
RASA_PYTHON = REPO_ROOT / ".venv-rasa" / "bin" / "python"
# Rasa's own NLU reader (Rasa 3.6, in its virtualenv): what `rasa train` would load.
RASA_READ = """
import json, sys
from rasa.shared.nlu.training_data.loading import load_data
data = load_data(sys.argv[1])
print(json.dumps({"lookups": data.lookup_tables, "intents": sorted(data.intents),
    "examples": len(data.training_examples), "regexes": data.regex_features,
    "synonyms": data.entity_synonyms}))
"""


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


HOSTILE_NAMES = [
    "红茶\n- lookup: evil\n  examples: |\n    - injected",
    "name\nnlu:\n- intent: greet\n  examples: |\n    - hi",
    "- already a dash",
    "key: value",
    "# not a comment",
    '"double" quoted',
    "'single' quoted",
    "---",
    "...",
    "--- !!python/object/apply:os.system ['ls']",
    "{a: b}",
    "[x](product)",
    "&anchor *alias",
    "|",
    ">",
    "x" * 5000,
    "bell\x07 nul\x00 esc\x1b[31m",
    "line\u2028separator\u2029para\x85nel\x0bvt\x0cff\x1cfs",
    "\u202eevil bidi",
    "tab\tname\r\nwith crlf",
    "  spaces  around  ",
    "\ufeffbom inside",
    "family \U0001f468\u200d\U0001f469\u200d\U0001f467",
    "\ud800 lone surrogate",
    "non\ufffechar",
    "\n\r\t ",
    "",
    "龙井",  # duplicate after the first product
]


def _hostile_products() -> list[ProductName]:
    names = HOSTILE_NAMES
    return [
        ProductName(f"H{i:02d}", zh, names[(i + 1) % len(names)]) for i, zh in enumerate(names)
    ] + [ProductName("H99", "龙井", "Longjing")]


def _expected_names(products: list[ProductName]) -> list[str]:
    expected: list[str] = []
    for product in products:
        for name in (product.name_zh, product.name_en):
            cleaned = clean_name(name)
            if cleaned and cleaned not in expected:
                expected.append(cleaned)
    return expected


def _assert_only_the_lookup(text: str, expected: list[str]) -> None:
    """Both ruamel loaders read exactly one lookup table with the cleaned names."""
    data = YAML(typ="safe", pure=True).load(text)
    assert set(data) == {"version", "nlu"}
    assert data["version"] == "3.1"
    assert len(data["nlu"]) == 1
    assert set(data["nlu"][0]) == {"lookup", "examples"}
    assert data["nlu"][0]["lookup"] == "product"
    lines = data["nlu"][0]["examples"].splitlines()
    assert [line[2:] for line in lines] == expected
    assert all(line.startswith("- ") for line in lines)
    assert parse_lookup(text) == expected
    # round trip: load and dump again with ruamel's round-trip mode, same document
    rt = YAML()
    rt.preserve_quotes = True
    buffer = io.StringIO()
    rt.dump(rt.load(text), buffer)
    assert buffer.getvalue() == text


def test_cleaned_names_hold_no_line_break_or_control_character() -> None:
    for name in HOSTILE_NAMES:
        cleaned = clean_name(name)
        assert len(cleaned) <= MAX_NAME_CHARS
        assert len(cleaned.splitlines()) <= 1
        assert cleaned == cleaned.strip()
        assert not any(ch != "\u200d" and unicodedata.category(ch)[0] == "C" for ch in cleaned)
    assert clean_name("红茶\n- lookup: evil") == "红茶 - lookup: evil"
    assert clean_name("  a\t\tb  ") == "a b"
    assert clean_name("x" * 5000) == "x" * MAX_NAME_CHARS


def test_hostile_names_render_a_lookup_that_reads_back_as_the_names() -> None:
    products = _hostile_products()
    expected = _expected_names(products)
    assert "龙井" in expected and expected.count("龙井") == 1
    text = render_lookup(products)
    _assert_only_the_lookup(text, expected)
    userdict = render_userdict(products).splitlines()
    assert all(USERDICT_LINE.match(line) for line in userdict), userdict


def test_check_lookup_refuses_an_injected_file() -> None:
    injected = (
        render_lookup(product_names_from_csv()) + "- intent: greet\n  examples: |\n    - hi\n"
    )
    with pytest.raises(ValueError):
        parse_lookup(injected)
    with pytest.raises(ValueError):
        check_lookup(render_lookup(product_names_from_csv()), ["only this"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_export_of_hostile_names_from_the_store_is_valid_for_rasa(
    empty_store: Engine, tmp_path: Path
) -> None:
    """Names written straight into the store (not through the importer) cannot change the
    NLU files: ruamel and Rasa's own reader see one lookup table with the cleaned names."""
    products = [p for p in _hostile_products() if "\ud800" not in p.name_zh + p.name_en]
    if empty_store.dialect.name == "postgresql":  # PostgreSQL text cannot hold NUL
        products = [p for p in products if "\x00" not in p.name_zh + p.name_en]
    with Session(empty_store) as session:
        for p in products:
            session.add(
                Product(
                    sku=p.sku,
                    name_zh=p.name_zh[:200],
                    name_en=p.name_en[:200],
                    category="tea",
                    price_cents=100,
                )
            )
        session.commit()
    lookup, userdict = export_nlu(empty_store.url.render_as_string(False), root=tmp_path)
    stored = [ProductName(p.sku, p.name_zh[:200], p.name_en[:200]) for p in products]
    expected = _expected_names(sorted(stored, key=lambda p: p.sku))
    text = lookup.read_text(encoding="utf-8")
    _assert_only_the_lookup(text, expected)
    assert all(USERDICT_LINE.match(line) for line in userdict.read_text("utf-8").splitlines())
    rasa = subprocess.run(
        [str(RASA_PYTHON), "-c", RASA_READ, str(lookup)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert rasa.returncode == 0, rasa.stderr
    read = json.loads(rasa.stdout.splitlines()[-1])
    assert read == {
        "lookups": [{"name": "product", "elements": expected}],
        "intents": [],
        "examples": 0,
        "regexes": [],
        "synonyms": {},
    }
