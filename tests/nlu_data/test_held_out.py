"""Held-out evaluation texts never appear in nlu_data/ (issue 15).

The held-out knowledge-base questions (``bench/knowledge/questions.jsonl``), the fixed
policy-vs-action list (``bench/nlu/data/policy_pairs.jsonl``) and CLINC150's out-of-scope
validation and test splits (``../shared/data``; ``oos_train`` may be trained on; the
in-scope splits are not used on the bot, and share greetings such as "hi" with it) are
measured against the bot's NLU, so none of their texts may be a training example.
Comparison is case-, whitespace- and annotation-insensitive, and also ignores a final
punctuation mark, so "return policy?" and "Return policy" count as the same text.
Plain pytest in the main environment.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.nlu_data.test_nlu_data import _collect, _plain

ROOT = Path(__file__).resolve().parents[2]
KB_QUESTIONS = ROOT / "bench" / "knowledge" / "questions.jsonl"
POLICY_PAIRS = ROOT / "bench" / "nlu" / "data" / "policy_pairs.jsonl"
CLINC = ROOT.parent / "shared" / "data" / "clinc150" / "data_full.json"
_TRAILING = re.compile(r"[\s?？!！.。,，~～]+$")


def _key(text: str) -> str:
    return _TRAILING.sub("", re.sub(r"\s+", "", text).casefold())


def _jsonl(path: Path, field: str) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)[field] for line in lines if line.strip()]


@pytest.fixture(scope="module")
def training_keys() -> set[str]:
    keys = {_key(_plain(example)) for _, _, _, example in _collect()}
    assert len(keys) > 4000
    return keys


def test_no_knowledge_base_question_is_a_training_example(training_keys: set[str]) -> None:
    questions = _jsonl(KB_QUESTIONS, "question")
    assert len(questions) >= 200
    assert [q for q in questions if _key(q) in training_keys] == []


def test_no_policy_pair_is_a_training_example(training_keys: set[str]) -> None:
    texts = _jsonl(POLICY_PAIRS, "text")
    assert len(texts) >= 30
    assert [t for t in texts if _key(t) in training_keys] == []


@pytest.mark.skipif(not CLINC.is_file(), reason="CLINC150 is not in ../shared/data")
def test_no_clinc150_out_of_scope_validation_or_test_text_is_a_training_example(
    training_keys: set[str],
) -> None:
    data = json.loads(CLINC.read_text(encoding="utf-8"))
    held_out = [text for split in ("oos_val", "oos_test") for text, _ in data[split]]
    assert [t for t in held_out if _key(t) in training_keys] == []


def test_the_key_ignores_case_spaces_and_final_punctuation() -> None:
    assert _key("Return policy?") == _key("return  policy")
    assert _key("支持七天无理由退货吗？") == _key("支持七天无理由退货吗")
    assert _key("refund") != _key("refunds")
