"""Teaching the bot: intent corrections into ``nlu_data/``, test conversations, retraining.

Corrections go to ``<nlu_dir>/<lang>/corrections.yml`` (Rasa NLU YAML, ``version: "3.1"``),
where ``<lang>`` is chosen by script like the rest of the data: ``en`` (no Chinese
characters), ``zh`` (no Latin letters) or ``mixed`` (both). The file is rewritten in a
stable order (intents sorted, examples in the order they were added) so that
``git diff nlu_data/`` shows exactly what the founder taught. Examples follow the data's
conventions (``nlu_data/README.md``): order numbers are annotated ``[LB100234](order_id)``,
catalogue product names ``[西湖龙井](product)``, and nothing is added twice
(case-, whitespace- and annotation-insensitive, across the whole folder).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from analytics.core.language import cjk_count, latin_letter_count
from analytics.core.vocabulary import LANG_EN, LANG_MIXED, LANG_ZH, NLU_LANGUAGES
from analytics.store.catalogue import load_catalogue

CORRECTIONS_FILE = "corrections.yml"
LANG_DIRS = NLU_LANGUAGES
"""The NLU data folders: zh, en and mixed (examples in both scripts)."""
ORDER_ID_INTENTS = frozenset({"order_status", "refund_request", "refund_status", "report_problem"})
ANNOTATION_RE = re.compile(r"\[(?P<text>[^\]]+?)\]\((?P<entity>[^:)]+?)(?::(?P<value>[^)]+))?\)")
ORDER_RE = re.compile(r"(?<![A-Za-z0-9])LB\d{6}(?!\d)", re.IGNORECASE)
EXCLUDED_INTENTS = frozenset({"nlu_fallback"})


class TeachError(ValueError):
    """A correction that cannot be written (the message says why)."""


def plain(example: str) -> str:
    """An example without its entity annotations."""
    return ANNOTATION_RE.sub(lambda m: m.group("text"), example)


def normalise(text: str) -> str:
    """The duplicate-detection key: no whitespace, case-folded, no annotations."""
    return re.sub(r"\s+", "", plain(text)).casefold()


def language_dir(text: str) -> str:
    """``zh``, ``en`` or ``mixed`` by the scripts the text uses.

    Chinese characters and Latin letters are counted by :mod:`analytics.core.language`
    (order numbers do not count as Latin): Chinese only is ``zh``, both is ``mixed``, and
    anything else ``en`` (what :func:`analytics.core.language.detect_language` says of it).
    """
    has_cjk = cjk_count(text) > 0
    has_latin = latin_letter_count(ORDER_RE.sub("", text)) > 0
    if has_cjk and has_latin:
        return LANG_MIXED
    return LANG_ZH if has_cjk else LANG_EN


def _yaml() -> YAML:
    return YAML(typ="safe", pure=True)


def domain_intents(domain_dir: Path) -> list[str]:
    """The intents declared in the bot's domain files (without ``nlu_fallback``).

    Cached until a domain file changes.
    """
    paths = sorted(domain_dir.glob("*.yml")) if domain_dir.is_dir() else [domain_dir]
    stamp = tuple((str(p), p.stat().st_mtime_ns) for p in paths if p.exists())
    return list(_domain_intents(stamp))


@lru_cache(maxsize=8)
def _domain_intents(stamp: tuple[tuple[str, int], ...]) -> tuple[str, ...]:
    intents: list[str] = []
    paths = [Path(name) for name, _ in stamp]
    for path in paths:
        try:
            data = _yaml().load(path.read_text(encoding="utf-8")) or {}
        except (OSError, YAMLError):
            continue
        for item in data.get("intents") or []:
            name = item if isinstance(item, str) else next(iter(item), None)
            if name and name not in intents and name not in EXCLUDED_INTENTS:
                intents.append(str(name))
    return tuple(intents)


@lru_cache(maxsize=1)
def catalogue_names() -> tuple[str, ...]:
    """Product names of the catalogue, longest first (so longer names win)."""
    try:
        rows = load_catalogue()
    except OSError:
        return ()
    names = {name for row in rows for name in (row.name_zh, row.name_en) if name}
    return tuple(sorted(names, key=len, reverse=True))


def annotate(text: str, intent: str) -> str:
    """Annotates order numbers and catalogue names the way the training data does.

    Raises:
        TeachError: When the text has an order number but ``intent`` never carries one.
    """
    text = " ".join(text.split())
    if ORDER_RE.search(text):
        if intent not in ORDER_ID_INTENTS:
            raise TeachError(
                f"the message contains an order number, and {intent} examples never do "
                f"(only {', '.join(sorted(ORDER_ID_INTENTS))})"
            )
        text = ORDER_RE.sub(lambda m: f"[{m.group(0).upper()}](order_id)", text)
    spans: list[tuple[int, int, str]] = []
    for name in catalogue_names():
        pattern = re.escape(name) if not name.isascii() else rf"(?<![\w]){re.escape(name)}(?![\w])"
        for m in re.finditer(pattern, text, 0 if not name.isascii() else re.IGNORECASE):
            if any(s < m.end() and m.start() < e for s, e, _ in spans):
                continue
            if text.rfind("[", 0, m.start()) > text.rfind("]", 0, m.start()):
                continue  # inside an annotation already
            spans.append((m.start(), m.end(), name))
    for start, end, name in sorted(spans, reverse=True):
        text = f"{text[:start]}[{name}](product){text[end:]}"
    for ch in "{}":
        text = text.replace(ch, " ")
    return text.strip()


def _examples(block: Any) -> list[str]:
    if not isinstance(block, str):
        return []
    lines = [ln.strip() for ln in block.splitlines() if ln.strip()]
    return [ln[2:].strip() for ln in lines if ln.startswith("- ")]


@dataclass(frozen=True)
class Existing:
    """Where an example already is."""

    path: Path
    intent: str
    example: str


def existing_examples(nlu_dir: Path) -> dict[str, Existing]:
    """Every intent example under ``nlu_dir`` by its duplicate key."""
    found: dict[str, Existing] = {}
    for path in sorted(nlu_dir.rglob("*.yml")):
        try:
            stat = path.stat()
        except OSError:
            continue
        for key, intent, example in _file_examples(str(path), stat.st_mtime_ns, stat.st_size):
            found.setdefault(key, Existing(path, intent, example))
    return found


@lru_cache(maxsize=256)
def _file_examples(path: str, mtime_ns: int, size: int) -> tuple[tuple[str, str, str], ...]:
    """(key, intent, example) of one NLU file; cached until the file changes."""
    try:
        data = _yaml().load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, YAMLError):
        return ()
    out = []
    for item in data.get("nlu") or []:
        if not isinstance(item, dict) or "intent" not in item:
            continue
        for example in _examples(item.get("examples")):
            out.append((normalise(example), str(item["intent"]), example))
    return tuple(out)


def read_corrections(path: Path) -> dict[str, list[str]]:
    """The examples of a corrections file by intent (empty when there is no file)."""
    if not path.exists():
        return {}
    data = _yaml().load(path.read_text(encoding="utf-8")) or {}
    out: dict[str, list[str]] = {}
    for item in data.get("nlu") or []:
        if isinstance(item, dict) and "intent" in item:
            out.setdefault(str(item["intent"]), []).extend(_examples(item.get("examples")))
    return out


def render_corrections(examples: dict[str, list[str]]) -> str:
    """Renders a corrections file (stable order, one ``examples: |`` block per intent)."""
    lines = [
        "# Intent corrections from the founder's console (web/console). Review with git diff.",
        'version: "3.1"',
        "",
        "nlu:",
    ]
    for intent in sorted(examples):
        if not examples[intent]:
            continue
        lines.append(f"- intent: {intent}")
        lines.append("  examples: |")
        lines.extend(f"    - {example}" for example in examples[intent])
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class CorrectionResult:
    """What a correction did.

    Attributes:
        status: ``added``, ``moved`` (from another intent in the corrections file),
            ``present`` (already in the data with this intent: nothing written).
        path: The corrections file (or the file that already had the example).
        example: The example as written (annotated).
        diff: Unified diff of the corrections file (empty when nothing changed).
    """

    status: str
    path: Path
    example: str
    diff: str


def write_correction(nlu_dir: Path, text: str, intent: str) -> CorrectionResult:
    """Adds ``text`` as an example of ``intent`` to the right ``corrections.yml``.

    Args:
        nlu_dir: The NLU data folder.
        text: The customer's message.
        intent: The right intent.

    Returns:
        What was done, with the diff.

    Raises:
        TeachError: When the text is empty, cannot carry this intent, or is already in
            the topic files with another intent (fix that file instead).
    """
    if not text.strip():
        raise TeachError("empty message")
    example = annotate(text, intent)
    if not example:
        raise TeachError("empty message")
    key = normalise(example)
    path = nlu_dir / language_dir(plain(example)) / CORRECTIONS_FILE
    existing = existing_examples(nlu_dir).get(key)
    if existing is not None and existing.intent == intent:
        return CorrectionResult("present", existing.path, existing.example, "")
    if existing is not None and existing.path.name != CORRECTIONS_FILE:
        raise TeachError(
            f"already in {existing.path.relative_to(nlu_dir.parent)} as {existing.intent}; "
            "change it there"
        )
    before = path.read_text(encoding="utf-8") if path.exists() else ""
    corrections = read_corrections(path)
    status = "added"
    for other, items in corrections.items():
        kept = [e for e in items if normalise(e) != key]
        if len(kept) != len(items):
            corrections[other] = kept
            status = "moved"
    corrections.setdefault(intent, []).append(example)
    after = render_corrections(corrections)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".yml.tmp")
    tmp.write_text(after, encoding="utf-8")
    tmp.replace(path)
    name = str(path.relative_to(nlu_dir.parent))
    diff = "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=f"a/{name}",
            tofile=f"b/{name}",
        )
    )
    return CorrectionResult(status, path, example, diff)


def corrections_overview(nlu_dir: Path) -> list[tuple[str, str]]:
    """Every corrections file and its content, for the teach page."""
    out = []
    for lang in LANG_DIRS:
        path = nlu_dir / lang / CORRECTIONS_FILE
        if path.exists():
            out.append((str(path.relative_to(nlu_dir.parent)), path.read_text(encoding="utf-8")))
    return out


def git_diff(repo: Path, target: Path) -> str:
    """``git diff`` of ``target`` (plus untracked corrections files), or "" outside git."""
    import subprocess

    try:
        tracked = subprocess.run(
            ["git", "diff", "--no-color", "--", str(target)],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=20,
        ).stdout
        untracked = subprocess.run(
            ["git", "ls-files", "--others", "--exclude-standard", "--", str(target)],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=20,
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return ""
    parts = [tracked]
    for name in untracked:
        if name.endswith(".yml"):
            body = (repo / name).read_text(encoding="utf-8", errors="replace")
            parts.append(f"new file {name}\n" + "".join(f"+{line}\n" for line in body.splitlines()))
    return "".join(parts)


# --- test conversations ------------------------------------------------------------------


def _slug(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", value).strip("_")[:60] or "conversation"


def write_test_conversation(
    directory: Path,
    conversation_id: int,
    sender_id: str,
    turns: list[dict[str, Any]],
) -> Path:
    """Saves a conversation as a Rasa test story (``rasa test core`` format).

    Args:
        directory: ``tests/conversations`` (or a temporary copy).
        conversation_id: The conversation (names the file).
        sender_id: The Rasa sender id (in the story's name).
        turns: ``{"role", "text", "intent", "action"}`` in order; user turns use the
            founder's corrected intent when there is one. Founder turns are left out.

    Returns:
        The written file.

    Raises:
        TeachError: When the conversation has no user turn with an intent.
    """
    steps: list[str] = []
    last_action: str | None = None
    for turn in turns:
        if turn["role"] == "user":
            intent = turn.get("intent")
            if not intent or intent in EXCLUDED_INTENTS:
                continue
            try:
                text = annotate(turn["text"], intent)
            except TeachError:
                text = " ".join(turn["text"].split())
            steps.append("      - user: |")
            steps.append(f"          {text}")
            steps.append(f"        intent: {intent}")
            last_action = None
        elif turn["role"] == "bot" and turn.get("action"):
            if turn["action"] != last_action:
                steps.append(f"      - action: {turn['action']}")
                last_action = turn["action"]
    if not any(s.startswith("      - user") for s in steps):
        raise TeachError("no user message with an intent to save")
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    body = "\n".join(
        [
            f"# Saved from the founder's console on {stamp} (conversation {conversation_id}).",
            'version: "3.1"',
            "stories:",
            f"  - story: console - conversation {conversation_id} ({_slug(sender_id)})",
            "    steps:",
            *steps,
        ]
    )
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"console_{conversation_id}.yml"
    path.write_text(body + "\n", encoding="utf-8")
    return path
