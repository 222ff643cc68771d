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

from bot.nlu.text import normalize, stem_english_words

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


class TextIntentModel:
    """The scikit-learn part, usable without Rasa (benchmarks use it directly).

    Args:
        word_ngram_range: n-gram range over tokens; ``None`` disables word features.
        char_ngram_range: n-gram range over characters; ``None`` disables them.
        model: ``"svc"`` (calibrated LinearSVC), ``"lr"`` (logistic regression) or
            ``"ensemble"`` (mean of both).
        C: Regularisation strength inverse for both linear models.
        calibration_folds: Folds for the SVM calibration.
        class_weight: ``None`` or ``"balanced"``.
        max_df: Ignore n-grams in more than this share of examples.
        random_state: Seed.
        char_analyzer: ``"char_wb"`` (n-grams inside words, padded) or ``"char"``.
        views: Feature views of the ``svc`` model, one calibrated SVM each, probabilities
            averaged: ``"all"`` (word and char n-grams together), ``"word"`` or ``"char"``.
            ``("all",)`` is the single SVM; ``("all", "word", "char")`` adds an SVM per
            feature type (different views of the text usually err differently).
        calibration: How SVM scores become probabilities: ``"sigmoid"`` (one sigmoid
            per intent on out-of-fold scores, scikit-learn's ``CalibratedClassifierCV``)
            or ``"temperature"`` (one softmax temperature for all intents fitted on
            out-of-fold scores: keeps the SVM's ranking of intents, which per-intent
            sigmoids can reorder).
        polarity_features: Append five dense polarity features (positive, negative,
            negated positive, negated negative and net counts of a small hand-written
            bilingual lexicon with negation, ``bot/nlu/polarity.py``), log-scaled and
            multiplied by ``polarity_weight``, to the "all" view.
        polarity_weight: Scale of the polarity features (TF-IDF rows have norm 1).
        english_stems: Replace English words by their Snowball (Porter 2) stems before the
            word n-grams (``charged``, ``charges`` and ``charging`` become one feature);
            Chinese tokens and the char n-grams are unchanged.
    """

    VIEWS = ("all", "word", "char")

    def __init__(
        self,
        word_ngram_range: tuple[int, int] | None = (1, 2),
        char_ngram_range: tuple[int, int] | None = (1, 4),
        model: str = "svc",
        C: float = 1.0,
        calibration_folds: int = 3,
        class_weight: str | None = None,
        max_df: float = 1.0,
        random_state: int = 42,
        char_analyzer: str = "char_wb",
        views: tuple[str, ...] | list[str] = ("all",),
        calibration: str = "sigmoid",
        polarity_features: bool = False,
        polarity_weight: float = 1.0,
        english_stems: bool = False,
    ) -> None:
        """Stores the settings (see class docstring)."""
        self.english_stems = bool(english_stems)
        self.char_analyzer = char_analyzer
        self.views = tuple(views) if views else ("all",)
        unknown = set(self.views) - set(self.VIEWS)
        if unknown:
            raise ValueError(f"Unknown views {sorted(unknown)}; use {self.VIEWS}")
        if calibration not in ("sigmoid", "temperature"):
            raise ValueError(f"Unknown calibration {calibration!r}: sigmoid or temperature")
        self.calibration = calibration
        self.polarity_features = bool(polarity_features)
        self.polarity_weight = float(polarity_weight)
        self.word_ngram_range = tuple(word_ngram_range) if word_ngram_range else None
        self.char_ngram_range = tuple(char_ngram_range) if char_ngram_range else None
        self.model = model
        self.C = C
        self.calibration_folds = calibration_folds
        self.class_weight = class_weight
        self.max_df = max_df
        self.random_state = random_state
        self.word_vectorizer: Any = None
        self.char_vectorizer: Any = None
        self.estimators: list[Any] = []
        self.estimator_views: list[str] = []
        self.classes_: np.ndarray = np.array([])

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> TextIntentModel:
        """Builds an unfitted model from the component's config keys (config.yml).

        Args:
            cfg: ``BilingualIntentClassifier`` config; missing keys take the defaults.

        Returns:
            The unfitted model.
        """
        return cls(
            word_ngram_range=cfg.get("word_ngram_range", (1, 2)),
            char_ngram_range=cfg.get("char_ngram_range", (1, 4)),
            model=cfg.get("model", "svc"),
            views=cfg.get("views") or ["all"],
            calibration=cfg.get("calibration", "sigmoid"),
            polarity_features=bool(cfg.get("polarity_features", False)),
            polarity_weight=float(cfg.get("polarity_weight", 1.0)),
            english_stems=bool(cfg.get("english_stems", False)),
            C=float(cfg.get("C", 1.0)),
            calibration_folds=int(cfg.get("calibration_folds", 3)),
            class_weight=cfg.get("class_weight"),
            max_df=float(cfg.get("max_df", 1.0)),
            random_state=int(cfg.get("random_seed", 42)),
            char_analyzer=cfg.get("char_analyzer", "char_wb"),
        )

    def _blocks(self, words: list[str], chars: list[str], fit: bool) -> dict[str, Any]:
        if getattr(self, "english_stems", False):
            words = [stem_english_words(w) for w in words]
        blocks = {}
        for name, vectorizer, texts in (
            ("word", self.word_vectorizer, words),
            ("char", self.char_vectorizer, chars),
        ):
            if vectorizer is not None:
                blocks[name] = (
                    vectorizer.fit_transform(texts) if fit else vectorizer.transform(texts)
                ).tocsr()
        if getattr(self, "polarity_features", False):
            from scipy.sparse import csr_matrix

            from bot.nlu.polarity import polarity_matrix

            blocks["polarity"] = csr_matrix(polarity_matrix(chars, self.polarity_weight))
        return blocks

    @staticmethod
    def _view(blocks: dict[str, Any], view: str) -> Any:
        from scipy.sparse import hstack

        if view != "all" and view in blocks:
            return blocks[view]
        parts = list(blocks.values())
        return hstack(parts).tocsr() if len(parts) > 1 else parts[0]

    def _features(self, words: list[str], chars: list[str], fit: bool) -> Any:
        return self._view(self._blocks(words, chars, fit), "all")

    def fit(self, words: list[str], chars: list[str], labels: list[str]) -> TextIntentModel:
        """Fits vectorizers and classifiers.

        Args:
            words: Space-joined normalised tokens per example.
            chars: Normalised text per example.
            labels: Intent per example.

        Returns:
            self
        """
        from sklearn.feature_extraction.text import TfidfVectorizer

        if not self.word_ngram_range and not self.char_ngram_range:
            raise ValueError("Enable word or char n-grams")
        self.word_vectorizer = (
            TfidfVectorizer(
                analyzer="word",
                token_pattern=r"\S+",
                lowercase=False,
                ngram_range=self.word_ngram_range,
                sublinear_tf=True,
                max_df=self.max_df,
            )
            if self.word_ngram_range
            else None
        )
        self.char_vectorizer = (
            TfidfVectorizer(
                analyzer=getattr(self, "char_analyzer", "char_wb"),
                lowercase=False,
                ngram_range=self.char_ngram_range,
                sublinear_tf=True,
                min_df=1,
                max_df=self.max_df,
            )
            if self.char_ngram_range
            else None
        )
        blocks = self._blocks(words, chars, fit=True)
        x = self._view(blocks, "all")
        y = np.asarray(labels)
        self.classes_ = np.unique(y)
        self.estimators = []
        self.estimator_views = []
        if len(self.classes_) < 2:
            return self
        if self.model in ("svc", "ensemble"):
            # one calibrated SVM per distinct view (with one feature type enabled,
            # "word" and "char" are the same features as "all")
            ngram_blocks = [b for b in blocks if b != "polarity"]
            views = dict.fromkeys(
                v if v in ngram_blocks and len(ngram_blocks) > 1 else "all" for v in self.views
            )
            for view in views:
                self.estimators.append(self._fit_svc(self._view(blocks, view), y))
                self.estimator_views.append(view)
        if self.model in ("lr", "ensemble"):
            from sklearn.linear_model import LogisticRegression

            lr = LogisticRegression(
                C=self.C * 10,
                max_iter=1000,
                class_weight=self.class_weight,
                random_state=self.random_state,
            )
            self.estimators.append(lr.fit(x, y))
            self.estimator_views.append("all")
        if not self.estimators:
            raise ValueError(f"Unknown model {self.model!r}")
        return self

    def _fit_svc(self, x: Any, y: np.ndarray) -> Any:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.svm import LinearSVC

        svc = LinearSVC(C=self.C, class_weight=self.class_weight, random_state=self.random_state)
        _, counts = np.unique(y, return_counts=True)
        folds = int(min(self.calibration_folds, counts.min()))
        if folds < 2:
            logger.debug("Too few examples per intent for calibration; using a softmax")
            return _SoftmaxSVC(svc.fit(x, y))
        if getattr(self, "calibration", "sigmoid") == "temperature":
            return _TemperatureLinear.fit(svc, x, y, folds)
        # ensemble=False: one SVM fitted on all data, sigmoid calibrators fitted on
        # cross-validated scores (full-data accuracy, one model to run at parse time).
        calibrated = CalibratedClassifierCV(svc, cv=folds, method="sigmoid", ensemble=False)
        calibrated.fit(x, y)
        return _SigmoidCalibratedLinear.from_calibrated(calibrated) or calibrated

    def predict_proba(self, words: list[str], chars: list[str]) -> np.ndarray:
        """Returns intent probabilities, columns ordered as ``classes_``."""
        if len(self.classes_) == 1:
            return np.ones((len(words), 1))
        blocks = self._blocks(words, chars, fit=False)
        views = getattr(self, "estimator_views", None) or ["all"] * len(self.estimators)
        probs = [
            self._aligned(est, est.predict_proba(self._view(blocks, view)))
            for est, view in zip(self.estimators, views, strict=True)
        ]
        return np.mean(probs, axis=0)

    def _aligned(self, estimator: Any, probs: np.ndarray) -> np.ndarray:
        # every estimator is fitted on the same labels, so the columns are normally in
        # order already; the general path maps them through a dict (list.index over
        # numpy strings cost 12 ms per message with 151 intents)
        if np.array_equal(estimator.classes_, self.classes_):
            return probs
        column = {c: i for i, c in enumerate(estimator.classes_)}
        return probs[:, [column[c] for c in self.classes_]]

    def predict(self, words: list[str], chars: list[str]) -> list[str]:
        """Returns the most probable intent per example."""
        probs = self.predict_proba(words, chars)
        return [str(self.classes_[i]) for i in probs.argmax(axis=1)]


class _SigmoidCalibratedLinear:
    """The parse-time form of a sigmoid-calibrated linear SVM (same numbers, less overhead).

    scikit-learn's ``CalibratedClassifierCV.predict_proba`` loops over classes in Python
    (milliseconds per message with dozens of intents); this computes the one-vs-rest
    sigmoids of all classes with one sparse product and normalises them the same way.
    """

    def __init__(
        self, coef: np.ndarray, intercept: np.ndarray, a: np.ndarray, b: np.ndarray, classes: Any
    ) -> None:
        self.coef_t = np.ascontiguousarray(coef.T)
        self.intercept = intercept
        self.a = a
        self.b = b
        self.classes_ = classes

    @classmethod
    def from_calibrated(cls, calibrated: Any) -> _SigmoidCalibratedLinear | None:
        """Builds from a fitted ``CalibratedClassifierCV(ensemble=False)`` (multi-class)."""
        if len(calibrated.classes_) < 3 or len(calibrated.calibrated_classifiers_) != 1:
            return None
        inner = calibrated.calibrated_classifiers_[0]
        svc = getattr(inner, "estimator", None) or inner.base_estimator
        if list(svc.classes_) != list(calibrated.classes_):
            return None
        a = np.array([c.a_ for c in inner.calibrators])
        b = np.array([c.b_ for c in inner.calibrators])
        return cls(svc.coef_, svc.intercept_, a, b, calibrated.classes_)

    def predict_proba(self, x: Any) -> np.ndarray:
        scores = np.asarray(x @ self.coef_t) + self.intercept
        proba = 1.0 / (1.0 + np.exp(self.a * scores + self.b))
        total = proba.sum(axis=1, keepdims=True)
        uniform = np.full_like(proba, 1.0 / proba.shape[1])
        return np.divide(proba, total, out=uniform, where=total != 0)


class _TemperatureLinear:
    """A linear SVM whose scores go through one softmax with a fitted temperature.

    The temperature minimises the log-loss of out-of-fold decision scores (stratified
    k-fold), so probabilities are calibrated on unseen data while the order of the
    intents stays the SVM's own.
    """

    def __init__(
        self, coef: np.ndarray, intercept: np.ndarray, temperature: float, classes: Any
    ) -> None:
        self.coef_t = np.ascontiguousarray(coef.T)
        self.intercept = intercept
        self.temperature = temperature
        self.classes_ = classes

    @staticmethod
    def _two_columns(scores: np.ndarray) -> np.ndarray:
        return np.stack([-scores, scores], axis=1) if scores.ndim == 1 else scores

    @staticmethod
    def softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
        """Row-wise softmax of ``scores / temperature``."""
        z = scores / temperature
        z = z - z.max(axis=1, keepdims=True)
        exp = np.exp(z)
        return exp / exp.sum(axis=1, keepdims=True)

    @classmethod
    def fit(cls, svc: Any, x: Any, y: np.ndarray, folds: int) -> _TemperatureLinear:
        """Fits ``svc`` on all data and the temperature on out-of-fold scores."""
        from scipy.optimize import minimize_scalar
        from sklearn.base import clone
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        out_of_fold = cls._two_columns(
            cross_val_predict(
                clone(svc), x, y, cv=StratifiedKFold(folds), method="decision_function"
            )
        )
        classes = np.unique(y)
        rows = np.arange(len(y))
        truth = np.searchsorted(classes, y)

        def log_loss(log_temperature: float) -> float:
            probs = cls.softmax(out_of_fold, float(np.exp(log_temperature)))
            return float(-np.mean(np.log(probs[rows, truth] + 1e-12)))

        best = minimize_scalar(log_loss, bounds=(-6.0, 4.0), method="bounded")
        svc.fit(x, y)
        coef, intercept = svc.coef_, svc.intercept_
        if coef.shape[0] == 1:  # binary: one score s, columns (-s, s)
            coef, intercept = np.vstack([-coef, coef]), np.array([-intercept[0], intercept[0]])
        return cls(coef, intercept, float(np.exp(best.x)), svc.classes_)

    def predict_proba(self, x: Any) -> np.ndarray:
        scores = np.asarray(x @ self.coef_t) + self.intercept
        return self.softmax(scores, self.temperature)


class _SoftmaxSVC:
    """A fitted LinearSVC whose decision scores are turned into a softmax."""

    def __init__(self, svc: Any) -> None:
        self.svc = svc
        self.classes_ = svc.classes_

    def predict_proba(self, x: Any) -> np.ndarray:
        scores = self.svc.decision_function(x)
        if scores.ndim == 1:
            scores = np.stack([-scores, scores], axis=1)
        scores = scores * 5.0
        scores -= scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        return exp / exp.sum(axis=1, keepdims=True)


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
