"""The founder's FAQ as the bot answers from it: hot-reloaded passages and their retriever.

:class:`KnowledgeBase` holds the passages of a knowledge folder (``knowledge/*.md``, parsed by
:mod:`analytics.store.knowledge`) and a :class:`~analytics.brain.retrieval.PassageRetriever`
fitted on them. On a question it first looks whether the folder changed, but at most every
``reload_seconds`` (``KNOWLEDGE_RELOAD_SECONDS``, 60 s at most): the file names, sizes,
modification times and a SHA-256 of each file's bytes. When they differ it parses the files
again and refits the retriever (a few hundred milliseconds), so an edit, a new topic file or
a deleted one is answered from (or no longer used) on the first question after the interval,
without retraining Rasa. A file that does not parse, or that repeats a passage id of an
earlier file, is logged and skipped; the other files keep answering. While nothing changed
the fitted index is reused.

:func:`record_answer` writes one ``knowledge_answers`` row per question answered or declined,
with the question redacted (:func:`analytics.loop.privacy.redact`) and cut to size, so the
console can show which question was answered from which passage.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from sqlalchemy.orm import Session

from analytics.brain.retrieval import PassageRetriever
from analytics.core.settings import get_settings
from analytics.loop.privacy import redact
from analytics.store.knowledge import (
    MAX_FILE_BYTES,
    KnowledgeError,
    Passage,
    clean_text,
    knowledge_files,
    parse_knowledge_text,
    read_knowledge_file,
)
from analytics.store.models.knowledge import (
    MAX_QUESTION_CHARS,
    MODE_REFUSED,
    KnowledgeAnswer,
)

logger = logging.getLogger(__name__)

#: a question is cut to this many characters before redaction (the stored text is shorter).
REDACT_CHARS = 2 * MAX_QUESTION_CHARS
_HASH_CHUNK = 1 << 16

#: (file name, size in bytes, modification time in ns, SHA-256 of the bytes) per file.
Fingerprint = tuple[tuple[str, int, int, str], ...]


@dataclass(frozen=True)
class FileProblem:
    """A knowledge file that was skipped, and why (for logs and the console)."""

    file: str
    message: str


@dataclass(frozen=True)
class KnowledgeSnapshot:
    """The passages of one version of the folder and the retriever fitted on them.

    Attributes:
        passages: Passage id -> passage, in file order.
        retriever: The fitted retriever, or None when no file has a usable passage.
        problems: The files skipped in this version.
        fingerprint: What the folder looked like when it was read.
        loaded_at: When it was read (UTC).
    """

    passages: Mapping[str, Passage] = field(default_factory=dict)
    retriever: PassageRetriever | None = None
    problems: tuple[FileProblem, ...] = ()
    fingerprint: Fingerprint = ()
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def passage(self, passage_id: str) -> Passage | None:
        """The passage with this id, or None."""
        return self.passages.get(passage_id)


def _file_hash(path: Path, max_bytes: int) -> str:
    """SHA-256 of a file's first ``max_bytes + 1`` bytes (larger files are refused anyway)."""
    digest = hashlib.sha256()
    left = max_bytes + 1
    with path.open("rb") as handle:
        while left > 0:
            chunk = handle.read(min(_HASH_CHUNK, left))
            if not chunk:
                break
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def fingerprint(folder: Path, max_bytes: int = MAX_FILE_BYTES) -> Fingerprint:
    """What the knowledge folder looks like now: names, sizes, mtimes and content hashes.

    Args:
        folder: The knowledge folder.
        max_bytes: The size limit of one file (only that much of a file is hashed).

    Returns:
        One entry per topic file, sorted by name; empty when the folder is missing.
    """
    if not folder.is_dir():
        return ()
    entries = []
    for path in knowledge_files(folder):
        try:
            stat = path.stat()
            digest = _file_hash(path, max_bytes)
        except OSError as exc:  # deleted or unreadable between listing and reading
            entries.append((path.name, -1, -1, f"error:{exc.errno}"))
            continue
        entries.append((path.name, stat.st_size, stat.st_mtime_ns, digest))
    return tuple(entries)


def load_snapshot(
    folder: Path,
    retriever_factory: Callable[[], PassageRetriever] = PassageRetriever,
    max_bytes: int = MAX_FILE_BYTES,
) -> KnowledgeSnapshot:
    """Reads every topic file of ``folder`` and fits a retriever on their passages.

    Unlike :func:`analytics.store.knowledge.load_knowledge`, a bad file does not stop the
    others: it is logged and listed in ``problems``, as is a file that repeats a passage id
    of a file earlier in name order.

    Args:
        folder: The knowledge folder.
        retriever_factory: Makes the (unfitted) retriever.
        max_bytes: The size limit of one file.

    Returns:
        The snapshot (with no retriever when no passage could be read).
    """
    seen = fingerprint(folder, max_bytes)
    passages: dict[str, Passage] = {}
    problems: list[FileProblem] = []
    if not folder.is_dir():
        logger.warning("Knowledge folder %s not found: no passages to answer from", folder)
        problems.append(FileProblem(str(folder), "folder not found"))
    for path in knowledge_files(folder) if folder.is_dir() else []:
        try:
            parsed = parse_knowledge_text(read_knowledge_file(path, max_bytes), path)
        except KnowledgeError as exc:
            logger.warning("Skipping knowledge file: %s", exc)
            problems.append(FileProblem(path.name, str(exc)))
            continue
        repeated = sorted(p.id for p in parsed if p.id in passages)
        if repeated:
            message = f"{path}: passage ids already used by another file: {', '.join(repeated)}"
            logger.warning("Skipping knowledge file: %s", message)
            problems.append(FileProblem(path.name, message))
            continue
        passages.update((p.id, p) for p in parsed)
    retriever = retriever_factory().fit(list(passages.values())) if passages else None
    logger.info(
        "Knowledge base %s: %d passages, %d files skipped", folder, len(passages), len(problems)
    )
    return KnowledgeSnapshot(passages, retriever, tuple(problems), seen)


class KnowledgeBase:
    """A knowledge folder kept current: re-read when its files change.

    Thread-safe: one reader reloads while the others keep the snapshot they have.

    Args:
        folder: The knowledge folder.
        reload_seconds: The least time between two looks at the folder's files.
        retriever_factory: Makes the (unfitted) retriever for each version.
        clock: Monotonic seconds (tests pass a fake one).
    """

    def __init__(
        self,
        folder: Path | str,
        reload_seconds: float = 10.0,
        retriever_factory: Callable[[], PassageRetriever] = PassageRetriever,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folder = Path(folder)
        self.reload_seconds = float(reload_seconds)
        self.retriever_factory = retriever_factory
        self.clock = clock
        self._lock = threading.Lock()
        self._snapshot: KnowledgeSnapshot | None = None
        self._checked_at = 0.0
        self.reloads = 0

    def current(self) -> KnowledgeSnapshot:
        """The snapshot to answer from, re-read first if the files changed.

        The folder is looked at when the last look is ``reload_seconds`` old (or on first use);
        a changed fingerprint reloads it. Never raises for a bad file; an unexpected failure
        while reloading keeps the previous snapshot (logged).
        """
        snapshot = self._snapshot
        if snapshot is not None and self.clock() - self._checked_at < self.reload_seconds:
            return snapshot
        with self._lock:
            if self._snapshot is not None and self.clock() - self._checked_at < self.reload_seconds:
                return self._snapshot
            self._checked_at = self.clock()
            try:
                if self._snapshot is None or fingerprint(self.folder) != self._snapshot.fingerprint:
                    self._snapshot = load_snapshot(self.folder, self.retriever_factory)
                    self.reloads += 1
            except Exception:  # noqa: BLE001 - keep answering from the last good version
                logger.exception("Reloading the knowledge base %s failed", self.folder)
                if self._snapshot is None:
                    self._snapshot = KnowledgeSnapshot()
            return self._snapshot


@lru_cache(maxsize=1)
def get_knowledge_base() -> KnowledgeBase:
    """The process's knowledge base (``KNOWLEDGE_DIR``, ``KNOWLEDGE_RELOAD_SECONDS``).

    ``get_knowledge_base.cache_clear()`` forgets it (tests, after changing the settings).
    """
    settings = get_settings()
    return KnowledgeBase(Path(settings.knowledge_dir), settings.knowledge_reload_seconds)


def stored_question(question: str) -> str:
    """A question as it may be stored: clean, redacted and at most ``MAX_QUESTION_CHARS`` long.

    Args:
        question: The customer's raw text.

    Returns:
        The text without control characters or lone surrogates, personal data replaced by
        placeholders, cut to size.
    """
    text = clean_text(question[: REDACT_CHARS * 2])[:REDACT_CHARS]
    return redact(text)[:MAX_QUESTION_CHARS]


def record_answer(
    session: Session,
    *,
    sender_id: str,
    customer_id: int | None,
    question: str,
    passage_id: str | None,
    score: float,
    language: str,
    mode: str,
    intent: str | None = None,
    at: datetime | None = None,
) -> KnowledgeAnswer:
    """Adds the ``knowledge_answers`` row of one answer or refusal (the caller commits).

    Args:
        session: An open store session.
        sender_id: The conversation's Rasa sender id.
        customer_id: The verified customer's store id, or None when anonymous.
        question: The customer's raw question (stored redacted, see :func:`stored_question`).
        passage_id: The passage answered from, or None for a refusal.
        score: The best passage's confidence in [0, 1].
        language: The reply language (``zh`` or ``en``).
        mode: ``direct``, ``quoted`` or ``refused``.
        intent: The intent the question was classified as.
        at: When (now by default).

    Returns:
        The added row.
    """
    row = KnowledgeAnswer(
        sender_id=clean_text(sender_id)[:255],
        customer_id=customer_id,
        question=stored_question(question),
        passage_id=None if mode == MODE_REFUSED else passage_id,
        score=float(score),
        language=language,
        mode=mode,
        intent=clean_text(intent)[:100] if intent else None,
        created_at=at or datetime.now(UTC),
    )
    session.add(row)
    return row
