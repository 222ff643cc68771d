"""Checks run before ``make run`` starts anything: secrets, file modes, production creds.

* Every secret the processes need is set (``make env`` writes random ones into ``.env``).
* ``var/`` (SQLite stores, the demo marker, results) is readable by its owner only: the
  folder becomes 0700 and every file in it 0600. The supervisor also starts the processes
  with ``umask 077`` so files they create later are private too.
* Whenever RabbitMQ is used (``RASA_ENDPOINTS=bot/endpoints.prod.yml`` or
  ``INGEST_SOURCE=rabbitmq``) it refuses ``guest``/``guest``.
* Every setting can be read (a bad value is named: ``WEB_PORT: Input should be a valid
  integer``).
* With ``PROFILE=production`` it also refuses a short console password, secrets shorter than
  32 characters, demo mode switched on by hand, and the loopback exemption from the chat
  rate limits without ``CHAT_TRUSTED_PROXIES`` (behind a local reverse proxy every client
  would look like loopback).

Usage: ``python -m analytics.core.preflight`` (exit status 1 with one line per problem).
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from analytics.core.settings import (
    REPO_ROOT,
    VAR_DIR_NAME,
    InvalidSettingsError,
    Settings,
    demo_mode,
    get_settings,
    reveal,
)

CONSOLE_PASSWORD = "CONSOLE_PASSWORD"
#: Secrets every process set needs (``make env`` writes them).
REQUIRED_SECRETS = (
    "IDENTITY_SECRET",
    "SESSION_SECRET",
    CONSOLE_PASSWORD,
    "RASA_JWT_SECRET",
    "ACTION_SERVER_TOKEN",
)
MIN_SECRET_CHARS = 32
MIN_PASSWORD_CHARS = 12
DEFAULT_RABBITMQ_USER = "guest"
PROD_ENDPOINTS_SUFFIX = "endpoints.prod.yml"
RABBITMQ_SOURCE = "rabbitmq"
WEAK_PASSWORDS = frozenset({"guest", "admin", "password", "founder", "changeme", "123456"})


def problems(root: Path = REPO_ROOT, settings: Settings | None = None) -> list[str]:
    """Everything that should stop ``make run``, one sentence each.

    Args:
        root: The repository root.
        settings: The settings; defaults to :func:`analytics.core.settings.get_settings`.

    Returns:
        The problems; empty when the product may start.
    """
    settings = settings if settings is not None else get_settings()
    secrets = {name: _secret(settings, name) for name in REQUIRED_SECRETS}
    found: list[str] = [
        f"{name} is not set: run `make env` (it writes a random one into .env)"
        for name, value in secrets.items()
        if not value
    ]
    if _uses_rabbitmq(settings):
        found.extend(_rabbitmq_problems(settings, "with the RabbitMQ broker"))
    if not settings.production:
        return found
    for name, value in secrets.items():
        if name == CONSOLE_PASSWORD:
            if len(value) < MIN_PASSWORD_CHARS or value.lower() in WEAK_PASSWORDS:
                found.append(
                    f"CONSOLE_PASSWORD must have at least {MIN_PASSWORD_CHARS} characters "
                    "and not be a default one in production"
                )
        elif value and len(value) < MIN_SECRET_CHARS:
            found.append(f"{name} must have at least {MIN_SECRET_CHARS} characters in production")
    found.extend(_rabbitmq_problems(settings, "in production"))
    if settings.chat_rate_exempt_loopback and not settings.chat_trusted_proxies:
        found.append(
            "in production behind a reverse proxy every chat client looks like loopback: set "
            "CHAT_TRUSTED_PROXIES to the proxy's address, or CHAT_RATE_EXEMPT_LOOPBACK=false"
        )
    if demo_mode(root, settings):
        found.append("DEMO_MODE is on: the demo shop page must not run in production")
    return found


def _secret(settings: Settings, name: str) -> str:
    """The text of the secret setting ``name`` ("" when unset)."""
    value = getattr(settings, name.lower())
    return reveal(value) or ""


def _uses_rabbitmq(settings: Settings) -> bool:
    """Whether this start uses RabbitMQ (the production endpoints or the rabbitmq source)."""
    return (
        settings.rasa_endpoints.endswith(PROD_ENDPOINTS_SUFFIX)
        or settings.ingest_source == RABBITMQ_SOURCE
    )


def _rabbitmq_problems(settings: Settings, where: str) -> list[str]:
    """RabbitMQ's default or weak credentials, as one problem (or none)."""
    user = settings.rabbitmq_user
    password = settings.rabbitmq_password.get_secret_value()
    if user == DEFAULT_RABBITMQ_USER or not password or password.lower() in WEAK_PASSWORDS:
        return [
            f"RabbitMQ needs its own user and password {where} "
            "(RABBITMQ_USER / RABBITMQ_PASSWORD; guest/guest is refused)"
        ]
    return []


def protect_var(root: Path = REPO_ROOT) -> int:
    """Make ``var/`` owner-only: the folder and sub-folders 0700, files 0600.

    Args:
        root: The repository root.

    Returns:
        How many modes were changed.
    """
    var = root / VAR_DIR_NAME
    var.mkdir(parents=True, exist_ok=True)
    changed = 0
    for path in [var, *var.rglob("*")]:
        try:
            info = path.lstat()
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(info.st_mode):
            continue
        wanted = 0o700 if stat.S_ISDIR(info.st_mode) else 0o600
        if stat.S_IMODE(info.st_mode) != wanted:
            os.chmod(path, wanted)
            changed += 1
    return changed


def main(root: Path = REPO_ROOT) -> int:
    """Run the checks; print the problems; exit status 1 if any.

    Args:
        root: The repository root.

    Returns:
        The exit status.
    """
    try:
        found = problems(root)
    except InvalidSettingsError as error:
        found = list(error.problems)
    changed = protect_var(root)
    if changed:
        print(f"  Made {changed} path(s) under var/ readable by their owner only.")
    for problem in found:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
