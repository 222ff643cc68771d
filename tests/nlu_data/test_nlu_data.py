"""Checks on the NLU training data in nlu_data/{zh,en,mixed}/.

Plain pytest; runs in the main venv (no Rasa needed). YAML is read with ruamel.yaml.
"""

from __future__ import annotations

import csv
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
NLU_DIR = ROOT / "nlu_data"
CATALOGUE = ROOT / "analytics" / "store" / "data" / "catalogue.csv"
LANGS = ("zh", "en", "mixed")
MIN_PER_INTENT = {"zh": 30, "en": 30, "mixed": 10}

INTENTS = {
    "greet",
    "goodbye",
    "thank",
    "affirm",
    "deny",
    "bot_challenge",
    "order_status",
    "shipping_info",
    "refund_request",
    "cancel_subscription",
    "pause_subscription",
    "complain",
    "pricing",
    "ask_recommendation",
    "account_status",
    "discount_inquiry",
    "human_handoff",
    "praise",
    "update_account",
    "report_problem",
    # issue 15: policy questions, out-of-scope messages, the state of a refund
    "ask_faq",
    "out_of_scope",
    "refund_status",
}
ENTITIES = {"order_id", "product"}
ORDER_ID_INTENTS = {"order_status", "refund_request", "report_problem", "refund_status"}
ORDER_ID_RE = re.compile(r"^LB\d{6}$")
# Same shape as Rasa's markdown-in-YAML entity annotation: [text](entity) or [text](entity:value)
ANNOTATION_RE = re.compile(r"\[(?P<text>[^\]]+?)\]\((?P<entity>[^:)]+?)(?::(?P<value>[^)]+))?\)")


def _catalogue_names() -> set[str]:
    with CATALOGUE.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return {r["name_zh"] for r in rows} | {r["name_en"] for r in rows}


def _files() -> list[tuple[str, Path]]:
    out = []
    for lang in LANGS:
        out += [(lang, p) for p in sorted((NLU_DIR / lang).glob("*.yml"))]
    return out


def _load(path: Path):
    return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))


def _examples(block: str) -> list[str]:
    lines = [ln.strip() for ln in block.splitlines() if ln.strip()]
    bad = [ln for ln in lines if not ln.startswith("- ")]
    assert not bad, f"example lines must start with '- ': {bad[:3]}"
    return [ln[2:].strip() for ln in lines]


def _collect():
    """[(lang, file, intent, raw example)]"""
    rows = []
    for lang, path in _files():
        data = _load(path)
        for item in data["nlu"]:
            for ex in _examples(item["examples"]):
                rows.append((lang, path.name, item["intent"], ex))
    return rows


def _plain(example: str) -> str:
    return ANNOTATION_RE.sub(lambda m: m.group("text"), example)


def _normalise(text: str) -> str:
    return re.sub(r"\s+", "", text).casefold()


@pytest.fixture(scope="module")
def rows():
    return _collect()


def test_files_exist_for_every_language():
    for lang in LANGS:
        assert list((NLU_DIR / lang).glob("*.yml")), f"no .yml files in nlu_data/{lang}"
    assert not list(NLU_DIR.glob("*/*.yaml")), "use the .yml extension"


@pytest.mark.parametrize("lang,path", _files(), ids=lambda v: str(v))
def test_file_parses_and_has_rasa_shape(lang, path):
    data = _load(path)
    assert isinstance(data, dict)
    assert str(data.get("version")) == "3.1", 'version must be the string "3.1"'
    assert set(data) == {"version", "nlu"}, f"unexpected top-level keys: {set(data)}"
    assert isinstance(data["nlu"], list) and data["nlu"]
    seen = set()
    for item in data["nlu"]:
        assert set(item) == {"intent", "examples"}, f"unexpected keys {set(item)}"
        assert item["intent"] not in seen, f"intent {item['intent']} listed twice in {path.name}"
        seen.add(item["intent"])
        assert isinstance(item["examples"], str)
        assert _examples(item["examples"]), f"{item['intent']} has no examples"


def test_only_known_intents(rows):
    found = {intent for _, _, intent, _ in rows}
    assert found <= INTENTS, f"unknown intents: {found - INTENTS}"
    assert found == INTENTS, f"missing intents: {INTENTS - found}"


def test_intent_lives_in_one_topic_file_per_language(rows):
    # corrections.yml (written by the founder console) holds examples of many intents.
    where = defaultdict(set)
    for lang, fname, intent, _ in rows:
        if fname != "corrections.yml":
            where[(lang, intent)].add(fname)
    split = {k: v for k, v in where.items() if len(v) > 1}
    assert not split, f"intents spread over several files: {split}"


def test_minimum_examples_per_intent_and_language(rows):
    counts = Counter((lang, intent) for lang, _, intent, _ in rows)
    short = {
        f"{lang}/{intent}": counts[(lang, intent)]
        for lang in LANGS
        for intent in INTENTS
        if counts[(lang, intent)] < MIN_PER_INTENT[lang]
    }
    assert not short, f"too few examples (min {MIN_PER_INTENT}): {short}"


def test_no_duplicate_examples(rows):
    seen: dict[str, tuple] = {}
    dups = []
    for lang, fname, intent, ex in rows:
        key = _normalise(_plain(ex))
        if key in seen:
            dups.append((ex, seen[key], (lang, fname, intent)))
        else:
            seen[key] = (lang, fname, intent)
    assert not dups, f"duplicate examples (case/whitespace-insensitive): {dups[:10]}"


def test_entity_annotations_well_formed(rows):
    catalogue = _catalogue_names()
    problems = []
    for _lang, _fname, intent, ex in rows:
        for m in ANNOTATION_RE.finditer(ex):
            text, entity, value = m.group("text"), m.group("entity"), m.group("value")
            if entity not in ENTITIES:
                problems.append((ex, f"entity {entity!r} not allowed"))
            if text != text.strip():
                problems.append((ex, "entity text has surrounding spaces"))
            if value is not None:
                problems.append((ex, "no entity values/synonyms: annotate the exact text"))
            if entity == "order_id":
                if not ORDER_ID_RE.match(text):
                    problems.append((ex, f"order id {text!r} is not LB + 6 digits"))
                if intent not in ORDER_ID_INTENTS:
                    problems.append((ex, f"order_id annotated in intent {intent}"))
            if entity == "product" and text not in catalogue:
                problems.append((ex, f"product {text!r} is not a catalogue name"))
        rest = ANNOTATION_RE.sub("", ex)
        if any(ch in rest for ch in "[]{}") or "](" in rest:
            problems.append((ex, "stray or malformed annotation brackets"))
    assert not problems, problems[:20]


def test_no_unannotated_order_ids_or_product_names(rows):
    """Every order number and every exact catalogue name in an example is annotated."""
    catalogue = _catalogue_names()
    latin = [n for n in catalogue if n.isascii()]
    cjk = [n for n in catalogue if not n.isascii()]
    problems = []
    for _, _, intent, ex in rows:
        rest = ANNOTATION_RE.sub(" <ENT> ", ex)
        if re.search(r"LB\d{3,}", rest, re.IGNORECASE):
            problems.append((intent, ex, "order id without [..](order_id)"))
        for name in cjk:
            if name in rest:
                problems.append((intent, ex, f"{name} without [..](product)"))
        for name in latin:
            if re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", rest, re.IGNORECASE):
                problems.append((intent, ex, f"{name} without [..](product)"))
    assert not problems, problems[:20]


def test_order_id_coverage(rows):
    """About a third of the order-related examples carry an annotated order id."""
    for lang in ("zh", "en"):
        for intent in ORDER_ID_INTENTS:
            exs = [ex for lg, _, it, ex in rows if lg == lang and it == intent]
            with_id = [ex for ex in exs if "](order_id)" in ex]
            share = len(with_id) / len(exs)
            assert 0.2 <= share <= 0.5, f"{lang}/{intent}: {len(with_id)}/{len(exs)} with order_id"


def test_readme_lists_every_intent():
    readme = (NLU_DIR / "README.md").read_text(encoding="utf-8")
    missing = [i for i in INTENTS if i not in readme]
    assert not missing, f"nlu_data/README.md does not mention {missing}"


_CJK_RE = re.compile(r"[\u3400-\u9fff]")
_LATIN_RE = re.compile(r"[A-Za-z]")


def test_scripts_match_language_folder(rows):
    """en has no Chinese characters; every mixed example really mixes Chinese and Latin words."""
    problems = []
    for lang, _fname, intent, ex in rows:
        text = _plain(ex)
        if lang == "en" and _CJK_RE.search(text):
            problems.append((lang, intent, ex))
        if lang == "mixed" and not (_CJK_RE.search(text) and _LATIN_RE.search(text)):
            problems.append((lang, intent, ex))
    assert not problems, problems[:20]
