"""The founder's FAQ (``knowledge/*.md``) parsed into typed passages.

The format is described in ``knowledge/README.md``: three flat front-matter lines
(``topic``, ``title_zh``, ``title_en``), then one passage per ``## 中文 / English {#id}``
heading, with its language twins in ``<!-- zh -->`` / ``<!-- en -->`` blocks. This module is
the one parser of that format (standard library only); malformed files raise
:class:`KnowledgeError` naming the file and the line.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

MAX_FILE_BYTES = 1_000_000
FRONT_MATTER_KEYS = ("topic", "title_zh", "title_en")
HEADING = re.compile(r"^## (?P<zh>.+?) / (?P<en>.+?) \{#(?P<id>[a-z0-9]+(?:-[a-z0-9]+)*)\}\s*$")
LANG_MARKER = re.compile(r"^<!-- (zh|en) -->$")
_SURROGATES = re.compile(r"[\ud800-\udfff]")
_KEEP_CONTROLS = {"\n", "\t"}


class KnowledgeError(ValueError):
    """A knowledge file that cannot be read or does not follow the format.

    Attributes:
        file: The offending file.
        line: The 1-based line number, or ``None`` for a whole-file problem.
    """

    def __init__(self, file: Path | str, line: int | None, message: str) -> None:
        self.file = Path(file)
        self.line = line
        where = f"{self.file}:{line}" if line is not None else str(self.file)
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True, slots=True)
class Passage:
    """One FAQ answer, with its language twins (either may be missing, not both).

    Attributes:
        id: The stable passage id (``shipping-times``).
        topic: The file's topic (its name without ``.md``).
        file: The file it was read from.
        title_zh: The heading's Chinese half.
        title_en: The heading's English half.
        text_zh: The Chinese text, or ``None`` for an English-only passage.
        text_en: The English text, or ``None`` for a Chinese-only passage.
        topic_title_zh: The file's Chinese title (front matter).
        topic_title_en: The file's English title (front matter).
    """

    id: str
    topic: str
    file: Path
    title_zh: str
    title_en: str
    text_zh: str | None
    text_en: str | None
    topic_title_zh: str
    topic_title_en: str


def clean_text(text: str) -> str:
    """Removes lone surrogates and control characters (keeps newlines and tabs).

    Args:
        text: Any string, possibly hostile.

    Returns:
        The text with Windows and old-Mac line ends turned into newlines, without a byte-order mark,
        lone surrogates or other control/format-breaking characters.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")
    text = _SURROGATES.sub("", text)
    return "".join(
        ch for ch in text if ch in _KEEP_CONTROLS or unicodedata.category(ch) not in ("Cc", "Cs")
    )


def read_knowledge_file(path: Path, max_bytes: int = MAX_FILE_BYTES) -> str:
    """Reads one knowledge file as clean UTF-8 text.

    Args:
        path: The Markdown file.
        max_bytes: Files larger than this are refused.

    Returns:
        The cleaned text.

    Raises:
        KnowledgeError: The file is too large, empty, binary or not UTF-8.
    """
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise KnowledgeError(path, None, f"file too large ({size} bytes, limit {max_bytes})")
        data = path.read_bytes()
    except OSError as exc:
        raise KnowledgeError(path, None, f"cannot read: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:
        raise KnowledgeError(path, None, f"file too large (limit {max_bytes} bytes)")
    if b"\x00" in data:
        raise KnowledgeError(path, None, "binary file (NUL bytes), expected UTF-8 Markdown")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise KnowledgeError(path, line, f"not valid UTF-8 (byte offset {exc.start})") from exc
    return clean_text(text)


def _front_matter(lines: list[str], file: Path) -> tuple[dict[str, str], int]:
    """Parses the front matter; returns it and the index of the first body line."""
    if not lines or not "".join(lines).strip():
        raise KnowledgeError(file, None, "empty file")
    if lines[0].strip() != "---":
        raise KnowledgeError(file, 1, "the file must start with '---' front matter")
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
    if end is None:
        raise KnowledgeError(file, 1, "front matter is not closed by '---'")
    meta: dict[str, str] = {}
    for index in range(1, end):
        line = lines[index]
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        key = key.strip()
        if not sep or key not in FRONT_MATTER_KEYS:
            raise KnowledgeError(
                file, index + 1, f"expected 'topic/title_zh/title_en: value', got {line!r:.80}"
            )
        if key in meta:
            raise KnowledgeError(file, index + 1, f"front matter key {key!r} twice")
        if not value.strip():
            raise KnowledgeError(file, index + 1, f"front matter key {key!r} has no value")
        meta[key] = value.strip()
    missing = [k for k in FRONT_MATTER_KEYS if k not in meta]
    if missing:
        raise KnowledgeError(file, end + 1, f"front matter misses {', '.join(missing)}")
    return meta, end + 1


def parse_knowledge_text(text: str, file: Path | str) -> list[Passage]:
    """Parses one knowledge file's text into passages.

    Args:
        text: The file's text (cleaned here again, so hostile strings are safe).
        file: The file's path; its stem must equal the ``topic`` key.

    Returns:
        The passages in file order.

    Raises:
        KnowledgeError: The text does not follow the format (with file and line).
    """
    path = Path(file)
    lines = clean_text(text).split("\n")
    meta, start = _front_matter(lines, path)
    if meta["topic"] != path.stem:
        raise KnowledgeError(path, 2, f"topic {meta['topic']!r} is not the file name {path.stem!r}")
    heads: list[tuple[int, re.Match[str]]] = []
    blocks: list[dict[str, list[str]]] = []
    lang: str | None = None
    for index in range(start, len(lines)):
        line, number = lines[index], index + 1
        marker = LANG_MARKER.match(line.strip())
        if line.startswith("## "):
            match = HEADING.match(line)
            if match is None:
                raise KnowledgeError(path, number, "heading is not '## 中文 / English {#id}'")
            heads.append((number, match))
            blocks.append({})
            lang = None
        elif line.startswith("# "):
            raise KnowledgeError(path, number, "top-level '# ' heading in a knowledge file")
        elif marker is not None:
            if not heads:
                raise KnowledgeError(path, number, "language block before the first passage")
            lang = marker.group(1)
            if lang in blocks[-1]:
                raise KnowledgeError(path, number, f"second {lang} block in this passage")
            blocks[-1][lang] = []
        elif lang is not None:
            blocks[-1][lang].append(line)
        elif line.strip():
            raise KnowledgeError(path, number, "text outside a <!-- zh --> / <!-- en --> block")
    passages = []
    for (number, match), block in zip(heads, blocks, strict=True):
        texts = {k: "\n".join(v).strip() for k, v in block.items()}
        if not texts:
            raise KnowledgeError(path, number, f"passage {match['id']!r} has no language block")
        for key, value in texts.items():
            if not value:
                raise KnowledgeError(path, number, f"passage {match['id']!r}: empty {key} block")
        passages.append(
            Passage(
                id=match["id"],
                topic=meta["topic"],
                file=path,
                title_zh=match["zh"].strip(),
                title_en=match["en"].strip(),
                text_zh=texts.get("zh"),
                text_en=texts.get("en"),
                topic_title_zh=meta["title_zh"],
                topic_title_en=meta["title_en"],
            )
        )
    if not passages:
        raise KnowledgeError(path, None, "no passages ('## 中文 / English {#id}' headings)")
    return passages


def knowledge_files(folder: Path) -> list[Path]:
    """The topic files of a knowledge folder (``*.md`` except ``README.md``), sorted."""
    return sorted(p for p in Path(folder).glob("*.md") if p.name != "README.md")


def load_knowledge(folder: Path | str, max_bytes: int = MAX_FILE_BYTES) -> list[Passage]:
    """Parses every topic file of a knowledge folder.

    Args:
        folder: The folder (``knowledge/`` in the repository).
        max_bytes: The size limit of one file.

    Returns:
        All passages, file by file in name order.

    Raises:
        KnowledgeError: A file is malformed, or a passage id appears twice.
        FileNotFoundError: The folder does not exist.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"knowledge folder not found: {root}")
    passages: list[Passage] = []
    seen: dict[str, Path] = {}
    for path in knowledge_files(root):
        for passage in parse_knowledge_text(read_knowledge_file(path, max_bytes), path):
            if passage.id in seen:
                raise KnowledgeError(
                    path, None, f"passage id {passage.id!r} also in {seen[passage.id]}"
                )
            seen[passage.id] = path
            passages.append(passage)
    return passages
