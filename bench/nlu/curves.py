"""Learning curves of our classifier (and the TF-IDF baseline) on the benchmark sets.

Trains on growing stratified fractions of each training set (seed 42) and scores on the
full test set, to show whether a target is limited by data or by the model. Uses the
classifier's scikit-learn part with the tokenizer directly (the same features as the
Rasa component, without Rasa's overhead).

    .venv-rasa/bin/python -m bench.nlu.curves [--datasets smp2019 codeswitch banking77]
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import yaml

from bench.nlu.datasets import REPO, SEED, Dataset, Example, stratified_split

logger = logging.getLogger(__name__)

FRACTIONS = (0.1, 0.25, 0.5, 0.75, 1.0)
OUT_JSON = REPO / "bench" / "results" / "nlu" / "learning_curves.json"
OUT_PNG = REPO / "docs" / "img" / "nlu_learning_curves.png"


def _classifier_settings() -> dict[str, Any]:
    config = yaml.safe_load((REPO / "config.yml").read_text(encoding="utf-8"))
    for component in config["pipeline"]:
        if component["name"].endswith("BilingualIntentClassifier"):
            return {k: v for k, v in component.items() if k != "name"}
    return {}


def curve(dataset: Dataset, fractions: tuple[float, ...] = FRACTIONS) -> list[dict[str, Any]]:
    """Accuracy and macro-F1 of ours and the baseline per training fraction.

    Args:
        dataset: The data set.
        fractions: Shares of the training set.

    Returns:
        One row per fraction.
    """
    from bench.nlu.metrics import classification_scores
    from bench.nlu.pipelines import tfidf_svc_model
    from bot.nlu.intent_model import TextIntentModel
    from bot.nlu.text import normalize
    from bot.nlu.tokenizer import BilingualTokenizer

    settings = _classifier_settings()
    tokenizer = BilingualTokenizer(
        {**BilingualTokenizer.get_default_config(), "dictionary_path": None},
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        BilingualTokenizer.read_dictionary(str(REPO / "bot" / "nlu" / "userdict.txt")),
    )

    def features(examples: list[Example]) -> tuple[list[str], list[str]]:
        words = [
            " ".join(normalize(t.text) for t in tokenizer.tokenize_text(x)) for x, _ in examples
        ]
        return words, [" ".join(normalize(x).split()) for x, _ in examples]

    test_words, test_chars = features(dataset.test)
    gold = [label for _, label in dataset.test]
    rows = []
    for fraction in fractions:
        train = (
            dataset.train
            if fraction >= 1.0
            else stratified_split(dataset.train, test_size=1.0 - fraction, seed=SEED)[0]
        )
        words, chars = features(train)
        labels = [label for _, label in train]
        ours = TextIntentModel.from_config(settings).fit(words, chars, labels)
        baseline = tfidf_svc_model().fit([t for t, _ in train], labels)
        row = {
            "fraction": fraction,
            "n_train": len(train),
            "ours": classification_scores(gold, ours.predict(test_words, test_chars)),
            "tfidf_svc": classification_scores(
                gold, list(baseline.predict([t for t, _ in dataset.test]))
            ),
        }
        logger.info("%s %.2f: %s", dataset.name, fraction, row)
        rows.append(row)
    return rows


def plot(curves: dict[str, list[dict[str, Any]]], path: Path) -> None:
    """One panel per data set: accuracy vs training examples."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(4.5 * len(curves), 3.6), squeeze=False)
    for ax, (name, rows) in zip(axes[0], curves.items(), strict=True):
        n = [r["n_train"] for r in rows]
        for key, label in (("ours", "ours"), ("tfidf_svc", "TF-IDF LinearSVC")):
            ax.plot(n, [r[key]["accuracy"] for r in rows], marker="o", label=label)
        ax.axhline(0.92, color="grey", linestyle="--", linewidth=0.8)
        ax.set_title(name)
        ax.set_xlabel("training examples")
        ax.set_ylabel("test accuracy")
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    from bench.nlu.run import _loaders

    parser = argparse.ArgumentParser(description="Learning curves")
    parser.add_argument("--datasets", nargs="+", default=["smp2019", "codeswitch", "banking77"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    loaders = _loaders(quick=False)
    curves = {name: curve(loaders[name]()) for name in args.datasets}
    OUT_JSON.parent.mkdir(parents=True, exist_ok=True)
    OUT_JSON.write_text(json.dumps(curves, indent=1), encoding="utf-8")
    plot(curves, OUT_PNG)
    for name, rows in curves.items():
        print(name, [(r["n_train"], round(r["ours"]["accuracy"], 3)) for r in rows])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
