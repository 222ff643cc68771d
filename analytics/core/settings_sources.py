"""Where the settings come from: ``.env`` files, a given environment, and their errors.

Also the files under ``var/`` the settings point at: the default store (a SQLite file,
when ``SHOP_DATABASE_URL`` is unset) and the demo shop marker that ``DEMO_MODE=auto`` reads.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path

from dotenv import dotenv_values
from pydantic import ValidationError
from pydantic_settings import BaseSettings, EnvSettingsSource

from analytics.core.setting_types import REPO_ROOT

VAR_DIR_NAME = "var"
DEFAULT_DB_FILE = "shop.db"
SQLITE_PREFIX = "sqlite:///"
DEMO_MARKER_FILE = "demo-shop"
MAX_SHOWN_CHARS = 80


def parse_env_file(path: Path) -> dict[str, str]:
    """Read a ``.env`` file the way the settings do (python-dotenv).

    ``KEY=VALUE`` lines, optional ``export`` prefix, ``#`` comments, quotes. The supervisor
    passes the whole file to the processes (Rasa reads variables the settings do not know).

    Args:
        path: The file to read. A missing file yields an empty dict.

    Returns:
        The variables defined in the file, in file order.
    """
    if not path.is_file():
        return {}
    values = dotenv_values(path, encoding="utf-8")
    return {key: value for key, value in values.items() if value is not None}


class MappingEnvSource(EnvSettingsSource):
    """The environment source of pydantic-settings, reading a given mapping.

    Args:
        settings_cls: The settings class.
        environ: The variables to read instead of ``os.environ``.
    """

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = dict(environ)
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return dict(self._environ)


class InvalidSettingsError(ValueError):
    """Some variables hold values that cannot be read; one line each, naming the variable.

    Attributes:
        problems: ``NAME: what is wrong (got 'value')``; a secret's value is never shown.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid settings (environment or .env):\n  " + "\n  ".join(problems))

    @classmethod
    def from_validation(
        cls, error: ValidationError, secret_names: Collection[str]
    ) -> InvalidSettingsError:
        """The problems of a pydantic validation error.

        Args:
            error: The error of building the settings.
            secret_names: Variables whose values must not be shown.

        Returns:
            The error to raise.
        """
        problems = []
        for item in error.errors(include_url=False):
            name = ".".join(str(part) for part in item["loc"]) or "settings"
            shown = str(item.get("input"))[:MAX_SHOWN_CHARS]
            got = "" if name in secret_names else f" (got {shown!r})"
            problems.append(f"{name}: {item['msg']}{got}")
        return cls(problems)


def default_database_url(root: Path = REPO_ROOT) -> str:
    """Return the default SQLite URL ``sqlite:///<root>/var/shop.db``.

    Args:
        root: The repository root.

    Returns:
        The SQLAlchemy URL of the default SQLite database.
    """
    return f"{SQLITE_PREFIX}{root / VAR_DIR_NAME / DEFAULT_DB_FILE}"


def ensure_sqlite_parent(url: str) -> None:
    """Create the parent folder of a file-based SQLite database if needed.

    Args:
        url: A SQLAlchemy URL; non-SQLite and in-memory URLs are ignored.
    """
    if not url.startswith(SQLITE_PREFIX):
        return
    path = url[len(SQLITE_PREFIX) :].split("?", 1)[0]
    if not path or path == ":memory:":
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)


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
