"""The hand-written bilingual out-of-scope set and its in-scope controls (issue 15, item 3).

Two JSON Lines files in ``bench/nlu/data/``, written by hand for this benchmark:

* ``oos_bilingual.jsonl``: messages a customer of Leaf & Bean / 叶与豆 might type that
  the shop's support bot should *not* map to any of its intents (weather, politics, other
  shops, jokes, homework, ...), about 40% Simplified Chinese, 40% English and 20%
  code-switched. Many are near-misses that share words with the shop ("星巴克的拿铁多少钱",
  "how do i cancel my netflix subscription"). One object per line:
  ``{"text": ..., "language": "zh"|"en"|"mixed", "category": ...}``.
* ``oos_bilingual_inscope_controls.jsonl``: in-scope messages in the same typing style,
  each with the intent the bot should predict (``bot/domain/core.yml``), so that a run
  reports in-scope accuracy beside out-of-scope recall. One object per line:
  ``{"text": ..., "language": ..., "intent": ...}``.

Both sets are held apart from training and tuning: nothing here is in ``nlu_data/``
(``tests/bench/test_oos_bilingual.py`` checks it), and neither set may be used to choose
thresholds or pick models (use CLINC150 ``oos_val`` for that, as ``bench/nlu/eval_bot.py``
does). Only the standard library is needed, so the module loads in both environments::

    from bench.nlu.oos_bilingual import evaluation_pairs
    pairs = evaluation_pairs()  # [(text, intent or "oos"), ...]
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from bench.nlu.datasets import REPO, Example

DATA_DIR = REPO / "bench" / "nlu" / "data"
OOS_PATH = DATA_DIR / "oos_bilingual.jsonl"
CONTROLS_PATH = DATA_DIR / "oos_bilingual_inscope_controls.jsonl"
OOS_LABEL = "oos"

LANGUAGES = ("zh", "en", "mixed")
# Target share of each language in the out-of-scope set.
LANGUAGE_TARGETS: dict[str, float] = {"zh": 0.4, "en": 0.4, "mixed": 0.2}
CATEGORIES = (
    "weather",
    "politics",
    "other_shops",
    "jokes",
    "homework",
    "general_knowledge",
    "personal",
    "tech_support_other",
    "finance",
    "travel",
    "health",
    "chitchat_offtopic",
)

_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class OosExample:
    """One out-of-scope message.

    Attributes:
        text: The message as a customer would type it.
        language: ``zh``, ``en`` or ``mixed`` (code-switched).
        category: What it is about (one of ``CATEGORIES``).
    """

    text: str
    language: str
    category: str


@dataclass(frozen=True)
class ControlExample:
    """One in-scope control message with the intent the bot should predict.

    Attributes:
        text: The message as a customer would type it.
        language: ``zh``, ``en`` or ``mixed`` (code-switched).
        intent: An intent of ``bot/domain/core.yml``.
    """

    text: str
    language: str
    intent: str


def normalise(text: str) -> str:
    """The comparison key of a text: case-folded, whitespace collapsed and stripped.

    Args:
        text: Any message.

    Returns:
        The normalised text.
    """
    return _SPACES.sub(" ", text).strip().casefold()


def _read_jsonl(path: Path, fields: tuple[str, ...]) -> list[dict[str, str]]:
    """Reads a JSON Lines file whose objects have exactly the given string fields.

    Args:
        path: The file.
        fields: The required keys.

    Returns:
        One dict per non-empty line.

    Raises:
        ValueError: If a line is not an object with exactly these non-empty string fields,
            or its language is unknown.
    """
    rows: list[dict[str, str]] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            if not isinstance(row, dict) or set(row) != set(fields):
                raise ValueError(f"{path.name}:{number}: expected the fields {fields}")
            if not all(isinstance(row[key], str) and row[key].strip() for key in fields):
                raise ValueError(f"{path.name}:{number}: every field must be a non-empty string")
            if row["language"] not in LANGUAGES:
                raise ValueError(f"{path.name}:{number}: unknown language {row['language']!r}")
            rows.append(row)
    return rows


def load_oos_bilingual(path: Path = OOS_PATH) -> list[OosExample]:
    """Loads the hand-written bilingual out-of-scope messages.

    Args:
        path: The JSON Lines file (``bench/nlu/data/oos_bilingual.jsonl``).

    Returns:
        The examples in file order.

    Raises:
        ValueError: If a line is malformed or has an unknown language or category.
    """
    examples = []
    for row in _read_jsonl(path, ("text", "language", "category")):
        if row["category"] not in CATEGORIES:
            raise ValueError(f"{path.name}: unknown category {row['category']!r}")
        examples.append(OosExample(row["text"], row["language"], row["category"]))
    return examples


def load_inscope_controls(path: Path = CONTROLS_PATH) -> list[ControlExample]:
    """Loads the in-scope control messages written in the same style.

    Args:
        path: The JSON Lines file (``bench/nlu/data/oos_bilingual_inscope_controls.jsonl``).

    Returns:
        The examples in file order.

    Raises:
        ValueError: If a line is malformed or has an unknown language.
    """
    return [
        ControlExample(row["text"], row["language"], row["intent"])
        for row in _read_jsonl(path, ("text", "language", "intent"))
    ]


def evaluation_pairs(
    oos_label: str = OOS_LABEL,
    oos_path: Path = OOS_PATH,
    controls_path: Path = CONTROLS_PATH,
) -> list[Example]:
    """Both sets as (text, gold label) pairs, ready for ``bench.nlu.metrics.oos_scores``.

    Args:
        oos_label: Gold label of the out-of-scope messages.
        oos_path: The out-of-scope file.
        controls_path: The in-scope controls file.

    Returns:
        The controls with their intents, then the out-of-scope messages with ``oos_label``.
    """
    controls = [(c.text, c.intent) for c in load_inscope_controls(controls_path)]
    return controls + [(e.text, oos_label) for e in load_oos_bilingual(oos_path)]
