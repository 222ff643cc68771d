"""Settings of the analytics package, read from the environment and ``.env``.

Real environment variables always win over values from the ``.env`` file at the
repository root. The parser is deliberately tiny: ``KEY=VALUE`` lines, optional
``export`` prefix, ``#`` comments and single or double quotes around the value.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

REPO_ROOT: Path = Path(__file__).resolve().parents[2]
"""The repository root (the folder that holds ``analytics/``)."""

ENV_FILE_NAME = ".env"
VAR_DIR_NAME = "var"
DEFAULT_DB_FILE = "shop.db"

ENV_DATABASE_URL = "SHOP_DATABASE_URL"
ENV_IDENTITY_SECRET = "IDENTITY_SECRET"


def parse_env_file(path: Path) -> dict[str, str]:
    """Parse a ``.env`` file into a dict.

    Args:
        path: The file to read. A missing file yields an empty dict.

    Returns:
        The variables defined in the file, in file order.
    """
    values: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return values
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key.replace("_", "").isalnum():
            logger.warning("Ignoring malformed line %d in %s", lineno, path)
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key] = value
    return values


def default_database_url(root: Path = REPO_ROOT) -> str:
    """Return the default SQLite URL ``sqlite:///<root>/var/shop.db``.

    Args:
        root: The repository root.

    Returns:
        The SQLAlchemy URL of the default SQLite database.
    """
    return f"sqlite:///{root / VAR_DIR_NAME / DEFAULT_DB_FILE}"


def ensure_sqlite_parent(url: str) -> None:
    """Create the parent folder of a file-based SQLite database if needed.

    Args:
        url: A SQLAlchemy URL; non-SQLite and in-memory URLs are ignored.
    """
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return
    path = url[len(prefix) :].split("?", 1)[0]
    if not path or path == ":memory:":
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)


@dataclass(frozen=True)
class Settings:
    """Configuration of the customer-success store.

    Attributes:
        database_url: SQLAlchemy URL of the store (``SHOP_DATABASE_URL``).
        identity_secret: HMAC key for customer identity (``IDENTITY_SECRET``), if set.
        repo_root: The repository root.
    """

    database_url: str
    identity_secret: str | None
    repo_root: Path = REPO_ROOT


def get_settings(
    environ: Mapping[str, str] | None = None, env_file: Path | None = None
) -> Settings:
    """Build the settings from the environment and the ``.env`` file.

    Args:
        environ: The environment to read; defaults to ``os.environ``.
        env_file: The ``.env`` file; defaults to ``<repo root>/.env``.

    Returns:
        The settings. The parent folder of a SQLite database file is created.
    """
    env = dict(os.environ if environ is None else environ)
    file_values = parse_env_file(env_file if env_file is not None else REPO_ROOT / ENV_FILE_NAME)
    merged = {**file_values, **env}
    url = merged.get(ENV_DATABASE_URL) or default_database_url()
    ensure_sqlite_parent(url)
    secret = merged.get(ENV_IDENTITY_SECRET) or None
    return Settings(database_url=url, identity_secret=secret)


def env_setting(name: str, default: str | None = None) -> str | None:
    """One variable: the environment wins over ``.env``, else the default.

    A stop-gap for settings added by the hardening work until one settings object holds
    them all; every variable is listed in ``.env.example``.

    Args:
        name: The variable's name.
        default: The value when it is set nowhere.

    Returns:
        The value, or ``default``.
    """
    if name in os.environ:
        return os.environ[name]
    return parse_env_file(REPO_ROOT / ENV_FILE_NAME).get(name, default)


def env_flag(name: str, default: bool = False) -> bool:
    """A yes/no variable (``1``, ``true``, ``yes``, ``on`` are yes).

    Args:
        name: The variable's name.
        default: The value when it is set nowhere.

    Returns:
        The flag.
    """
    value = env_setting(name)
    if value is None or not value.strip():
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def env_int(name: str, default: int) -> int:
    """A whole-number variable; an unreadable value falls back to the default (logged).

    Args:
        name: The variable's name.
        default: The value when it is unset or unreadable.

    Returns:
        The number.
    """
    value = env_setting(name)
    if value is None or not value.strip():
        return default
    try:
        return int(value)
    except ValueError:
        logger.warning("%s=%r is not a whole number; using %d", name, value, default)
        return default


ENV_PROFILE = "PROFILE"
ENV_DEMO_MODE = "DEMO_MODE"
DEMO_MARKER_FILE = "demo-shop"
PRODUCTION = "production"


def demo_marker(root: Path = REPO_ROOT) -> Path:
    """The file whose presence says the store holds the bundled demo shop.

    ``python -m analytics seed`` writes it; importing a founder's own shop removes it.

    Args:
        root: The repository root.

    Returns:
        ``<root>/var/demo-shop``.
    """
    return root / VAR_DIR_NAME / DEMO_MARKER_FILE


def set_demo_shop(on: bool, root: Path = REPO_ROOT) -> None:
    """Mark (or unmark) the store as holding the bundled demo shop.

    Args:
        on: True after seeding the demo data, False once a founder imports their shop.
        root: The repository root.
    """
    marker = demo_marker(root)
    if on:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("the store holds the bundled demo shop\n", encoding="utf-8")
    else:
        marker.unlink(missing_ok=True)


def demo_mode(root: Path = REPO_ROOT) -> bool:
    """Whether the demo shop page and its identity signing are available.

    ``DEMO_MODE=on|off`` decides when set; otherwise (``auto``) demo mode is on exactly when
    the store holds the bundled demo shop and ``PROFILE`` is not ``production``.

    Args:
        root: The repository root.

    Returns:
        The verdict.
    """
    choice = (env_setting(ENV_DEMO_MODE, "auto") or "auto").strip().lower()
    if choice in ("1", "true", "yes", "on"):
        return True
    if choice in ("0", "false", "no", "off"):
        return False
    if (env_setting(ENV_PROFILE, "") or "").strip().lower() == PRODUCTION:
        return False
    return demo_marker(root).exists()
