"""Validated, atomic writes of the founder's knowledge files (``knowledge/*.md``).

The console adds, edits and deletes passages and topic files through this module. Every write

* names its file by a validated topic (``[a-z0-9]+(-[a-z0-9]+)*``, no separators, no
  ``README``), inside the knowledge folder and not through a symbolic link;
* checks the fields (one-line titles, the Chinese half with Chinese characters, the English
  half and text without them, sizes) and renders them in the format of ``knowledge/README.md``;
* parses the whole new file with the one parser (:mod:`analytics.store.knowledge`) and checks
  that it reads back exactly what was asked for (a text line that the parser would take for a
  heading or a language marker is refused with the parser's own message);
* refuses when the file changed since the form was loaded (the form carries the SHA-256 of
  the file's bytes, :func:`digest`), so one edit never silently overwrites another;
* holds an exclusive ``flock`` on the folder, writes a hidden temporary file beside the
  target, syncs it and moves it in with ``os.replace`` (readers see the old or the new file,
  never half of one); the bot's hot reload picks the new file up. Everything outside the
  edited passage stays byte for byte as it was.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from analytics.core.language import CJK_RE
from analytics.store.knowledge import (
    HEADING,
    MAX_FILE_BYTES,
    KnowledgeError,
    Passage,
    clean_text,
    knowledge_files,
    parse_knowledge_text,
    read_knowledge_file,
)

logger = logging.getLogger(__name__)

NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
MAX_TOPIC_CHARS = 40
MAX_ID_CHARS = 80
MAX_TITLE_CHARS = 120
MAX_TEXT_CHARS = 20_000
MAX_TOPIC_FILES = 100
FILE_MODE = 0o644
RESERVED_TOPICS = frozenset({"readme"})


class KnowledgeEditError(ValueError):
    """An edit that was refused; nothing was written.

    Attributes:
        code: What went wrong, a key the console translates (``bad_topic``, ``format``...).
        detail: Extra text (the parser's message, the offending name), possibly empty.
    """

    def __init__(self, code: str, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}" if detail else code)


@dataclass(frozen=True, slots=True)
class PassageDraft:
    """A passage as the founder typed it (cleaned by :func:`normalize_passage`)."""

    id: str
    title_zh: str
    title_en: str
    text_zh: str | None
    text_en: str | None


@dataclass(frozen=True, slots=True)
class TopicDraft:
    """A new topic file's front matter."""

    topic: str
    title_zh: str
    title_en: str


@dataclass(frozen=True, slots=True)
class TopicFile:
    """One topic file as the console shows it.

    Attributes:
        topic: The file name without ``.md``.
        path: The file.
        digest: SHA-256 of the file's bytes (the edit forms carry it).
        passages: The parsed passages (empty when the file is broken).
        error: The parser's message for a broken file, else ``None``.
    """

    topic: str
    path: Path
    digest: str
    passages: tuple[Passage, ...]
    error: str | None


def digest(data: bytes) -> str:
    """The SHA-256 (hex) of a file's bytes."""
    return hashlib.sha256(data).hexdigest()


def check_name(value: str, code: str, max_chars: int) -> str:
    """A topic or passage id: lowercase letters, digits and single hyphens.

    Raises:
        KnowledgeEditError: ``code`` when the value is not such a name or too long.
    """
    if not isinstance(value, str) or len(value) > max_chars or not NAME.fullmatch(value):
        raise KnowledgeEditError(code, repr(value)[:100] if isinstance(value, str) else "")
    return value


def topic_path(folder: Path | str, topic: str) -> Path:
    """The file of ``topic`` inside ``folder`` (which need not exist yet).

    Raises:
        KnowledgeEditError: ``bad_topic`` for an invalid or reserved name, ``unsafe_path`` when
            the path would leave the folder or is a symbolic link.
    """
    check_name(topic, "bad_topic", MAX_TOPIC_CHARS)
    if topic in RESERVED_TOPICS:
        raise KnowledgeEditError("bad_topic", topic)
    root = Path(folder).resolve()
    path = root / f"{topic}.md"
    if path.is_symlink() or path.resolve().parent != root:
        raise KnowledgeEditError("unsafe_path", path.name)
    return path


def _one_line(value: str | None, code: str) -> str:
    text = clean_text(value or "").strip()
    if not text:
        raise KnowledgeEditError(f"{code}_missing")
    if "\n" in text or len(text) > MAX_TITLE_CHARS:
        raise KnowledgeEditError(f"{code}_invalid")
    return text


def _titles(title_zh: str | None, title_en: str | None) -> tuple[str, str]:
    zh, en = _one_line(title_zh, "title"), _one_line(title_en, "title")
    if not CJK_RE.search(zh):
        raise KnowledgeEditError("title_zh_needs_chinese")
    if CJK_RE.search(en):
        raise KnowledgeEditError("title_en_has_chinese")
    return zh, en


def normalize_passage(draft: PassageDraft, topic: str) -> PassageDraft:
    """Cleans and checks a passage typed by the founder.

    Control characters and lone surrogates are removed, line ends become newlines, texts are
    stripped; an empty text means "no text in that language".

    Args:
        draft: The fields as typed.
        topic: The topic file it goes into (the id must start with ``<topic>-``).

    Returns:
        The cleaned passage.

    Raises:
        KnowledgeEditError: A field is missing, too long, in the wrong script, or the id is
            not ``<topic>-<name>``.
    """
    pid = check_name(draft.id, "bad_id", MAX_ID_CHARS)
    if not pid.startswith(topic + "-"):
        raise KnowledgeEditError("id_prefix", f"{topic}-")
    title_zh, title_en = _titles(draft.title_zh, draft.title_en)
    if " / " in title_zh:
        raise KnowledgeEditError("title_invalid", "' / '")
    texts: dict[str, str | None] = {}
    for lang, value in (("zh", draft.text_zh), ("en", draft.text_en)):
        text = clean_text(value or "").strip()
        if len(text) > MAX_TEXT_CHARS:
            raise KnowledgeEditError("text_too_long", str(MAX_TEXT_CHARS))
        texts[lang] = text or None
    if texts["zh"] is None and texts["en"] is None:
        raise KnowledgeEditError("text_missing")
    if texts["zh"] is not None and not CJK_RE.search(texts["zh"]):
        raise KnowledgeEditError("zh_needs_chinese")
    if texts["en"] is not None and CJK_RE.search(texts["en"]):
        raise KnowledgeEditError("en_has_chinese")
    return PassageDraft(pid, title_zh, title_en, texts["zh"], texts["en"])


def render_passage(draft: PassageDraft) -> list[str]:
    """A passage's lines in the file format (no trailing blank line)."""
    lines = [f"## {draft.title_zh} / {draft.title_en} {{#{draft.id}}}"]
    for marker, text in (("zh", draft.text_zh), ("en", draft.text_en)):
        if text is not None:
            lines += ["", f"<!-- {marker} -->", text]
    return lines


def render_topic(topic: TopicDraft, first: PassageDraft) -> str:
    """A new topic file: front matter and its first passage."""
    head = ["---", f"topic: {topic.topic}", f"title_zh: {topic.title_zh}"]
    head += [f"title_en: {topic.title_en}", "---", ""]
    return "\n".join(head + render_passage(first)) + "\n"


# --- reading --------------------------------------------------------------------------------


def _decode(data: bytes, path: Path) -> str:
    """The file's text as the parser reads it (same refusals as ``read_knowledge_file``)."""
    if len(data) > MAX_FILE_BYTES or b"\x00" in data:
        raise KnowledgeEditError("broken_file", f"{path.name}: too large or binary")
    try:
        return clean_text(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise KnowledgeEditError("broken_file", f"{path.name}: not valid UTF-8") from exc


def read_topic(folder: Path | str, topic: str) -> TopicFile:
    """Reads one topic file (a broken one comes back with its parser message).

    Raises:
        KnowledgeEditError: ``not_found`` when there is no such file (or an invalid name).
    """
    path = topic_path(folder, topic)
    try:
        data = path.read_bytes() if path.stat().st_size <= MAX_FILE_BYTES else b""
    except OSError as exc:
        raise KnowledgeEditError("not_found", topic) from exc
    try:
        passages = tuple(parse_knowledge_text(read_knowledge_file(path), Path(path.name)))
    except KnowledgeError as exc:
        return TopicFile(topic, path, digest(data), (), str(exc))
    return TopicFile(topic, path, digest(data), passages, None)


def read_topics(folder: Path | str) -> list[TopicFile]:
    """Every topic file of the folder, by name (broken files included, with their message)."""
    root = Path(folder)
    if not root.is_dir():
        return []
    topics = []
    for path in knowledge_files(root):
        if path.is_symlink() or not NAME.fullmatch(path.stem):
            continue
        with contextlib.suppress(KnowledgeEditError):
            topics.append(read_topic(root, path.stem))
    return topics


def _other_ids(folder: Path, skip: Path | None) -> set[str]:
    """Passage ids of every other readable topic file."""
    ids: set[str] = set()
    for path in knowledge_files(folder):
        if skip is not None and path.resolve() == skip:
            continue
        with contextlib.suppress(KnowledgeError):
            ids.update(p.id for p in parse_knowledge_text(read_knowledge_file(path), path))
    return ids


# --- writing --------------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive ``flock`` on the folder (one writer at a time, across processes)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _write_atomic(path: Path, text: str) -> str:
    """Writes ``text`` to ``path`` through a temporary file and ``os.replace``; its digest."""
    data = text.encode("utf-8")
    if len(data) > MAX_FILE_BYTES:
        raise KnowledgeEditError("file_too_large", str(MAX_FILE_BYTES))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".kb-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _sync_dir(path.parent)
    return digest(data)


def _sync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _current_bytes(path: Path, expected: str) -> bytes:
    """The file's bytes, if they still have the digest the form was loaded with."""
    try:
        data = path.read_bytes() if path.stat().st_size <= MAX_FILE_BYTES else None
    except OSError as exc:
        raise KnowledgeEditError("not_found", path.stem) from exc
    if data is None or digest(data) != expected:
        raise KnowledgeEditError("stale", path.name)
    return data


def _current(path: Path, expected: str) -> list[str]:
    """The file's lines, if it still has the digest the form was loaded with."""
    return _decode(_current_bytes(path, expected), path).split("\n")


def _validate(text: str, path: Path, want: list[str], changed: PassageDraft | None) -> None:
    """Parses the new file text and checks it reads back as intended.

    Args:
        text: The whole new file.
        path: The target file.
        want: The passage ids the file must have, in order.
        changed: The passage that was written, compared field by field.
    """
    try:
        passages = parse_knowledge_text(text, Path(path.name))
    except KnowledgeError as exc:
        raise KnowledgeEditError("format", str(exc)) from exc
    if [p.id for p in passages] != want:
        raise KnowledgeEditError("format", "a text line reads as a '## ' heading")
    if changed is not None:
        got = next(p for p in passages if p.id == changed.id)
        back = PassageDraft(got.id, got.title_zh, got.title_en, got.text_zh, got.text_en)
        if back != changed:
            raise KnowledgeEditError("format", "a text line reads as a '<!-- zh/en -->' marker")


def _heading_lines(lines: list[str]) -> list[tuple[int, str]]:
    """(line index, passage id) of every passage heading after the front matter."""
    closing = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), 0)
    heads = []
    for index in range(closing + 1, len(lines)):
        match = HEADING.match(lines[index]) if lines[index].startswith("## ") else None
        if match is not None:
            heads.append((index, match["id"]))
    return heads


def _splice(lines: list[str], passage_id: str, block: list[str] | None) -> tuple[str, list[str]]:
    """Replaces (or with ``block=None`` removes) one passage; the new text and its ids."""
    heads = _heading_lines(lines)
    ids = [pid for _, pid in heads]
    if passage_id not in ids:
        raise KnowledgeEditError("not_found", passage_id)
    at = ids.index(passage_id)
    start = heads[at][0]
    end = heads[at + 1][0] if at + 1 < len(heads) else len(lines)
    before, after = lines[:start], lines[end:]
    if block is None:
        ids.pop(at)
        if not after:  # the last passage: drop the blank lines that preceded it
            while before and not before[-1].strip():
                before.pop()
        new = before + after
    else:
        new = before + block + ([""] + after if after else [])
    while new and not new[-1].strip():
        new.pop()
    return "\n".join(new) + "\n", ids


def update_passage(folder: Path | str, topic: str, draft: PassageDraft, expected: str) -> str:
    """Replaces one passage's titles and texts (its id stays).

    Args:
        folder: The knowledge folder.
        topic: The passage's topic file.
        draft: The new fields (the id names the passage).
        expected: The file's digest when the form was loaded.

    Returns:
        The file's new digest.

    Raises:
        KnowledgeEditError: Invalid fields, a stale form, or a result the parser refuses.
    """
    path = topic_path(folder, topic)
    clean = normalize_passage(draft, topic)
    with _locked(path.parent):
        lines = _current(path, expected)
        text, ids = _splice(lines, clean.id, render_passage(clean))
        _validate(text, path, ids, clean)
        new_digest = _write_atomic(path, text)
    logger.info("knowledge: passage %s of %s updated", clean.id, path.name)
    return new_digest


def add_passage(folder: Path | str, topic: str, draft: PassageDraft, expected: str) -> str:
    """Appends a new passage to a topic file; its id must be new in every file.

    Returns:
        The file's new digest.

    Raises:
        KnowledgeEditError: As :func:`update_passage`, or ``id_taken``.
    """
    path = topic_path(folder, topic)
    clean = normalize_passage(draft, topic)
    with _locked(path.parent):
        lines = _current(path, expected)
        ids = [pid for _, pid in _heading_lines(lines)]
        if clean.id in ids or clean.id in _other_ids(path.parent, path.resolve()):
            raise KnowledgeEditError("id_taken", clean.id)
        while lines and not lines[-1].strip():
            lines.pop()
        text = "\n".join(lines + [""] + render_passage(clean)) + "\n"
        _validate(text, path, ids + [clean.id], clean)
        new_digest = _write_atomic(path, text)
    logger.info("knowledge: passage %s added to %s", clean.id, path.name)
    return new_digest


def delete_passage(folder: Path | str, topic: str, passage_id: str, expected: str) -> str:
    """Removes one passage (not the file's last one: delete the topic instead).

    Returns:
        The file's new digest.

    Raises:
        KnowledgeEditError: ``last_passage``, ``not_found``, ``stale``...
    """
    path = topic_path(folder, topic)
    check_name(passage_id, "bad_id", MAX_ID_CHARS)
    with _locked(path.parent):
        lines = _current(path, expected)
        if [pid for _, pid in _heading_lines(lines)] == [passage_id]:
            raise KnowledgeEditError("last_passage", passage_id)
        text, ids = _splice(lines, passage_id, None)
        _validate(text, path, ids, None)
        new_digest = _write_atomic(path, text)
    logger.info("knowledge: passage %s deleted from %s", passage_id, path.name)
    return new_digest


def add_topic(folder: Path | str, topic: TopicDraft, first: PassageDraft) -> str:
    """Creates a topic file with its front matter and first passage.

    Returns:
        The new file's digest.

    Raises:
        KnowledgeEditError: ``topic_exists``, ``too_many_topics``, ``id_taken``, invalid fields.
    """
    path = topic_path(folder, topic.topic)
    title_zh, title_en = _titles(topic.title_zh, topic.title_en)
    clean_topic = replace(topic, title_zh=title_zh, title_en=title_en)
    clean = normalize_passage(first, topic.topic)
    path.parent.mkdir(parents=True, exist_ok=True)  # the first topic of a new folder
    with _locked(path.parent):
        if path.exists() or path.is_symlink():
            raise KnowledgeEditError("topic_exists", path.name)
        if len(knowledge_files(path.parent)) >= MAX_TOPIC_FILES:
            raise KnowledgeEditError("too_many_topics", str(MAX_TOPIC_FILES))
        if clean.id in _other_ids(path.parent, None):
            raise KnowledgeEditError("id_taken", clean.id)
        text = render_topic(clean_topic, clean)
        _validate(text, path, [clean.id], clean)
        new_digest = _write_atomic(path, text)
    logger.info("knowledge: topic file %s created", path.name)
    return new_digest


def delete_topic(folder: Path | str, topic: str, expected: str) -> None:
    """Deletes a topic file (if unchanged since the form was loaded).

    Raises:
        KnowledgeEditError: ``not_found``, ``stale``, ``bad_topic``...
    """
    path = topic_path(folder, topic)
    with _locked(path.parent):
        _current_bytes(path, expected)
        path.unlink()
        _sync_dir(path.parent)
    logger.info("knowledge: topic file %s deleted", path.name)
