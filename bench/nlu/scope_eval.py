"""Out-of-scope, policy-vs-action and knowledge-routing checks of the bot's NLU (issue 15).

Used by ``bench/nlu/eval_bot.py`` (``make eval-nlu``) after it has trained the bot's
pipeline on the training part of ``nlu_data/``. Every set here is held apart from the
training data (the tests in ``tests/nlu_data`` and ``tests/bench`` check it):

* CLINC150 ``oos_test`` (1,000 English out-of-scope messages; ``oos_val`` is the one used
  to choose the fallback threshold, ``oos_train`` may be used for training);
* ``bench/nlu/data/oos_bilingual.jsonl`` (330 zh / en / mixed out-of-scope messages) and its
  66 in-scope controls;
* ``bench/nlu/data/policy_pairs.jsonl``: policy questions that must come out ``ask_faq``
  beside specific requests that must come out ``refund_request`` /
  ``cancel_subscription`` / ``refund_status`` (the confusion check of issue 15, item 4);
* ``bench/knowledge/questions.jsonl``: the held-out knowledge-base questions, to count how
  many the bot routes to the knowledge answer (``ask_faq`` or ``shipping_info``).

A message is *rejected* (the bot gives its out-of-scope reply) when its top intent is
``out_of_scope`` or its confidence is under the ``FallbackClassifier`` threshold. Only the
standard library and numpy are needed, so the module loads in both environments.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bench.nlu.datasets import REPO, SHARED

logger = logging.getLogger(__name__)

OUT_OF_SCOPE = "out_of_scope"
KNOWLEDGE_INTENTS = frozenset({"ask_faq", "shipping_info"})
POLICY_PAIRS_PATH = REPO / "bench" / "nlu" / "data" / "policy_pairs.jsonl"
KB_QUESTIONS_PATH = REPO / "bench" / "knowledge" / "questions.jsonl"
POLICY_INTENTS = frozenset({"ask_faq", "refund_request", "cancel_subscription", "refund_status"})

# intents added by issue 15 (the held-out accuracy of the others is compared before/after)
NEW_INTENTS = frozenset({"ask_faq", OUT_OF_SCOPE, "refund_status"})

# (top intent, confidence) of one parsed message
Parse = tuple[str, float]


@dataclass(frozen=True)
class LabelledText:
    """A text with its language and gold label.

    Attributes:
        text: The message.
        language: ``zh``, ``en`` or ``mixed``.
        label: The intent it must come out as (``out_of_scope`` for out-of-scope text).
    """

    text: str
    language: str
    label: str


def load_policy_pairs(path: Path = POLICY_PAIRS_PATH) -> list[LabelledText]:
    """The fixed policy-vs-action list.

    Args:
        path: JSON Lines of ``{"text", "language", "intent"}``.

    Returns:
        The examples in file order.

    Raises:
        ValueError: On a malformed line or an intent outside :data:`POLICY_INTENTS`.
    """
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        if not isinstance(row, dict) or set(row) != {"text", "language", "intent"}:
            raise ValueError(f"{path.name}:{number}: expected text, language, intent")
        if row["intent"] not in POLICY_INTENTS or row["language"] not in ("zh", "en", "mixed"):
            raise ValueError(f"{path.name}:{number}: bad intent or language")
        rows.append(LabelledText(row["text"], row["language"], row["intent"]))
    return rows


def load_kb_questions(path: Path = KB_QUESTIONS_PATH) -> list[LabelledText]:
    """The held-out knowledge-base questions.

    Args:
        path: ``bench/knowledge/questions.jsonl``.

    Returns:
        One entry per question, label ``ask_faq`` when the FAQ answers it (it has a
        passage), ``out_of_scope`` when it does not.
    """
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            label = "ask_faq" if row.get("passage") else OUT_OF_SCOPE
            out.append(LabelledText(row["question"], row["language"], label))
    return out


def clinc_oos_test(root: Path = SHARED) -> list[str]:
    """CLINC150's out-of-scope test messages (empty when the data is missing)."""
    path = root / "clinc150" / "data_full.json"
    if not path.is_file():
        logger.warning("%s is missing: no CLINC150 out-of-scope test", path)
        return []
    return [text for text, _ in json.loads(path.read_text(encoding="utf-8"))["oos_test"]]


def _merge(intent: str) -> str:
    return "knowledge" if intent in KNOWLEDGE_INTENTS else intent


def _merged(row: LabelledText) -> LabelledText:
    return LabelledText(row.text, row.language, _merge(row.label))


def rejected(parse: Parse, threshold: float) -> bool:
    """Whether the bot gives its out-of-scope reply for this parse."""
    intent, confidence = parse
    return intent == OUT_OF_SCOPE or confidence < threshold


def routed(parse: Parse, threshold: float) -> str:
    """The intent the bot acts on: the top intent, or ``out_of_scope`` when rejected."""
    return OUT_OF_SCOPE if rejected(parse, threshold) else parse[0]


def recall(parses: Iterable[Parse], threshold: float) -> float:
    """Share of out-of-scope messages rejected."""
    flags = [rejected(p, threshold) for p in parses]
    return sum(flags) / len(flags) if flags else 0.0


def accuracy(gold: list[str], parses: list[Parse], threshold: float) -> float:
    """Share of messages acted on as their gold intent (``out_of_scope`` = rejected)."""
    pairs = list(zip(gold, parses, strict=True))
    return sum(routed(p, threshold) == g for g, p in pairs) / len(pairs) if pairs else 0.0


def by_language(
    rows: list[LabelledText], parses: list[Parse], threshold: float
) -> dict[str, dict[str, float]]:
    """Accuracy (routed intent == label) and size, overall and per language."""
    out: dict[str, dict[str, float]] = {}
    for language in ("all", "zh", "en", "mixed"):
        pick = [i for i, r in enumerate(rows) if language == "all" or r.language == language]
        if pick:
            out[language] = {
                "n": len(pick),
                "accuracy": accuracy(
                    [rows[i].label for i in pick], [parses[i] for i in pick], threshold
                ),
            }
    return out


def confusion(
    rows: list[LabelledText], parses: list[Parse], threshold: float
) -> dict[str, dict[str, int]]:
    """Gold label -> routed intent -> count."""
    table: dict[str, Counter[str]] = {}
    for row, parse in zip(rows, parses, strict=True):
        table.setdefault(row.label, Counter())[routed(parse, threshold)] += 1
    return {gold: dict(counts.most_common()) for gold, counts in sorted(table.items())}


def errors(
    rows: list[LabelledText], parses: list[Parse], threshold: float
) -> list[dict[str, object]]:
    """The rows whose routed intent is not their label."""
    return [
        {
            "text": r.text,
            "gold": r.label,
            "routed": routed(p, threshold),
            "top": p[0],
            "confidence": round(p[1], 3),
        }
        for r, p in zip(rows, parses, strict=True)
        if routed(p, threshold) != r.label
    ]


def knowledge_routing(
    rows: list[LabelledText], parses: list[Parse], threshold: float
) -> dict[str, object]:
    """How the held-out knowledge-base questions are routed.

    Returns:
        For the answerable questions: the share routed to a knowledge intent
        (``ask_faq`` / ``shipping_info``), per language, and the other intents they went
        to; for the unanswerable ones: the share rejected and their routes.
    """
    answerable = [(r, p) for r, p in zip(rows, parses, strict=True) if r.label == "ask_faq"]
    other = [(r, p) for r, p in zip(rows, parses, strict=True) if r.label != "ask_faq"]

    def share(items: list[tuple[LabelledText, Parse]]) -> float:
        hits = [routed(p, threshold) in KNOWLEDGE_INTENTS for _, p in items]
        return sum(hits) / len(hits) if hits else 0.0

    return {
        "answerable": len(answerable),
        "to_knowledge": share(answerable),
        "to_knowledge_count": sum(routed(p, threshold) in KNOWLEDGE_INTENTS for _, p in answerable),
        "to_knowledge_by_language": {
            lang: share([(r, p) for r, p in answerable if r.language == lang])
            for lang in ("zh", "en", "mixed")
        },
        "answerable_routes": dict(
            Counter(routed(p, threshold) for _, p in answerable).most_common()
        ),
        "unanswerable": len(other),
        "unanswerable_rejected": recall([p for _, p in other], threshold),
        "unanswerable_routes": dict(Counter(routed(p, threshold) for _, p in other).most_common()),
    }


def evaluation_sets() -> dict[str, list[LabelledText]]:
    """Every held-out set of this module, by name (missing files give empty sets).

    Returns:
        ``clinc_oos_test``, ``oos_bilingual``, ``controls``, ``policy_pairs`` and
        ``kb_questions`` as labelled texts.
    """
    from bench.nlu.oos_bilingual import load_inscope_controls, load_oos_bilingual

    return {
        "clinc_oos_test": [LabelledText(t, "en", OUT_OF_SCOPE) for t in clinc_oos_test()],
        "oos_bilingual": [
            LabelledText(e.text, e.language, OUT_OF_SCOPE) for e in load_oos_bilingual()
        ],
        "controls": [LabelledText(c.text, c.language, c.intent) for c in load_inscope_controls()],
        "policy_pairs": load_policy_pairs() if POLICY_PAIRS_PATH.is_file() else [],
        "kb_questions": load_kb_questions() if KB_QUESTIONS_PATH.is_file() else [],
    }


def scope_report(
    sets: dict[str, list[LabelledText]], tops: dict[str, list[Parse]], threshold: float
) -> dict[str, object]:
    """All scope numbers at one fallback threshold.

    Args:
        sets: Labelled texts by set name (:func:`evaluation_sets`, plus ``held_out``: the
            held-out split of ``nlu_data/`` with its intents).
        tops: (top intent, confidence) per text, same names and order.
        threshold: The ``FallbackClassifier`` threshold.

    Returns:
        Accuracies by language for every set (recall for the out-of-scope ones), the
        policy-pair confusion and errors, the knowledge routing.
    """
    report: dict[str, object] = {"threshold": threshold}
    for name, rows in sets.items():
        if not rows:
            continue
        parses = tops[name]
        if name == "kb_questions":
            report[name] = knowledge_routing(rows, parses, threshold)
            continue
        report[name] = by_language(rows, parses, threshold)
        if name == "held_out":
            scoped = [i for i, r in enumerate(rows) if r.label != OUT_OF_SCOPE]
            report["held_out_in_scope"] = by_language(
                [rows[i] for i in scoped], [parses[i] for i in scoped], threshold
            )
            # the intents that existed before issue 15, with ask_faq and shipping_info as
            # one route (the bot answers both from the knowledge base)
            old = [i for i in scoped if rows[i].label not in NEW_INTENTS]
            report["held_out_old_intents"] = by_language(
                [rows[i] for i in old], [parses[i] for i in old], threshold
            )
            report["held_out_old_intents_knowledge_merged"] = by_language(
                [_merged(rows[i]) for i in old],
                [(_merge(parses[i][0]), parses[i][1]) for i in old],
                threshold,
            )
        if name in ("clinc_oos_test", "oos_bilingual"):
            report[f"{name}_routes"] = dict(
                Counter(routed(p, threshold) for p in parses).most_common()
            )
        if name in ("policy_pairs", "controls"):
            report[f"{name}_confusion"] = confusion(rows, parses, threshold)
            report[f"{name}_errors"] = errors(rows, parses, threshold)
    return report


def _cell(block: object, language: str) -> str:
    if not isinstance(block, dict) or language not in block:
        return ""
    return f"{block[language]['accuracy']:.3f} ({block[language]['n']})"


def markdown(report: dict[str, object]) -> str:
    """The scope numbers of :func:`scope_report` as Markdown."""
    names = {
        "held_out": "held-out `nlu_data/` accuracy (with out_of_scope, after the threshold)",
        "held_out_in_scope": "held-out in-scope accuracy (after the threshold)",
        "held_out_old_intents": "held-out accuracy, the 20 intents of before issue 15",
        "held_out_old_intents_knowledge_merged": "same, ask_faq = shipping_info (one route)",
        "controls": "bilingual in-scope controls accuracy",
        "clinc_oos_test": "CLINC150 oos_test recall",
        "oos_bilingual": "bilingual out-of-scope recall",
        "policy_pairs": "policy-vs-action pairs accuracy",
    }
    lines = [
        f"Fallback threshold {report['threshold']:.2f}; rejected = top intent out_of_scope "
        "or confidence under the threshold.",
        "",
        "| set | all | zh | en | mixed |",
        "|---|---|---|---|---|",
    ]
    for key, label in names.items():
        if key in report:
            cells = [_cell(report[key], lang) for lang in ("all", "zh", "en", "mixed")]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for key in ("clinc_oos_test_routes", "oos_bilingual_routes"):
        if key in report:
            lines += ["", f"{key.removesuffix('_routes')} routed to: {report[key]}"]
    pairs = report.get("policy_pairs_confusion")
    if isinstance(pairs, dict):
        lines += ["", "Policy-vs-action confusion (gold -> routed):", ""]
        lines += [f"- {gold}: {routes}" for gold, routes in pairs.items()]
    kb = report.get("kb_questions")
    if isinstance(kb, dict):
        lines += [
            "",
            f"Held-out knowledge questions: {kb['to_knowledge_count']} of {kb['answerable']} "
            f"answerable ones ({kb['to_knowledge']:.3f}) routed to ask_faq / shipping_info "
            f"(by language {', '.join(f'{k} {v:.2f}' for k, v in kb['to_knowledge_by_language'].items())}); "  # noqa: E501
            f"routes {kb['answerable_routes']}; {kb['unanswerable']} unanswerable: "
            f"{kb['unanswerable_rejected']:.2f} rejected ({kb['unanswerable_routes']}).",
        ]
    return "\n".join(lines)
