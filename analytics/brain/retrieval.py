"""Bilingual passage retrieval over the founder's FAQ (issue 15): BM25 on mixed tokens.

One index serves Chinese, English and code-switched questions. Each passage is indexed
with both language twins and both titles (the heading's halves and the file's titles), so
an English question reaches a Chinese-only passage through its English title. Tokens:

- Chinese: jieba words (its bundled dictionary, no downloads) and CJK character bigrams;
- English: lowercased words with a tiny suffix stripper (no NLTK data), stop words dropped;
- character 3- and 4-grams of English words, weighted down, for robustness to typos.

``retrieve`` ranks passages by BM25 and gives each a confidence in [0, 1): the score over
the highest score the question's terms could reach. ``answerable`` compares the best
confidence with ``threshold`` (chosen on a development set, never on the held-out bench).
"""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sklearn.base import BaseEstimator

from analytics.store.knowledge import Passage, clean_text

# Chosen with ``tune_threshold`` on tests/analytics/brain/knowledge_dev.jsonl (not the bench).
DEFAULT_THRESHOLD = 0.14
MAX_QUESTION_CHARS = 1000
CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
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
_jieba_ready = False


def _jieba_cut(text: str) -> list[str]:
    """Words from jieba for a Chinese run, initialised quietly on first use."""
    global _jieba_ready
    import jieba

    if not _jieba_ready:
        jieba.setLogLevel(logging.WARNING)
        logging.getLogger("jieba").setLevel(logging.WARNING)
        jieba.initialize()
        _jieba_ready = True
    return [w for w in jieba.lcut(text) if w.strip()]


def stem(word: str) -> str:
    """A tiny English suffix stripper: ``refunds`` -> ``refund``, ``shipping`` -> ``shipp``.

    Args:
        word: A lowercased word.

    Returns:
        The word without its longest known suffix, keeping at least three letters.
    """
    word = word.replace("'", "")
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)]
            return base + "y" if suffix in ("ies", "ied") else base
    return word


def tokenize(text: str) -> list[str]:
    """The index's tokens for a text in Chinese, English or both.

    Args:
        text: Any text; hostile characters are removed first.

    Returns:
        Prefixed tokens: ``z:`` jieba words, ``b:`` CJK bigrams, ``e:`` stemmed English
        words and ``g:`` character n-grams of English words.
    """
    text = unicodedata.normalize("NFKC", clean_text(text)).lower()
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
    return tokens


def passage_text(passage: Passage) -> str:
    """Everything a passage is indexed with: titles (twice) and both language twins."""
    titles = f"{passage.title_zh} {passage.title_en}"
    parts = [titles, titles, passage.topic_title_zh, passage.topic_title_en]
    parts.extend(t for t in (passage.text_zh, passage.text_en) if t)
    return "\n".join(parts)


@dataclass(frozen=True, slots=True)
class Hit:
    """One ranked passage: its id, BM25 score and normalised confidence in [0, 1)."""

    passage_id: str
    score: float
    confidence: float


class PassageRetriever(BaseEstimator):
    """BM25 over bilingual tokens; a scikit-learn style estimator.

    Args:
        k1: BM25 term-frequency saturation.
        b: BM25 length normalisation (0 none, 1 full).
        ngram_weight: Query weight of character n-gram tokens (words and bigrams weigh 1).
        threshold: The least confidence ``answerable`` accepts.

    Attributes:
        ids_: The passage ids, in index order.
        idf_: Inverse document frequency of every indexed token.
        doc_tf_: Token counts of every passage.
        doc_len_: Weighted length of every passage.
        avgdl_: Mean passage length.
    """

    def __init__(
        self,
        k1: float = 1.2,
        b: float = 0.75,
        ngram_weight: float = 0.3,
        threshold: float = DEFAULT_THRESHOLD,
    ) -> None:
        self.k1 = k1
        self.b = b
        self.ngram_weight = ngram_weight
        self.threshold = threshold

    def fit(self, passages: Sequence[Passage]) -> PassageRetriever:
        """Builds the index.

        Args:
            passages: The FAQ's passages (``analytics.store.knowledge.load_knowledge``).

        Returns:
            self.
        """
        if not passages:
            raise ValueError("PassageRetriever.fit needs at least one passage")
        self.ids_ = [p.id for p in passages]
        self.doc_tf_ = [Counter(tokenize(passage_text(p))) for p in passages]
        self.doc_len_ = [float(sum(tf.values())) for tf in self.doc_tf_]
        self.avgdl_ = sum(self.doc_len_) / len(self.doc_len_)
        df: Counter[str] = Counter()
        for tf in self.doc_tf_:
            df.update(tf.keys())
        self.n_docs_ = len(passages)
        self.idf_ = {t: self._idf(n) for t, n in df.items()}
        return self

    def _idf(self, df: int) -> float:
        return math.log(1.0 + (self.n_docs_ - df + 0.5) / (df + 0.5))

    def _query(self, question: str) -> Counter[str]:
        return Counter(tokenize(question[:MAX_QUESTION_CHARS]))

    def _weight(self, token: str) -> float:
        return self.ngram_weight if token.startswith("g:") else 1.0

    def scores(self, question: str) -> tuple[list[float], float]:
        """BM25 score of every passage, and the highest score the question could reach."""
        query = self._query(question)
        ceiling = 0.0
        scores = [0.0] * self.n_docs_
        for token, qtf in query.items():
            weight = self._weight(token) * qtf
            idf = self.idf_.get(token, self._idf(0))
            ceiling += weight * idf * (self.k1 + 1.0)
            if token not in self.idf_:
                continue
            for i, tf in enumerate(self.doc_tf_):
                f = tf.get(token)
                if f:
                    norm = self.k1 * (1.0 - self.b + self.b * self.doc_len_[i] / self.avgdl_)
                    scores[i] += weight * idf * f * (self.k1 + 1.0) / (f + norm)
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
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[: max(k, 0)]
        return [
            Hit(self.ids_[i], scores[i], scores[i] / ceiling if ceiling else 0.0)
            for i in order
            if scores[i] > 0.0
        ]

    def confidence(self, question: str) -> float:
        """The best passage's confidence (0.0 when nothing matches)."""
        hits = self.retrieve(question, k=1)
        return hits[0].confidence if hits else 0.0

    def answerable(self, question: str) -> bool:
        """Whether the FAQ likely answers the question (best confidence >= threshold)."""
        return self.confidence(question) >= self.threshold


def choose_threshold(
    rows: Iterable[tuple[float, str | None, str | None]], wrong_cost: float = 0.0
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
    value_at = {}
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
    wrong_cost: float = 0.0,
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
