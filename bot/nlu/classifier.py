"""A fast TF-IDF + linear intent classifier for bilingual text (Rasa 3.6 component).

Features: TF-IDF over the tokenizer's tokens (word n-grams) and over characters (char
n-grams, which work for Chinese without segmentation), both on text normalised to lower
case and Simplified Chinese. Model: a linear SVM with probability calibration, a
logistic regression, or their average; optionally several calibrated SVMs on different
views of the features (word n-grams, char n-grams, both) with averaged probabilities;
optionally a few polarity features from a small bilingual lexicon with negation
(``bot/nlu/polarity.py``). Trains in seconds on tens of thousands of examples;
confidences are calibrated so a ``FallbackClassifier`` threshold means something
(out-of-domain text gets a low top confidence).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

# Models trained before the scikit-learn part moved to bot.nlu.intent_model pickled its
# classes under this module's name: importing them here lets those models load.
from bot.nlu.intent_model import (
    TextIntentModel,
    _SigmoidCalibratedLinear,  # noqa: F401
    _SoftmaxSVC,  # noqa: F401
    _TemperatureLinear,  # noqa: F401
)
from bot.nlu.text import normalize

logger = logging.getLogger(__name__)

_MODEL_FILE = "intent_model.joblib"


def message_words(message: Message) -> str:
    """Returns the message's tokens, normalised and joined by single spaces.

    Falls back to whitespace splitting when the message has no tokens.
    """
    tokens = message.get(TOKENS_NAMES[TEXT])
    if tokens:
        return " ".join(normalize(t.text) for t in tokens)
    return " ".join(normalize(message.get(TEXT) or "").split())


def message_chars(message: Message) -> str:
    """Returns the message text normalised for character n-grams."""
    return " ".join(normalize(message.get(TEXT) or "").split())


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class BilingualIntentClassifier(GraphComponent, IntentClassifier):
    """Intent classifier: TF-IDF word + char n-grams and a calibrated linear model."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Returns the component's default config.

        Keys:
            word_ngram_range: token n-gram range, or null to disable.
            char_ngram_range: character n-gram range, or null to disable.
            char_analyzer: ``char_wb`` (n-grams inside words) or ``char``.
            model: ``svc`` (calibrated LinearSVC), ``lr`` or ``ensemble``.
            views: feature views of the ``svc`` model, one calibrated SVM each with
                averaged probabilities: ``all`` (word + char n-grams), ``word``, ``char``.
            calibration: ``sigmoid`` (one per intent) or ``temperature`` (one softmax
                temperature; keeps the SVM's intent order).
            polarity_features: append five polarity features (lexicon counts with
                negation, ``bot/nlu/polarity.py``) to the TF-IDF features; helps
                praise vs complain (docs/nlu.md, "What was tried").
            polarity_weight: scale of the polarity features.
            english_stems: word n-grams over Snowball stems of English words.
            C: inverse regularisation strength.
            calibration_folds: folds for the SVM's sigmoid calibration.
            class_weight: null or ``balanced``.
            max_df: ignore n-grams in more than this share of examples.
            ranking_length: intents in ``intent_ranking`` (0 = all).
            random_seed: seed.
        """
        return {
            "word_ngram_range": [1, 2],
            "char_ngram_range": [1, 4],
            "char_analyzer": "char_wb",
            "model": "svc",
            "views": ["all"],
            "calibration": "sigmoid",
            "polarity_features": False,
            "polarity_weight": 1.0,
            "english_stems": False,
            "C": 1.0,
            "calibration_folds": 3,
            "class_weight": None,
            "max_df": 1.0,
            "ranking_length": 10,
            "random_seed": 42,
        }

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: TextIntentModel | None = None,
    ) -> None:
        """Creates the component.

        Args:
            config: Component config.
            model_storage: Model storage for persistence.
            resource: This component's resource.
            model: A fitted model, when loading.
        """
        self._config = config
        self._model_storage = model_storage
        self._resource = resource
        self.model = model

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> BilingualIntentClassifier:
        """Creates an untrained classifier."""
        return cls(config, model_storage, resource)

    def _new_model(self) -> TextIntentModel:
        return TextIntentModel.from_config(self._config)

    def train(self, training_data: TrainingData) -> Resource:
        """Trains on the examples that have text and an intent, then persists."""
        import joblib

        examples = [e for e in training_data.intent_examples if e.get(TEXT) and e.get(INTENT)]
        if not examples:
            logger.warning("No intent examples: %s stays untrained", self.__class__.__name__)
            return self._resource
        self.model = self._new_model().fit(
            [message_words(e) for e in examples],
            [message_chars(e) for e in examples],
            [e.get(INTENT) for e in examples],
        )
        with self._model_storage.write_to(self._resource) as directory:
            joblib.dump(self.model, os.path.join(str(directory), _MODEL_FILE))
        return self._resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> BilingualIntentClassifier:
        """Loads the fitted model from the model storage (untrained if absent)."""
        import joblib

        model = None
        try:
            with model_storage.read_from(resource) as directory:
                path = os.path.join(str(directory), _MODEL_FILE)
                if os.path.isfile(path):
                    model = joblib.load(path)
        except ValueError:
            logger.debug("No stored model for %s", resource.name)
        return cls(config, model_storage, resource, model)

    def process(self, messages: list[Message]) -> list[Message]:
        """Sets ``intent`` and ``intent_ranking`` on each message."""
        if self.model is None or not len(self.model.classes_) or not messages:
            for message in messages:
                message.set(INTENT, {"name": None, "confidence": 0.0}, add_to_output=True)
                message.set(INTENT_RANKING_KEY, [], add_to_output=True)
            return messages
        probs = self.model.predict_proba(
            [message_words(m) for m in messages], [message_chars(m) for m in messages]
        )
        length = int(self._config.get("ranking_length", 10)) or len(self.model.classes_)
        for message, row in zip(messages, probs, strict=True):
            order = np.argsort(-row)[:length]
            ranking = [
                {"name": str(self.model.classes_[i]), "confidence": float(row[i])} for i in order
            ]
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages
