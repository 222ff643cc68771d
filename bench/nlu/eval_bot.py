"""Held-out evaluation of the bot's own NLU data (``make eval-nlu``).

Splits ``nlu_data/`` (zh, en, mixed; stratified by language and intent, 20% held out,
seed 42), trains ``config.yml``'s pipeline on the rest with ``rasa train nlu``, runs
``rasa test nlu`` on the held-out part (its reports land in ``--out``), and reports
per-intent F1 separately for zh, en and mixed. It also picks the FallbackClassifier
threshold: the highest one that loses at most 2% of the correct held-out answers, so
that as many out-of-domain messages as possible fall below it (CLINC150 ``oos_val`` in
English, SMP2019 utterances in Chinese: weather, music, recipes, ... none of them a shop
question). A message whose top intent is ``out_of_scope`` counts as rejected at any
threshold.

With the chosen threshold and with config.yml's, the same model is then scored on the
held-out sets of ``bench/nlu/scope_eval.py`` (issue 15): out-of-scope recall on CLINC150
``oos_test`` and on ``bench/nlu/data/oos_bilingual.jsonl``, accuracy on its in-scope
controls, the policy-vs-action confusion (``bench/nlu/data/policy_pairs.jsonl``), and how
many held-out knowledge-base questions (``bench/knowledge/questions.jsonl``) are routed to
``ask_faq`` / ``shipping_info``. None of these sets is used to choose anything.

Run from the repository root::

    .venv-rasa/bin/python -m bench.nlu.eval_bot [--out DIR] [--no-docs] [--nlu-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import os
import random
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.nlu import scope_eval
from bench.nlu.datasets import REPO, SEED, SHARED
from bench.nlu.scope_eval import rejected

logger = logging.getLogger(__name__)

DOCS = REPO / "docs" / "benchmarks.md"
RESULT = REPO / "bench" / "results" / "nlu" / "bot_eval.json"
START, END = "<!-- nlu-bot-eval:start -->", "<!-- nlu-bot-eval:end -->"
FLAG_BELOW = 0.9
MAX_IN_DOMAIN_LOSS = 0.02


def out_of_domain(seed: int = SEED, per_language: int = 300) -> list[tuple[str, str]]:
    """Out-of-domain validation texts: (text, language).

    Args:
        seed: Sampling seed.
        per_language: How many texts per language.

    Returns:
        English CLINC150 ``oos_val`` texts and Chinese SMP2019 utterances.
    """
    rng = random.Random(seed)
    texts: list[tuple[str, str]] = []
    clinc = SHARED / "clinc150" / "data_full.json"
    if clinc.is_file():
        data = json.loads(clinc.read_text(encoding="utf-8"))
        english = [t for t, _ in data["oos_val"]]
        texts += [(t, "en") for t in rng.sample(english, min(per_language, len(english)))]
    smp = SHARED / "smp2019_zh" / "2019train_source.json"
    if smp.is_file():
        rows = json.loads(smp.read_text(encoding="utf-8"))
        # Shopping-like domains are excluded so every text is truly out of the shop's scope.
        chinese = [r["text"] for r in rows if r["domain"] not in {"app", "website", "message"}]
        texts += [(t, "zh") for t in rng.sample(chinese, min(per_language, len(chinese)))]
    return texts


def _ood_parses(ood: Sequence[float | tuple[str, float]]) -> list[tuple[str, float]]:
    return [("", float(o)) if isinstance(o, (int, float)) else (o[0], float(o[1])) for o in ood]


def threshold_curve(
    in_domain: list[tuple[bool, float]], ood: Sequence[float | tuple[str, float]]
) -> list[dict[str, float]]:
    """Shares of correct in-domain messages kept and out-of-domain messages rejected.

    Args:
        in_domain: (prediction correct, confidence) per held-out in-domain message.
        ood: Per out-of-domain message its top confidence, or (top intent, confidence):
            a message whose top intent is ``out_of_scope`` is rejected at any threshold.

    Returns:
        One row per threshold 0.00, 0.01, ..., 0.95.
    """
    parses = _ood_parses(ood)
    rows = []
    for threshold in np.round(np.arange(0.0, 0.951, 0.01), 2):
        rows.append(
            {
                "threshold": float(threshold),
                "in_domain_kept_correct": float(
                    np.mean([ok and c >= threshold for ok, c in in_domain])
                ),
                "ood_rejected": float(np.mean([rejected(p, threshold) for p in parses])),
            }
        )
    return rows


def choose_fallback_threshold(
    in_domain: list[tuple[bool, float]],
    ood_confidences: Sequence[float | tuple[str, float]],
    max_loss: float = MAX_IN_DOMAIN_LOSS,
) -> dict[str, float]:
    """The highest threshold that loses at most ``max_loss`` of correct in-domain answers.

    A wrongly rejected shop question costs a customer a detour to a person, so the
    in-domain loss is bounded first and the out-of-domain rejection maximised within it.

    Args:
        in_domain: (prediction correct, confidence) per held-out in-domain message.
        ood_confidences: Per out-of-domain message its top confidence or (top intent,
            confidence), as in :func:`threshold_curve`.
        max_loss: Allowed drop of the share of correct in-domain answers.

    Returns:
        The chosen row of :func:`threshold_curve`.
    """
    curve = threshold_curve(in_domain, ood_confidences)
    base = curve[0]["in_domain_kept_correct"]
    allowed = [row for row in curve if row["in_domain_kept_correct"] >= base - max_loss - 1e-12]
    return allowed[-1]


def config_threshold(path: Path = REPO / "config.yml") -> float | None:
    """The FallbackClassifier threshold of config.yml's pipeline (None if absent)."""
    import yaml

    config = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else {}
    for component in (config or {}).get("pipeline") or []:
        if component.get("name") == "FallbackClassifier":
            return float(component.get("threshold", 0.3))
    return None


def _rasa(*args: str) -> None:
    command = [sys.executable, "-m", "rasa", *args]
    logger.info("$ %s", " ".join(command[2:]))
    subprocess.run(command, cwd=REPO, check=True, stdout=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description="Held-out NLU evaluation of nlu_data/")
    parser.add_argument(
        "--out", default=str(REPO / "var" / "nlu_eval"), help="folder for rasa test nlu reports"
    )
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs")
    parser.add_argument(
        "--config",
        default="config.yml",
        help="the Rasa config to train (default config.yml); e.g. a trial copy",
    )
    parser.add_argument(
        "--nlu-dir",
        default=str(REPO / "nlu_data"),
        help="the training data folder (zh/, en/, mixed/, lookups/); e.g. an older copy",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=config_threshold(),
        help="also score the scope sets at this fallback threshold (default: config.yml's)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    os.environ.setdefault("RASA_MAX_CACHE_SIZE", "0")

    from rasa.core.agent import Agent
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLWriter
    from rasa.shared.nlu.training_data.loading import load_data
    from rasa.shared.nlu.training_data.training_data import TrainingData
    from rasa.utils.log_utils import configure_structlog
    from sklearn.metrics import classification_report

    from bench.nlu.botdata import LANGUAGES

    NLU_DIR = Path(args.nlu_dir)  # noqa: N806

    configure_structlog(logging.WARNING)
    messages, languages = [], []
    for language in LANGUAGES:
        if (NLU_DIR / language).is_dir():
            data = load_data(str(NLU_DIR / language))
            messages += data.intent_examples
            languages += [language] * len(data.intent_examples)
    lookups = (
        load_data(str(NLU_DIR / "lookups")).lookup_tables if (NLU_DIR / "lookups").is_dir() else []
    )
    from bench.nlu.datasets import stratified_split

    order = sorted(
        range(len(messages)),
        key=lambda i: (languages[i], messages[i].get("intent"), messages[i].get("text")),
    )  # the same order and split as bench.nlu.botdata (the code-switched benchmark)
    messages = [messages[i] for i in order]
    languages = [languages[i] for i in order]
    keyed = [(str(i), f"{languages[i]}/{m.get('intent')}") for i, m in enumerate(messages)]
    train_keys, test_keys = stratified_split(keyed)
    train = [messages[int(k)] for k, _ in train_keys]
    test_idx = [int(k) for k, _ in test_keys]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="eval_nlu_") as tmp:
        root = Path(tmp)
        (root / "train").mkdir()
        writer = RasaYAMLWriter()
        (root / "train" / "nlu.yml").write_text(
            writer.dumps(TrainingData(train, lookup_tables=lookups)), encoding="utf-8"
        )
        (root / "test.yml").write_text(
            writer.dumps(TrainingData([messages[i] for i in test_idx])), encoding="utf-8"
        )
        _rasa(
            "train",
            "nlu",
            "--config",
            str(args.config),
            "--nlu",
            str(root / "train"),
            "--out",
            str(root / "models"),
            "--fixed-model-name",
            "eval",
        )
        model = str(root / "models" / "eval.tar.gz")
        _rasa("test", "nlu", "--model", model, "--nlu", str(root / "test.yml"), "--out", str(out))
        agent = Agent.load(model)

        async def parse(texts: list[str]) -> list[dict[str, Any]]:
            return [await agent.parse_message(t) for t in texts]

        held_out = asyncio.run(parse([messages[i].get("text") for i in test_idx]))
        ood = out_of_domain()
        ood_parses = asyncio.run(parse([t for t, _ in ood]))
        scope_sets = scope_eval.evaluation_sets()
        scope_parses = {
            name: asyncio.run(parse([r.text for r in rows])) for name, rows in scope_sets.items()
        }

    def raw_top(parse_data: dict[str, Any]) -> tuple[str, float]:
        for item in parse_data.get("intent_ranking") or []:
            if item["name"] != "nlu_fallback":
                return item["name"], float(item["confidence"])
        return "", 0.0

    report: dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "n_train": len(train),
        "n_test": len(test_idx),
        "languages": {},
    }
    in_domain = []
    for language in LANGUAGES:
        rows = [
            (messages[i].get("intent"), raw_top(p))
            for i, p in zip(test_idx, held_out, strict=True)
            if languages[i] == language
        ]
        if not rows:
            continue
        gold = [g for g, _ in rows]
        predicted = [p for _, (p, _) in rows]
        # the threshold curve is over in-scope messages; held-out out_of_scope examples
        # are scored with the scope sets below
        in_domain += [(g == p, c) for g, (p, c) in rows if g != scope_eval.OUT_OF_SCOPE]
        per_intent = classification_report(gold, predicted, output_dict=True, zero_division=0)
        report["languages"][language] = {
            "n": len(rows),
            "accuracy": per_intent["accuracy"],
            "macro_f1": per_intent["macro avg"]["f1-score"],
            "per_intent_f1": {
                k: v["f1-score"]
                for k, v in per_intent.items()
                if isinstance(v, dict) and k not in ("macro avg", "weighted avg")
            },
        }
    ood_tops = [raw_top(p) for p in ood_parses]
    report["fallback"] = choose_fallback_threshold(in_domain, ood_tops)
    report["fallback"]["n_out_of_domain"] = len(ood)
    report["fallback"]["max_in_domain_loss"] = MAX_IN_DOMAIN_LOSS
    report["fallback_curve"] = threshold_curve(in_domain, ood_tops)
    held_out_rows = [
        scope_eval.LabelledText(messages[i].get("text"), languages[i], messages[i].get("intent"))
        for i in test_idx
    ]
    tops = {name: [raw_top(p) for p in parses] for name, parses in scope_parses.items()}
    tops["held_out"] = [raw_top(p) for p in held_out]
    scope_sets["held_out"] = held_out_rows
    thresholds = {"chosen": report["fallback"]["threshold"], "config": args.threshold}
    report["scope"] = {
        key: scope_eval.scope_report(scope_sets, tops, value)
        for key, value in thresholds.items()
        if value is not None
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    table = markdown(report)
    print(table)
    for key, scope in report["scope"].items():
        print(f"\n### At the {key} threshold\n\n" + scope_eval.markdown(scope))
    if not args.no_docs:
        write_docs(
            table
            + "\n\n### Out of scope, policy vs action, knowledge routing (issue 15)\n\n"
            + scope_eval.markdown(report["scope"]["chosen"])
        )
    return 0


def markdown(report: dict[str, Any]) -> str:
    """Per-intent F1 table (zh / en / mixed) plus the fallback threshold choice."""
    languages = list(report["languages"])
    intents = sorted({i for lang in languages for i in report["languages"][lang]["per_intent_f1"]})
    lines = [
        f"Held-out split of `nlu_data/` ({report['n_train']} train / {report['n_test']} test, "
        f"stratified by language and intent, seed {SEED}), {report['date'][:10]}. "
        f"F1 under {FLAG_BELOW} is marked with (!).",
        "",
        "| intent | " + " | ".join(languages) + " |",
        "|---|" + "---|" * len(languages),
    ]
    for intent in intents:
        cells = []
        for lang in languages:
            f1 = report["languages"][lang]["per_intent_f1"].get(intent)
            cells.append("" if f1 is None else f"{f1:.2f}" + (" (!)" if f1 < FLAG_BELOW else ""))
        lines.append(f"| {intent} | " + " | ".join(cells) + " |")
    lines.append(
        "| **accuracy** | "
        + " | ".join(
            f"**{report['languages'][lang]['accuracy']:.3f}** (n={report['languages'][lang]['n']})"
            for lang in languages
        )
        + " |"
    )
    lines.append(
        "| **macro-F1** | "
        + " | ".join(f"**{report['languages'][lang]['macro_f1']:.3f}**" for lang in languages)
        + " |"
    )
    fb = report["fallback"]
    lines += [
        "",
        "FallbackClassifier threshold: the highest that loses at most "
        f"{fb['max_in_domain_loss']:.0%} of the correct held-out answers: "
        f"**{fb['threshold']:.2f}** "
        f"(held-out in-domain messages correct and kept: {fb['in_domain_kept_correct']:.3f}; "
        f"{fb['n_out_of_domain']} out-of-domain messages rejected: {fb['ood_rejected']:.3f}).",
    ]
    return "\n".join(lines)


def write_docs(table: str) -> None:
    """Rewrites the bot-evaluation section of docs/benchmarks.md."""
    section = "\n".join([START, "## Bot NLU held-out evaluation (`make eval-nlu`)", "", table, END])
    text = DOCS.read_text(encoding="utf-8") if DOCS.is_file() else "# Benchmarks\n\n"
    if START in text and END in text:
        before, rest = text.split(START, 1)
        text = before + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    DOCS.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
