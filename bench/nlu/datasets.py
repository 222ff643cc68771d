"""Benchmark data sets: public corpora from ``../shared/data`` and the bot's own data.

Every split is deterministic (fixed seeds), so every pipeline sees exactly the same
training and test examples.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"
SEED = 42

Example = tuple[str, str]


@dataclass
class Dataset:
    """A train/test (and optional validation) split of (text, label) pairs.

    Attributes:
        name: Short identifier (``banking77``, ``smp2019``, ``clinc150``, ``codeswitch``).
        language: ``en`` or ``zh`` (selects the stock Rasa pipeline).
        train: Training examples.
        test: Test examples.
        val: Validation examples (used only to choose out-of-scope thresholds).
        oos_label: Label of out-of-scope examples, if the set has them.
        source: Where the data comes from and which split.
    """

    name: str
    language: str
    train: list[Example]
    test: list[Example]
    val: list[Example] = field(default_factory=list)
    oos_label: str | None = None
    source: str = ""

    def fingerprint(self) -> str:
        """A short hash of the exact split (for result caching)."""
        digest = hashlib.sha256()
        for part in (self.train, self.val, self.test):
            digest.update(json.dumps(part, ensure_ascii=False).encode())
            digest.update(b"|")
        return digest.hexdigest()[:12]


def stratified_split(
    examples: list[Example], test_size: float = 0.2, seed: int = SEED
) -> tuple[list[Example], list[Example]]:
    """Splits per label (stratified) with scikit-learn's ``train_test_split``.

    Labels with a single example go to the training set.

    Args:
        examples: (text, label) pairs.
        test_size: Share of each label in the test set.
        seed: Random seed.

    Returns:
        (train, test)
    """
    from sklearn.model_selection import train_test_split

    counts: dict[str, int] = defaultdict(int)
    for _, label in examples:
        counts[label] += 1
    single = [e for e in examples if counts[e[1]] < 2]
    rest = [e for e in examples if counts[e[1]] >= 2]
    train, test = train_test_split(
        rest, test_size=test_size, random_state=seed, stratify=[label for _, label in rest]
    )
    return list(train) + single, list(test)


def load_banking77(root: Path = SHARED) -> Dataset:
    """BANKING77, official train/test split."""

    def read(name: str) -> list[Example]:
        with open(root / "banking77" / name, encoding="utf-8") as handle:
            return [(row["text"].strip(), row["category"]) for row in csv.DictReader(handle)]

    return Dataset(
        "banking77",
        "en",
        read("train.csv"),
        read("test.csv"),
        source="shared/data/banking77/{train,test}.csv (official split)",
    )


def load_smp2019(root: Path = SHARED) -> Dataset:
    """SMP2019 task 1, label ``domain.intent``, stratified 80/20 split with seed 42."""
    with open(root / "smp2019_zh" / "2019train_source.json", encoding="utf-8") as handle:
        rows = json.load(handle)
    examples = [(r["text"].strip(), f"{r['domain']}.{r['intent']}") for r in rows]
    train, test = stratified_split(examples)
    return Dataset(
        "smp2019",
        "zh",
        train,
        test,
        source="shared/data/smp2019_zh/2019train_source.json, stratified 80/20, seed 42",
    )


def load_clinc150(root: Path = SHARED) -> Dataset:
    """CLINC150 full: train+oos_train / val+oos_val / test+oos_test, label ``oos``."""
    with open(root / "clinc150" / "data_full.json", encoding="utf-8") as handle:
        data = json.load(handle)

    def pairs(*keys: str) -> list[Example]:
        return [(text, label) for key in keys for text, label in data[key]]

    return Dataset(
        "clinc150",
        "en",
        pairs("train", "oos_train"),
        pairs("test", "oos_test"),
        val=pairs("val", "oos_val"),
        oos_label="oos",
        source="shared/data/clinc150/data_full.json: train+oos_train / test+oos_test "
        "(val+oos_val only for the out-of-scope threshold)",
    )


def subsample(dataset: Dataset, labels: int, per_label: int, seed: int = SEED) -> Dataset:
    """A small version of a data set (for ``--quick``): some labels, few examples each.

    Args:
        dataset: The full data set.
        labels: Number of labels kept (the out-of-scope label is always kept).
        per_label: Training examples per label; test/val keep a third of that.
        seed: Random seed.

    Returns:
        The reduced data set.
    """
    rng = random.Random(seed)
    names = sorted({label for _, label in dataset.train} - {dataset.oos_label})
    keep = set(rng.sample(names, min(labels, len(names))))
    if dataset.oos_label:
        keep.add(dataset.oos_label)

    def take(examples: list[Example], n: int) -> list[Example]:
        by_label: dict[str, list[Example]] = defaultdict(list)
        for example in examples:
            if example[1] in keep:
                by_label[example[1]].append(example)
        return [e for label in sorted(by_label) for e in by_label[label][:n]]

    small_eval = max(3, per_label // 3)
    return Dataset(
        dataset.name,
        dataset.language,
        take(dataset.train, per_label),
        take(dataset.test, small_eval),
        take(dataset.val, small_eval),
        dataset.oos_label,
        dataset.source + f" (quick: {labels} labels x {per_label})",
    )
