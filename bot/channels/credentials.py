"""Render ``bot/credentials.yml`` for the channels whose environment variables are set.

Rasa 3.6 refuses to start when a credentials file names an unset ``${VAR}``. The repository's
``bot/credentials.yml`` lists every messaging channel (Telegram, Slack, WeChat, ...) with its
secrets as ``${VAR}`` references; a shop sets the variables of the channels it uses.
:func:`render_credentials` keeps each channel entry only when every variable it names is set
and not blank, and keeps the ``${VAR}`` text itself: Rasa substitutes the values when it reads
the rendered file, so no secret is ever written to disk. Entries without variables (the REST
door, the widget) are always kept. One log line per skipped channel names the missing
variables (never a value).

``bot/serve.py`` renders the ``--credentials`` file at start (:func:`write_rendered`) into a
private temporary file (mode 0600) and hands that path to Rasa.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

logger = logging.getLogger(__name__)

#: A ``${VAR}`` reference in a credentials value (what Rasa substitutes).
VAR_RE = re.compile(r"\$\{([^}]*)\}")
RENDERED_PREFIX = "credentials-"
RENDERED_SUFFIX = ".yml"
SKIP_MESSAGE = "Channel %s is off: environment variable(s) not set: %s"


@dataclass(frozen=True)
class Rendered:
    """The rendered credentials: what Rasa reads, and which channels were left out."""

    text: str
    kept: tuple[str, ...]
    skipped: dict[str, tuple[str, ...]]


def _strings(value: Any) -> Iterator[str]:  # noqa: ANN401 - any YAML value
    """Every string inside a YAML value (mappings' keys and values, lists' items)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def variables(entry: Any) -> tuple[str, ...]:  # noqa: ANN401 - any YAML value
    """The names of the ``${VAR}`` references in one channel entry, in order, once each.

    Args:
        entry: The channel's settings (a mapping, ``None``, anything YAML gives).

    Returns:
        The variable names.
    """
    names: dict[str, None] = {}
    for text in _strings(entry):
        for name in VAR_RE.findall(text):
            names[name] = None
    return tuple(names)


def _is_set(environ: Mapping[str, str], name: str) -> bool:
    return bool(environ.get(name, "").strip())


def load(text: str, source: str = "credentials") -> dict[str, Any]:
    """The channel entries of a credentials file.

    Args:
        text: The file's text.
        source: The file's name (for the error message).

    Returns:
        Channel name (a Rasa channel or a class path) to its settings.

    Raises:
        SystemExit: For malformed YAML or a file that is not a mapping of channels.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SystemExit(f"{source}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(key, str) for key in data):
        raise SystemExit(f"{source}: expected a mapping of channel name -> settings")
    return data


def render_credentials(
    text: str, environ: Mapping[str, str], source: str = "credentials"
) -> Rendered:
    """Keep the channels whose ``${VAR}``s are all set; the references stay as they are.

    Args:
        text: The credentials file's text.
        environ: The environment Rasa will run with.
        source: The file's name (for messages).

    Returns:
        The YAML text of the kept entries, their names and the skipped channels with the
        names of their missing variables.

    Raises:
        SystemExit: For malformed YAML.
    """
    channels = load(text, source)
    kept: dict[str, Any] = {}
    skipped: dict[str, tuple[str, ...]] = {}
    for name, entry in channels.items():
        missing = tuple(var for var in variables(entry) if not _is_set(environ, var))
        if missing:
            skipped[name] = missing
            logger.info(SKIP_MESSAGE, name, ", ".join(missing))
        else:
            kept[name] = entry
    rendered = yaml.safe_dump(kept, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return Rendered(text=rendered, kept=tuple(kept), skipped=skipped)


def check_importable(channels: tuple[str, ...]) -> None:
    """Fail clearly when a kept channel's class cannot be imported.

    Rasa's own message for that case ("Unknown input channel ... misspelled") hides the real
    cause (a missing module, an import error inside it).

    Args:
        channels: The kept channel names; those with a dot are class paths.

    Raises:
        SystemExit: Naming the channel and the import error.
    """
    for name in channels:
        if "." not in name:
            continue  # one of Rasa's built-in channels ("rest", "socketio", ...)
        module_name, _, class_name = name.rpartition(".")
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # noqa: BLE001 - any import failure is reported as such
            raise SystemExit(
                f"channel {name} is configured (its variables are set) but its module "
                f"cannot be imported: {type(exc).__name__}: {exc}"
            ) from None
        if not isinstance(getattr(module, class_name, None), type):
            raise SystemExit(
                f"channel {name} is configured (its variables are set) but {module_name} "
                f"has no class {class_name}"
            )


def write_rendered(source: Path, environ: Mapping[str, str], directory: Path | None = None) -> Path:
    """Render ``source`` into a new private file (mode 0600) and return its path.

    Args:
        source: The credentials file (``bot/credentials.yml``).
        environ: The environment Rasa will run with.
        directory: Where to write (default: the system's temporary directory).

    Returns:
        The rendered file's path; the caller removes it at exit.

    Raises:
        SystemExit: For an unreadable or malformed file, or a kept channel whose class cannot
            be imported.
    """
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SystemExit(f"cannot read the credentials file {source}: {exc}") from None
    rendered = render_credentials(text, environ, str(source))
    check_importable(rendered.kept)
    handle, name = tempfile.mkstemp(
        prefix=RENDERED_PREFIX, suffix=RENDERED_SUFFIX, dir=str(directory) if directory else None
    )
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(rendered.text)
    os.chmod(name, 0o600)
    logger.info("Channels on: %s", ", ".join(rendered.kept) or "none")
    return Path(name)
