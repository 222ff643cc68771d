"""Message language detection (``zh``, ``en`` or ``mixed``) for Rasa 3.6.

The rule compares Han characters with Latin words after removing what says nothing about
the customer's language: order ids, numbers, URLs/e-mails, product names (from the
training data's lookup tables, persisted in the model) and short brand/acronym words.

* Han text and no remaining Latin word -> ``zh`` ("我的订单LB100234到哪了", "我想买Kenya AA").
* Latin words and no remaining Han text -> ``en`` ("hi", "I want 西湖龙井").
* both -> ``mixed`` ("我的order到哪了", "cancel 我的订阅").
* neither (only digits, ids, emoji, punctuation) -> ``neutral_language`` (default
  ``mixed``: the bot then uses the customer's profile language).

The result is set with ``add_to_output=True`` so it appears in the parse data
(``/model/parse`` and ``tracker.latest_message["language"]``).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
from collections.abc import Iterable
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.text import HAN_RE, LATIN_WORD_RE, ORDER_ID_PATTERN, normalize

logger = logging.getLogger(__name__)

LANGUAGE = "language"
_STORED_FILE = "neutral_terms.json"

DEFAULT_NEUTRAL_WORDS = [
    "ok",
    "okay",
    "app",
    "vip",
    "id",
    "sku",
    "qq",
    "wechat",
    "alipay",
    "paypal",
    "email",
    "wifi",
    "pdf",
    "diy",
    "leaf",
    "bean",
    "leafbean",
    "ups",
    "dhl",
    "ems",
    "sf",
    "fedex",
]

_NOISE_RE = re.compile(
    ORDER_ID_PATTERN
    + r"|https?://\S+|www\.\S+|[\w.+-]+@[\w-]+\.[\w.]+"
    + r"|[A-Za-z]*\d[A-Za-z0-9]*",  # numbers and codes with digits (V60, 3kg, SF123)
)


@functools.lru_cache(maxsize=32)
def _prepare_terms(terms: tuple[str, ...]) -> tuple[str, ...]:
    """Normalised neutral terms, longest first (so "每月茶礼盒" wins over "茶")."""
    return tuple(sorted({normalize(t) for t in terms if t}, key=len, reverse=True))


def _is_acronym(word: str) -> bool:
    """All-caps short words (VIP, APP, AA) or inner capitals (iPhone) read as names."""
    if len(word) <= 5 and word.isupper():
        return True
    return any(c.isupper() for c in word[1:]) and not word.isupper()


def detect_language(
    text: str,
    neutral_terms: Iterable[str] = (),
    neutral_words: Iterable[str] = DEFAULT_NEUTRAL_WORDS,
    neutral_language: str = "mixed",
    min_latin_letters: int = 2,
) -> str:
    """Classifies a text as ``zh``, ``en`` or ``mixed``.

    Args:
        text: The message text.
        neutral_terms: Phrases (product names) removed before counting, matched
            case-insensitively and Traditional/Simplified-insensitively.
        neutral_words: Latin words that never make a Chinese message mixed.
        neutral_language: Result when the text has neither Han nor Latin words.
        min_latin_letters: Latin words shorter than this are ignored inside Chinese text
            (single letters like "a" in "a货").

    Returns:
        ``"zh"``, ``"en"`` or ``"mixed"`` (or ``neutral_language``).
    """
    normalized = normalize(text)
    for term in _prepare_terms(tuple(neutral_terms)):
        if term in normalized:
            normalized = normalized.replace(term, " " * len(term))
    # ``normalize`` keeps the length, so the original's case is aligned with it.
    original = text if len(text) == len(normalized) else normalized
    cleaned = list(normalized)
    for match in _NOISE_RE.finditer(normalized):
        for i in range(match.start(), match.end()):
            cleaned[i] = " "
    cleaned_text = "".join(cleaned)
    has_han = bool(HAN_RE.search(cleaned_text))
    neutral = {w.lower() for w in neutral_words}
    latin_words = []
    for match in LATIN_WORD_RE.finditer(cleaned_text):
        word = match.group()
        original_word = original[match.start() : match.end()]
        if has_han and (
            word in neutral or _is_acronym(original_word) or len(word) < min_latin_letters
        ):
            continue
        latin_words.append(word)
    if has_han and latin_words:
        return "mixed"
    if has_han:
        return "zh"
    if latin_words:
        return "en"
    return neutral_language


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=True)
class LanguageDetector(GraphComponent):
    """Sets ``language`` (``zh``/``en``/``mixed``) on every message, also in the output."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Returns the component's default config.

        Keys:
            neutral_lookups: names of training-data lookup tables whose elements (product
                names) do not count as language evidence; persisted in the model.
            neutral_words: Latin words that never make a Chinese message mixed.
            neutral_language: language for messages without Han or Latin words.
            min_latin_letters: shorter Latin words are ignored inside Chinese text.
        """
        return {
            "neutral_lookups": ["product"],
            "neutral_words": list(DEFAULT_NEUTRAL_WORDS),
            "neutral_language": "mixed",
            "min_latin_letters": 2,
        }

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        neutral_terms: list[str] | None = None,
    ) -> None:
        """Creates the detector.

        Args:
            config: Component config.
            model_storage: Where the neutral terms are persisted.
            resource: This component's resource.
            neutral_terms: Product names and other phrases to ignore.
        """
        self._config = config
        self._model_storage = model_storage
        self._resource = resource
        self.neutral_terms = tuple(sorted(set(neutral_terms or [])))

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LanguageDetector:
        """Creates an untrained detector."""
        return cls(config, model_storage, resource)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> LanguageDetector:
        """Loads the detector and its neutral terms from the model storage."""
        terms: list[str] = []
        try:
            with model_storage.read_from(resource) as directory:
                path = os.path.join(str(directory), _STORED_FILE)
                with open(path, encoding="utf-8") as handle:
                    terms = json.load(handle)
        except (ValueError, FileNotFoundError):
            logger.debug("No stored neutral terms for %s", resource.name)
        return cls(config, model_storage, resource, terms)

    def train(self, training_data: TrainingData) -> Resource:
        """Collects product names from the lookup tables and persists them."""
        wanted = set(self._config.get("neutral_lookups") or [])
        terms: list[str] = []
        for table in training_data.lookup_tables:
            if table.get("name") in wanted:
                elements = table.get("elements")
                if isinstance(elements, list):
                    terms.extend(str(e) for e in elements)
                elif isinstance(elements, str) and os.path.isfile(elements):
                    with open(elements, encoding="utf-8") as handle:
                        terms.extend(line.strip() for line in handle if line.strip())
        self.neutral_terms = tuple(sorted(set(terms)))
        logger.debug("LanguageDetector: %d neutral terms", len(self.neutral_terms))
        with self._model_storage.write_to(self._resource) as directory:
            with open(os.path.join(str(directory), _STORED_FILE), "w", encoding="utf-8") as handle:
                json.dump(list(self.neutral_terms), handle, ensure_ascii=False)
        return self._resource

    def detect(self, text: str) -> str:
        """Detects the language of a text with this component's settings."""
        return detect_language(
            text,
            neutral_terms=self.neutral_terms,
            neutral_words=self._config.get("neutral_words") or DEFAULT_NEUTRAL_WORDS,
            neutral_language=self._config.get("neutral_language", "mixed"),
            min_latin_letters=int(self._config.get("min_latin_letters", 2)),
        )

    def process(self, messages: list[Message]) -> list[Message]:
        """Sets ``language`` on each message (part of the parse output)."""
        for message in messages:
            text = message.get(TEXT)
            if isinstance(text, str):
                message.set(LANGUAGE, self.detect(text), add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Sets ``language`` on the training examples too (for features and reports)."""
        self.process(training_data.training_examples)
        return training_data
