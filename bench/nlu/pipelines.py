"""Pipelines compared by the benchmark and the code that trains and runs them.

* ``ours``: the ``pipeline:`` of the repository's ``config.yml``, trained and run through
  Rasa (``rasa.model_training.train_nlu`` + ``Agent.parse_message``).
* ``stock``: Rasa 3.6's ``rasa init`` default pipeline (WhitespaceTokenizer; for Chinese
  the same with JiebaTokenizer and ``language: zh``), DIET 100 epochs.
* ``tfidf_svc``: a scikit-learn TF-IDF word (1-2) + char_wb (1-4) n-gram LinearSVC on the
  raw text (no Rasa).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bench.nlu.datasets import REPO, Dataset, Example

logger = logging.getLogger(__name__)

FALLBACK_INTENT = "nlu_fallback"


def stock_config(language: str, epochs: int = 100) -> dict[str, Any]:
    """Rasa 3.6 ``rasa init`` default config (JiebaTokenizer for Chinese).

    Args:
        language: ``en`` or ``zh``.
        epochs: DIET/ResponseSelector epochs (100 is the stock value).

    Returns:
        A config dict (recipe, language, pipeline).
    """
    tokenizer = {"name": "JiebaTokenizer"} if language == "zh" else {"name": "WhitespaceTokenizer"}
    return {
        "recipe": "default.v1",
        "language": language,
        "pipeline": [
            tokenizer,
            {"name": "RegexFeaturizer"},
            {"name": "LexicalSyntacticFeaturizer"},
            {"name": "CountVectorsFeaturizer"},
            {
                "name": "CountVectorsFeaturizer",
                "analyzer": "char_wb",
                "min_ngram": 1,
                "max_ngram": 4,
            },
            {"name": "DIETClassifier", "epochs": epochs, "constrain_similarities": True},
            {"name": "EntitySynonymMapper"},
            {"name": "ResponseSelector", "epochs": epochs, "constrain_similarities": True},
            {"name": "FallbackClassifier", "threshold": 0.3, "ambiguity_threshold": 0.1},
        ],
    }


def ours_config(language: str, config_path: Path = REPO / "config.yml") -> dict[str, Any]:
    """The repository's NLU pipeline (``pipeline:`` of config.yml).

    Args:
        language: Rasa ``language`` value for the config.
        config_path: The config file.

    Returns:
        A config dict (recipe, language, pipeline).
    """
    with open(config_path, encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    return {"recipe": "default.v1", "language": language, "pipeline": config["pipeline"]}


@dataclass
class Predictions:
    """Raw predictions of one pipeline on one list of texts.

    Attributes:
        labels: Top intent before any fallback.
        confidences: Its confidence (or score).
        latencies_ms: Per-message parse time in milliseconds (wall clock).
        cpu_ms: Per-message CPU time of this process in milliseconds (less sensitive to
            other load on the machine; counts all threads, e.g. TensorFlow's).
    """

    labels: list[str]
    confidences: list[float]
    latencies_ms: list[float]
    cpu_ms: list[float]


def _write_nlu(examples: list[Example], path: Path) -> None:
    by_label: dict[str, list[str]] = {}
    for text, label in examples:
        clean = " ".join(text.replace("[", "(").replace("]", ")").split())
        if clean:
            by_label.setdefault(label, []).append(clean)
    nlu = [
        {"intent": label, "examples": "".join(f"- {t}\n" for t in texts)}
        for label, texts in by_label.items()
    ]

    class _Literal(str):
        pass

    def literal(dumper: yaml.Dumper, data: _Literal) -> Any:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")

    yaml.add_representer(_Literal, literal)
    for item in nlu:
        item["examples"] = _Literal(item["examples"])
    with open(path, "w", encoding="utf-8") as handle:
        yaml.dump({"version": "3.1", "nlu": nlu}, handle, allow_unicode=True, sort_keys=False)


def _raw_top(parse: dict[str, Any]) -> tuple[str, float]:
    """Top intent before the FallbackClassifier (which prepends ``nlu_fallback``)."""
    for item in parse.get("intent_ranking") or []:
        if item.get("name") != FALLBACK_INTENT:
            return str(item["name"]), float(item["confidence"])
    intent = parse.get("intent") or {}
    return str(intent.get("name")), float(intent.get("confidence") or 0.0)


def run_rasa(
    config: dict[str, Any],
    dataset: Dataset,
    lookups: dict[str, list[str]] | None = None,
) -> tuple[float, dict[str, Predictions]]:
    """Trains a Rasa NLU model and parses the test (and val) texts one by one.

    Args:
        config: Rasa config dict.
        dataset: The data set.
        lookups: Optional lookup tables to add to the training data.

    Returns:
        (training seconds, {"test": Predictions, "val": Predictions})
    """
    os.environ.setdefault("RASA_MAX_CACHE_SIZE", "0")  # no training cache: honest timings
    from rasa.core.agent import Agent
    from rasa.model_training import train_nlu
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # no per-message debug lines

    with tempfile.TemporaryDirectory(prefix=f"bench_{dataset.name}_") as tmp:
        root = Path(tmp)
        _write_nlu(dataset.train, root / "nlu.yml")
        if lookups:
            tables = [
                {"lookup": name, "examples": "".join(f"- {v}\n" for v in values)}
                for name, values in lookups.items()
            ]
            with open(root / "lookups.yml", "w", encoding="utf-8") as handle:
                yaml.safe_dump({"version": "3.1", "nlu": tables}, handle, allow_unicode=True)
        with open(root / "config.yml", "w", encoding="utf-8") as handle:
            yaml.safe_dump(copy.deepcopy(config), handle, allow_unicode=True, sort_keys=False)
        start = time.perf_counter()
        model = train_nlu(
            config=str(root / "config.yml"),
            nlu_data=str(root),
            output=str(root / "models"),
            fixed_model_name="bench",
        )
        train_seconds = time.perf_counter() - start
        if not model:
            raise RuntimeError(f"Training failed for {dataset.name}")
        agent = Agent.load(model)

        async def parse_all(texts: list[str]) -> Predictions:
            labels, confidences, latencies, cpu = [], [], [], []
            for text in texts:
                c0, t0 = time.process_time(), time.perf_counter()
                parse = await agent.parse_message(text)
                latencies.append((time.perf_counter() - t0) * 1000)
                cpu.append((time.process_time() - c0) * 1000)
                label, confidence = _raw_top(parse)
                labels.append(label)
                confidences.append(confidence)
            return Predictions(labels, confidences, latencies, cpu)

        async def parse_splits() -> dict[str, Predictions]:
            out = {"test": await parse_all([t for t, _ in dataset.test])}
            if dataset.val:
                out["val"] = await parse_all([t for t, _ in dataset.val])
            return out

        return train_seconds, asyncio.run(parse_splits())


def tfidf_svc_model(C: float = 1.0) -> Any:
    """The classic baseline: TF-IDF word 1-2 + char_wb 1-4 n-grams, LinearSVC."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline, make_union
    from sklearn.svm import LinearSVC

    return make_pipeline(
        make_union(
            TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True),
        ),
        LinearSVC(C=C, random_state=42),
    )


def run_tfidf_svc(dataset: Dataset) -> tuple[float, dict[str, Predictions]]:
    """Trains and runs the TF-IDF LinearSVC baseline.

    Args:
        dataset: The data set.

    Returns:
        (training seconds, {"test": Predictions, "val": Predictions}); confidences
        are the top decision scores.
    """
    model = tfidf_svc_model()
    start = time.perf_counter()
    model.fit([t for t, _ in dataset.train], [label for _, label in dataset.train])
    train_seconds = time.perf_counter() - start
    classes = model.classes_

    def predict(examples: list[Example]) -> Predictions:
        labels, confidences, latencies, cpu = [], [], [], []
        for text, _ in examples:
            c0, t0 = time.process_time(), time.perf_counter()
            scores = np.atleast_2d(model.decision_function([text]))[0]
            latencies.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
            best = int(np.argmax(scores))
            labels.append(str(classes[best]))
            confidences.append(float(scores[best]))
        return Predictions(labels, confidences, latencies, cpu)

    out = {"test": predict(dataset.test)}
    if dataset.val:
        out["val"] = predict(dataset.val)
    return train_seconds, out
