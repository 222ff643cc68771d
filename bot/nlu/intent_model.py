"""The scikit-learn part of the intent classifier: features, models and calibration.

:class:`TextIntentModel` needs no Rasa (the benchmarks use it directly);
``bot.nlu.classifier.BilingualIntentClassifier`` wraps it as a Rasa component. The model is
pickled with the trained Rasa model, so the classes here keep their names.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from bot.nlu.text import stem_english_words

logger = logging.getLogger(__name__)


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
