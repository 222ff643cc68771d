"""Tests for the NLU benchmark helpers (bench/nlu): scoring rules and data building."""

from __future__ import annotations

import math

from bench.nlu.botdata import BotExample, _switch, code_switched, split_bot_examples
from bench.nlu.datasets import stratified_split
from bench.nlu.eval_bot import choose_fallback_threshold
from bench.nlu.metrics import choose_threshold, oos_predictions, oos_scores


def test_oos_scores_and_threshold_replacement() -> None:
    gold = ["a", "b", "oos", "oos"]
    predicted = oos_predictions(["a", "a", "oos", "b"], [0.9, 0.8, 0.9, 0.2], 0.5, "oos")
    assert predicted == ["a", "a", "oos", "oos"]
    assert oos_scores(gold, predicted, "oos") == {"in_scope_accuracy": 0.5, "oos_recall": 1.0}


def test_choose_threshold_costs_at_most_one_point_of_in_scope_accuracy() -> None:
    # 100 in-scope (all correct, confidences 0.01..1.00) and 10 oos predicted as "a".
    gold = ["a"] * 100 + ["oos"] * 10
    labels = ["a"] * 110
    confidences = [(i + 1) / 100 for i in range(100)] + [0.005] * 10
    threshold = choose_threshold(gold, labels, confidences, "oos", max_in_scope_drop=0.01)
    scores = oos_scores(gold, oos_predictions(labels, confidences, threshold, "oos"), "oos")
    assert scores["in_scope_accuracy"] >= 0.99
    assert scores["oos_recall"] == 1.0
    assert threshold > 0.005
    # With nothing to gain it keeps the trained class only or a harmless threshold.
    assert choose_threshold(["a"], ["a"], [0.5], "oos") <= 0.5 or math.isinf(
        choose_threshold(["a"], ["a"], [0.5], "oos")
    )


def test_fallback_threshold_bounds_in_domain_loss() -> None:
    in_domain = [(True, c / 100) for c in range(40, 100)] + [(False, 0.3)] * 10
    ood = [0.1, 0.2, 0.3, 0.45, 0.5]
    row = choose_fallback_threshold(in_domain, ood, max_loss=0.05)
    base = 60 / 70
    assert row["in_domain_kept_correct"] >= base - 0.05 - 1e-9
    assert row["ood_rejected"] >= 0.6
    assert choose_fallback_threshold(in_domain, ood, max_loss=0.0)["threshold"] <= 0.40


def test_stratified_split_is_deterministic_and_stratified() -> None:
    examples = [(f"t{i}", f"l{i % 4}") for i in range(100)] + [("lonely", "single")]
    train1, test1 = stratified_split(examples)
    train2, test2 = stratified_split(examples)
    assert (train1, test1) == (train2, test2)
    assert ("lonely", "single") in train1
    assert sorted({label for _, label in test1}) == ["l0", "l1", "l2", "l3"]
    assert len(test1) == 20


def test_code_switching_replaces_words_both_ways() -> None:
    import random

    rng = random.Random(0)
    zh = _switch("我的订单到哪了", {"订单": "order"}, rng, latin=False)
    assert zh == "我的order到哪了"
    en = _switch("Cancel my subscription", {"subscription": "订阅"}, rng, latin=True)
    assert en == "Cancel my 订阅"
    assert _switch("no glossary words", {"订单": "order"}, rng, latin=True) is None


def test_code_switched_set_comes_only_from_held_out_examples() -> None:
    examples = [BotExample(f"我的订单{i}号到哪了", "order_status", "zh") for i in range(10)] + [
        BotExample(f"cancel my subscription {i}", "cancel_subscription", "en") for i in range(10)
    ]
    train, test = split_bot_examples(examples)
    switched = code_switched(test)
    assert switched and len(switched) <= len(test)
    train_texts = {e.text for e in train}
    for text, intent in switched:
        assert text not in train_texts
        assert intent in {"order_status", "cancel_subscription"}
