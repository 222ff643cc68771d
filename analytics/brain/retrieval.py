"""Bilingual passage retrieval over the founder's FAQ (issue 15): BM25 on mixed tokens.

One index serves Chinese, English and code-switched questions. Each passage is indexed
with both language twins and both titles (the heading's halves and the file's titles), so
an English question reaches a Chinese-only passage through its English title. Tokens:

- Chinese, Traditional folded to Simplified first (OpenCC, ``retrieval_concepts.
  fold_traditional``; the FAQ and the concept table are Simplified, customers may write
  either, and so may the founder): jieba words (its bundled dictionary plus the domain words
  of the concept table, in a private tokenizer, no downloads) and CJK character bigrams;
- English: lowercased words with a tiny suffix stripper (no NLTK data), stop words dropped;
- character 3- and 4-grams of English words, weighted down, for robustness to typos;
- concepts (``analytics.brain.retrieval_concepts``): "退货", "send it back" and "return"
  all give ``c:return``, which carries meaning across synonyms and languages.

A passage's score is BM25 over its whole text plus ``title_weight`` times BM25 over its
heading alone (a question usually names what the heading names). Each hit gets a
calibrated confidence, an estimate of the chance that this passage answers the question:
a logistic function of the share of the highest score the question's terms could reach
(``share``; unknown words lower it) and the lead over the best other passage in the same
units (``lead``; two passages that tie make neither sure), with coefficients fitted on the
development set. ``answerable`` compares the best confidence with ``threshold``, chosen on
that set (never on the held-out bench) counting a wrong answer as ``1 + WRONG_COST``
refusals: "I don't know" is better than a wrong passage.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sklearn.base import BaseEstimator

from analytics.brain.retrieval_concepts import concept_tokens, fold_traditional, user_words
from analytics.core.language import CJK_RANGES
from analytics.store.knowledge import Passage, clean_text

logger = logging.getLogger(__name__)

# Chosen with ``tune_threshold`` on tests/analytics/brain/knowledge_dev.jsonl (never on the
# bench), where a wrong answer costs ``WRONG_COST`` more than a refusal.
DEFAULT_THRESHOLD = 0.74
WRONG_COST = 2.0
# Logistic calibration of the confidence (intercept, share, lead), fitted with
# ``fit_calibration`` on the same dev set.
CALIBRATION = (-2.15, 10.39, 15.81)
MAX_QUESTION_CHARS = 1000
CJK_RUN = re.compile(f"[{CJK_RANGES}]+")
LATIN_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
STOP_WORDS = frozenset(
    "a an the and or but if of to in on at for from by with about as into is are was were be "
    "been being am do does did doing have has had i me my we our you your it its this that "
    "these those there here what which who whom how when where why can could would should "
    "will shall may might must not no yes so than too very just any some all there their they "
    "them he she his her us im i'm don't doesn't can't please hi hello thanks".split()
)
ZH_STOP_WORDS = frozenset(
    "的 了 吗 呢 吧 啊 呀 么 我 你 您 他 她 我们 你们 是 在 有 和 就 都 也 要 想 能 会 可以 "
    "能不能 可不可以 怎么 怎么办 怎样 如何 什么 多少 一下 这个 那个 请问 一个 还 到 给 把 用 "
    "吗？ 哪 哪里 几".split()
)
_ZH_STOP_CHARS = frozenset("的了吗呢吧啊呀么我你您")
_SUFFIXES = ("ations", "ation", "ings", "ing", "ies", "ied", "ers", "er", "es", "ed", "ly", "s")
_DOUBLED = re.compile(r"([b-df-hj-kmnp-rtv-z])\1$")
_jieba_lock = threading.Lock()
_jieba_tokenizer: Any = None


def _jieba_cut(text: str) -> list[str]:
    """Words from a private jieba tokenizer (bundled dictionary + the domain's words)."""
    global _jieba_tokenizer
    if _jieba_tokenizer is None:
        with _jieba_lock:
            if _jieba_tokenizer is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                logging.getLogger("jieba").setLevel(logging.WARNING)
                tokenizer = jieba.Tokenizer()
                tokenizer.initialize()
                for word in user_words():
                    tokenizer.add_word(word, freq=20_000)
                _jieba_tokenizer = tokenizer
    return [w for w in _jieba_tokenizer.lcut(text) if w.strip()]


def stem(word: str) -> str:
    """A tiny English suffix stripper: ``refunds`` -> ``refund``, ``shipping`` -> ``ship``.

    Args:
        word: A lowercased word.

    Returns:
        The word without its longest known suffix, keeping at least three letters, and
        without a doubled final consonant the suffix left (``shipp`` -> ``ship``).
    """
    word = word.replace("'", "")
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)]
            if suffix in ("ies", "ied"):
                return base + "y"
            if suffix in ("ing", "ings", "ed", "er", "ers") and _DOUBLED.search(base):
                return base[:-1]
            return base
    return word


def tokenize(text: str) -> list[str]:
    """The index's tokens for a text in Chinese, English or both.

    Args:
        text: Any text; hostile characters are removed first, and Traditional Chinese is
            folded to Simplified (``fold_traditional``), so 退貨 and 退货 are one token.

    Returns:
        Prefixed tokens: ``z:`` jieba words, ``b:`` CJK bigrams, ``e:`` stemmed English
        words, ``g:`` character n-grams of English words and ``c:`` domain concepts.
    """
    text = fold_traditional(unicodedata.normalize("NFKC", clean_text(text)).lower())
    tokens: list[str] = []
    for run in CJK_RUN.findall(text):
        tokens.extend("z:" + w for w in _jieba_cut(run) if w not in ZH_STOP_WORDS)
        bigrams = (run[i : i + 2] for i in range(len(run) - 1))
        tokens.extend(
            "b:" + g for g in bigrams if g not in ZH_STOP_WORDS and not _ZH_STOP_CHARS & set(g)
        )
        if len(run) == 1:
            tokens.append("b:" + run)
    for word in LATIN_WORD.findall(text):
        if word in STOP_WORDS:
            continue
        tokens.append("e:" + stem(word))
        if len(word) >= 4 and not word.isdigit():
            padded = f"#{word}#"
            for n in (3, 4):
                tokens.extend("g:" + padded[i : i + n] for i in range(len(padded) - n + 1))
    tokens.extend(concept_tokens(text))
    return tokens


def passage_text(passage: Passage) -> str:
    """Everything a passage is indexed with: titles (twice) and both language twins."""
    titles = f"{passage.title_zh} {passage.title_en}"
    parts = [titles, titles, passage.topic_title_zh, passage.topic_title_en]
    parts.extend(t for t in (passage.text_zh, passage.text_en) if t)
    return "\n".join(parts)


def title_text(passage: Passage) -> str:
    """A passage's heading, both halves: the title field."""
    return f"{passage.title_zh} {passage.title_en}"


@lru_cache(maxsize=4096)
def _text_counts(text: str) -> Counter[str]:
    """Token counts of a passage text, cached: a refit after one edit re-tokenizes one text."""
    return Counter(tokenize(text))


class _Field:
    """BM25 statistics of one field (whole text or title) over all passages."""

    def __init__(self, texts: Sequence[str], k1: float, b: float) -> None:
        self.k1, self.b = k1, b
        self.tf = [_text_counts(t) for t in texts]
        lengths = [float(sum(tf.values())) for tf in self.tf]
        avg = sum(lengths) / len(lengths) or 1.0
        self.norm = [k1 * (1.0 - b + b * n / avg) for n in lengths]
        df: Counter[str] = Counter()
        for tf in self.tf:
            df.update(tf.keys())
        self.n = len(texts)
        self.idf = {t: self.idf_of(n) for t, n in df.items()}
        self.postings: dict[str, list[tuple[int, int]]] = {}
        for i, tf in enumerate(self.tf):
            for token, count in tf.items():
                self.postings.setdefault(token, []).append((i, count))

    def idf_of(self, df: int) -> float:
        return math.log(1.0 + (self.n - df + 0.5) / (df + 0.5))

    def add_scores(self, query: dict[str, float], scores: list[float], scale: float) -> float:
        """Adds ``scale`` times this field's BM25 to ``scores``; returns the field's ceiling."""
        ceiling = 0.0
        for token, weight in query.items():
            idf = self.idf.get(token, self.idf_of(0))
            ceiling += scale * weight * idf * (self.k1 + 1.0)
            for i, f in self.postings.get(token, ()):
                scores[i] += scale * weight * idf * f * (self.k1 + 1.0) / (f + self.norm[i])
        return ceiling


@dataclass(frozen=True, slots=True)
class Hit:
    """One ranked passage.

    Attributes:
        passage_id: The passage's id.
        score: Its BM25 score (whole text plus weighted title).
        confidence: The calibrated probability-like confidence in (0, 1) that this passage
            answers the question; the top hit's is what ``answerable`` compares.
        share: The score over the highest score the question's terms could reach.
        lead: (score - best other passage's score) / the reachable score, in [-1, 1];
            positive only for the top hit.
    """

    passage_id: str
    score: float
    confidence: float
    share: float = 0.0
    lead: float = 0.0


def calibrated(share: float, lead: float, calibration: Sequence[float] = CALIBRATION) -> float:
    """The logistic confidence of a hit from its score share and its lead.

    The lead is how far the hit is ahead of the best other passage, in units of the
    reachable score. (A relative margin, lead over score, was tried first: it rewards a
    question that matched one passage by one stray word, and decided the dev set worse.)

    Args:
        share: Score over the reachable score, in [0, 1].
        lead: Lead over the best other passage, over the reachable score, in [-1, 1].
        calibration: Intercept and the coefficients of the share and the lead.

    Returns:
        A confidence in (0, 1).
    """
    intercept, w_share, w_lead = calibration
    z = intercept + w_share * share + w_lead * lead
    return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


class PassageRetriever(BaseEstimator):
    """BM25 over bilingual tokens and domain concepts; a scikit-learn style estimator.

    Args:
        k1: BM25 term-frequency saturation.
        b: BM25 length normalisation (0 none, 1 full).
        ngram_weight: Query weight of character n-gram tokens (words and bigrams weigh 1).
        concept_weight: Query weight of concept tokens.
        title_weight: Weight of the title field's BM25 added to the whole text's.
        threshold: The least confidence ``answerable`` accepts.
        calibration: Intercept and coefficients (share, lead) of the confidence.

    Attributes:
        ids_: The passage ids, in index order.
        n_docs_: The number of passages.
    """

    def __init__(
        self,
        k1: float = 1.6,
        b: float = 0.75,
        ngram_weight: float = 0.2,
        concept_weight: float = 4.0,
        title_weight: float = 0.3,
        threshold: float = DEFAULT_THRESHOLD,
        calibration: tuple[float, float, float] = CALIBRATION,
    ) -> None:
        self.k1 = k1
        self.b = b
        self.ngram_weight = ngram_weight
        self.concept_weight = concept_weight
        self.title_weight = title_weight
        self.threshold = threshold
        self.calibration = calibration

    def fit(self, passages: Sequence[Passage]) -> PassageRetriever:
        """Builds the index (tens of milliseconds for a few hundred passages).

        Args:
            passages: The FAQ's passages (``analytics.store.knowledge.load_knowledge``).

        Returns:
            self.
        """
        if not passages:
            raise ValueError("PassageRetriever.fit needs at least one passage")
        self.ids_ = [p.id for p in passages]
        self.n_docs_ = len(passages)
        self.body_ = _Field([passage_text(p) for p in passages], self.k1, self.b)
        self.title_ = _Field([title_text(p) for p in passages], self.k1, self.b)
        return self

    def _query(self, question: str) -> dict[str, float]:
        counts = Counter(tokenize(question[:MAX_QUESTION_CHARS]))
        # A concept named twice ("subscription box") is still one concept of the question.
        return {
            token: self._weight(token) * (1 if token.startswith("c:") else n)
            for token, n in counts.items()
        }

    def _weight(self, token: str) -> float:
        if token.startswith("g:"):
            return self.ngram_weight
        if token.startswith("c:"):
            return self.concept_weight
        return 1.0

    def scores(self, question: str) -> tuple[list[float], float]:
        """Score of every passage, and the highest score the question could reach."""
        query = self._query(question)
        scores = [0.0] * self.n_docs_
        ceiling = self.body_.add_scores(query, scores, 1.0)
        if self.title_weight:
            ceiling += self.title_.add_scores(query, scores, self.title_weight)
        return scores, ceiling

    def retrieve(self, question: str, k: int = 3) -> list[Hit]:
        """The ``k`` best passages for a question, best first.

        Args:
            question: The customer's question, in any language; never raises on odd text.
            k: How many passages to return.

        Returns:
            Hits with a positive score (possibly fewer than ``k``, empty for no overlap).
        """
        scores, ceiling = self.scores(question)
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
        best, second = (scores[order[0]], scores[order[1]]) if len(order) > 1 else (scores[0], 0.0)
        hits = []
        for i in order[: max(k, 0)]:
            score = scores[i]
            if score <= 0.0:
                break
            other = second if i == order[0] else best
            share = min(score / ceiling, 1.0) if ceiling else 0.0
            lead = max(min((score - other) / ceiling, 1.0), -1.0) if ceiling else 0.0
            conf = calibrated(share, lead, self.calibration)
            hits.append(Hit(self.ids_[i], score, conf, share, lead))
        return hits

    def confidence(self, question: str) -> float:
        """The best passage's confidence (0.0 when nothing matches)."""
        hits = self.retrieve(question, k=1)
        return hits[0].confidence if hits else 0.0

    def answerable(self, question: str) -> bool:
        """Whether the FAQ likely answers the question (best confidence >= threshold)."""
        return self.confidence(question) >= self.threshold


def choose_threshold(
    rows: Iterable[tuple[float, str | None, str | None]], wrong_cost: float = WRONG_COST
) -> float:
    """The threshold with the best decisions over ``(confidence, expected, top)`` rows.

    A row with an expected passage is right when kept and ``top`` is that passage, wrong
    when kept with another passage, and missed when refused; a row expecting ``None`` is
    right when refused and wrong when kept. Score: right decisions minus ``wrong_cost``
    times the wrong answers given (with 0, a wrong answer is as bad as a refusal; with
    1, a wrong answer undoes a right one). Among tied thresholds, the median one.

    Args:
        rows: Top confidence, expected passage id or ``None``, and the top passage id.
        wrong_cost: Extra cost of a wrong answer over a refusal.

    Returns:
        The best threshold, on a grid of hundredths.
    """
    rows = list(rows)
    value_at: dict[float, float] = {}
    for step in range(0, 101):
        cut = step / 100
        right = wrong = 0
        for conf, passage, top in rows:
            kept = conf >= cut
            if passage is None:
                right += not kept
                wrong += kept
            elif kept:
                right += top == passage
                wrong += top != passage
        value_at[cut] = right - wrong_cost * wrong
    best_value = max(value_at.values())
    best = [cut for cut, value in value_at.items() if value == best_value]
    return best[len(best) // 2]


def tune_threshold(
    retriever: PassageRetriever,
    questions: Iterable[tuple[str, str | None]],
    wrong_cost: float = WRONG_COST,
) -> float:
    """The threshold that decides development questions best (see ``choose_threshold``).

    Args:
        retriever: A fitted retriever.
        questions: ``(question, passage id or None)`` pairs of a development set.
        wrong_cost: Extra cost of a wrong answer over a refusal.

    Returns:
        The best threshold, rounded to two decimals.
    """
    rows = []
    for question, passage in questions:
        hits = retriever.retrieve(question, k=1)
        top = hits[0] if hits else None
        rows.append((top.confidence if top else 0.0, passage, top.passage_id if top else None))
    return choose_threshold(rows, wrong_cost)


def fit_calibration(
    retriever: PassageRetriever, questions: Iterable[tuple[str, str | None]]
) -> tuple[float, float, float]:
    """Fits the confidence's logistic calibration on development questions.

    The label is whether the top passage is the expected one (never, for a question
    without one); the features are the top hit's share of the reachable score and its
    lead over the runner-up.

    Args:
        retriever: A fitted retriever.
        questions: ``(question, passage id or None)`` pairs of a development set.

    Returns:
        ``(intercept, share weight, lead weight)``, rounded to two decimals.
    """
    from sklearn.linear_model import LogisticRegression

    features, labels = [], []
    for question, passage in questions:
        hits = retriever.retrieve(question, k=1)
        top = hits[0] if hits else None
        features.append([top.share, top.lead] if top else [0.0, 0.0])
        labels.append(int(bool(hits) and passage is not None and hits[0].passage_id == passage))
    model = LogisticRegression(C=100.0, max_iter=1000).fit(features, labels)
    intercept, (w_share, w_lead) = model.intercept_[0], model.coef_[0]
    return (round(float(intercept), 2), round(float(w_share), 2), round(float(w_lead), 2))
