r"""Lookup-table and regex entity extraction that works for Chinese and English.

Rasa's ``RegexEntityExtractor`` either wraps lookups in ``\b`` (which never matches
between two Han characters, so "买西湖龙井吗" finds nothing) or drops word boundaries
altogether (so "tea" matches inside "steam"). This extractor applies a boundary only
on the Latin/digit side of a term, matches case- and Traditional/Simplified-insensitively
and returns the canonical lookup element as the value (``西湖龍井`` -> ``西湖龙井``).
"""

from __future__ import annotations

import json
import logging
import os
import re
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.text import ORDER_ID_PATTERN, normalize

logger = logging.getLogger(__name__)

_STORED_FILE = "entity_patterns.json"
_ALNUM = "A-Za-z0-9"


def _term_pattern(term: str) -> str:
    """Regex for a normalised lookup term, with boundaries on Latin/digit edges only."""
    pattern = re.escape(term).replace(r"\ ", r"\s+")
    if re.match(f"[{_ALNUM}]", term):
        pattern = f"(?<![{_ALNUM}])" + pattern
    if re.search(f"[{_ALNUM}]$", term):
        pattern += f"(?![{_ALNUM}])"
    return pattern


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=True)
class BilingualEntityExtractor(GraphComponent, EntityExtractorMixin):
    """Extracts lookup-table entities (e.g. ``product``) and regex entities (``order_id``)."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Returns the component's default config.

        Keys:
            regexes: entity name -> regex searched in the original text.
            lookup_tables: names of training-data lookup tables to use (entity name =
                table name); null uses all of them.
            uppercase_entities: entities whose value is upper-cased (order ids).
        """
        return {
            "regexes": {"order_id": ORDER_ID_PATTERN},
            "lookup_tables": None,
            "uppercase_entities": ["order_id"],
        }

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        lookups: dict[str, list[str]] | None = None,
    ) -> None:
        """Creates the extractor.

        Args:
            config: Component config.
            model_storage: Model storage for persistence.
            resource: This component's resource.
            lookups: Entity name -> list of canonical lookup elements.
        """
        self._config = config
        self._model_storage = model_storage
        self._resource = resource
        self.lookups: dict[str, list[str]] = {}
        self._compiled: list[tuple[str, re.Pattern[str], dict[str, str]]] = []
        self.set_lookups(lookups or {})

    def set_lookups(self, lookups: dict[str, list[str]]) -> None:
        """Sets the lookup elements and compiles the matchers."""
        self.lookups = {name: sorted(set(values)) for name, values in lookups.items()}
        self._compiled = []
        for name, values in self.lookups.items():
            canonical: dict[str, str] = {}
            for value in values:
                key = " ".join(normalize(value).split())
                if key:
                    canonical.setdefault(key, value)
            if not canonical:
                continue
            terms = sorted(canonical, key=len, reverse=True)
            regex = re.compile("|".join(_term_pattern(t) for t in terms))
            self._compiled.append((name, regex, canonical))

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> BilingualEntityExtractor:
        """Creates an untrained extractor (regexes work already)."""
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        """Collects lookup tables from the training data and persists them."""
        wanted = self._config.get("lookup_tables")
        lookups: dict[str, list[str]] = {}
        for table in training_data.lookup_tables:
            name = table.get("name")
            elements = table.get("elements")
            if not name or (wanted is not None and name not in wanted):
                continue
            if isinstance(elements, str) and os.path.isfile(elements):
                with open(elements, encoding="utf-8") as handle:
                    elements = [line.strip() for line in handle if line.strip()]
            if isinstance(elements, list):
                lookups.setdefault(name, []).extend(str(e) for e in elements)
        self.set_lookups(lookups)
        with self._model_storage.write_to(self._resource) as directory:
            with open(os.path.join(str(directory), _STORED_FILE), "w", encoding="utf-8") as handle:
                json.dump(self.lookups, handle, ensure_ascii=False)
        return self._resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> BilingualEntityExtractor:
        """Loads the lookups stored in the model."""
        lookups: dict[str, list[str]] = {}
        try:
            with model_storage.read_from(resource) as directory:
                with open(os.path.join(str(directory), _STORED_FILE), encoding="utf-8") as f:
                    lookups = json.load(f)
        except (ValueError, FileNotFoundError):
            logger.debug("No stored lookups for %s", resource.name)
        return cls(config, model_storage, resource, lookups)

    def extract(self, text: str) -> list[dict[str, Any]]:
        """Finds entities in a text.

        Args:
            text: The message text.

        Returns:
            Non-overlapping entities (longest match wins), sorted by start.
        """
        found: list[dict[str, Any]] = []
        upper = set(self._config.get("uppercase_entities") or [])
        for name, pattern in (self._config.get("regexes") or {}).items():
            for match in re.finditer(pattern, text):
                value = match.group()
                found.append(
                    {
                        "entity": name,
                        "start": match.start(),
                        "end": match.end(),
                        "value": value.upper() if name in upper else value,
                    }
                )
        normalized = normalize(text)
        for name, regex, canonical in self._compiled:
            for match in regex.finditer(normalized):
                key = " ".join(match.group().split())
                found.append(
                    {
                        "entity": name,
                        "start": match.start(),
                        "end": match.end(),
                        "value": canonical.get(key, text[match.start() : match.end()]),
                    }
                )
        found.sort(key=lambda e: (-(e["end"] - e["start"]), e["start"]))
        kept: list[dict[str, Any]] = []
        for entity in found:
            if all(entity["end"] <= k["start"] or entity["start"] >= k["end"] for k in kept):
                kept.append(entity)
        return sorted(kept, key=lambda e: e["start"])

    def process(self, messages: list[Message]) -> list[Message]:
        """Adds the extracted entities to each message."""
        for message in messages:
            text = message.get(TEXT)
            if not isinstance(text, str):
                continue
            entities = self.add_extractor_name(self.extract(text))
            message.set(ENTITIES, message.get(ENTITIES, []) + entities, add_to_output=True)
        return messages
