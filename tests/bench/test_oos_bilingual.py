"""The hand-written bilingual out-of-scope set (bench/nlu/oos_bilingual.py).

Plain pytest in the main environment: the loader needs only the standard library and
the YAML files are read with ruamel.yaml.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from bench.nlu.oos_bilingual import (
    CATEGORIES,
    LANGUAGE_TARGETS,
    LANGUAGES,
    OOS_LABEL,
    OosExample,
    evaluation_pairs,
    load_inscope_controls,
    load_oos_bilingual,
    normalise,
)

REPO = Path(__file__).resolve().parents[2]
NLU_DIR = REPO / "nlu_data"
CORE_DOMAIN = REPO / "bot" / "domain" / "core.yml"
ANNOTATION_RE = re.compile(r"\[(?P<text>[^\]]+?)\]\((?P<entity>[^)]+?)\)")
CJK_RE = re.compile(r"[\u4e00-\u9fff]")
LATIN_RE = re.compile(r"[A-Za-z]")


def _yaml(path: Path):
    return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))


def _training_texts() -> set[str]:
    texts = set()
    for lang in LANGUAGES:
        for path in sorted((NLU_DIR / lang).glob("*.yml")):
            for item in _yaml(path).get("nlu", []):
                if "intent" not in item:
                    continue
                for line in item["examples"].splitlines():
                    line = line.strip()
                    if line.startswith("- "):
                        plain = ANNOTATION_RE.sub(lambda m: m.group("text"), line[2:])
                        texts.add(normalise(plain))
    return texts


def _domain_intents() -> set[str]:
    return {i if isinstance(i, str) else next(iter(i)) for i in _yaml(CORE_DOMAIN)["intents"]}


@pytest.fixture(scope="module")
def oos() -> list[OosExample]:
    return load_oos_bilingual()


def test_at_least_300_out_of_scope_messages(oos: list[OosExample]) -> None:
    assert len(oos) >= 300


def test_language_shares_are_within_five_points_of_the_targets(oos: list[OosExample]) -> None:
    counts = Counter(e.language for e in oos)
    for language, target in LANGUAGE_TARGETS.items():
        assert abs(counts[language] / len(oos) - target) <= 0.05, (language, counts)


def test_every_category_has_at_least_ten_examples(oos: list[OosExample]) -> None:
    counts = Counter(e.category for e in oos)
    assert {c: counts[c] for c in CATEGORIES if counts[c] < 10} == {}


def test_languages_match_the_script(oos: list[OosExample]) -> None:
    controls = load_inscope_controls()
    rows = [(e.text, e.language) for e in oos] + [(c.text, c.language) for c in controls]
    wrong = [
        (text, language)
        for text, language in rows
        if (language == "en" and CJK_RE.search(text))
        or (language == "zh" and not CJK_RE.search(text))
        or (language == "mixed" and not (CJK_RE.search(text) and LATIN_RE.search(text)))
    ]
    assert wrong == []


def test_no_duplicate_texts(oos: list[OosExample]) -> None:
    keys = [normalise(e.text) for e in oos] + [normalise(c.text) for c in load_inscope_controls()]
    assert [k for k, n in Counter(keys).items() if n > 1] == []


def test_nothing_is_in_the_training_data(oos: list[OosExample]) -> None:
    training = _training_texts()
    assert len(training) > 1000
    leaked = [e.text for e in oos if normalise(e.text) in training]
    leaked += [c.text for c in load_inscope_controls() if normalise(c.text) in training]
    assert leaked == []


def test_controls_use_the_domain_intents() -> None:
    controls = load_inscope_controls()
    intents = _domain_intents() - {"nlu_fallback"}
    assert len(controls) >= 60
    assert {c.intent for c in controls} == intents
    assert all(Counter(c.language for c in controls)[lang] >= 10 for lang in LANGUAGES)


def test_evaluation_pairs_label_out_of_scope_messages(oos: list[OosExample]) -> None:
    pairs = evaluation_pairs()
    assert len(pairs) == len(oos) + len(load_inscope_controls())
    assert sum(label == OOS_LABEL for _, label in pairs) == len(oos)


def test_loader_rejects_unknown_categories(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "hi", "language": "en", "category": "cooking"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="category"):
        load_oos_bilingual(bad)
