"""Checks run before ``make run`` starts anything: secrets, file modes, production creds.

* Every secret the processes need is set (``make env`` writes random ones into ``.env``).
* ``var/`` (SQLite stores, the demo marker, results) is readable by its owner only: the
  folder becomes 0700 and every file in it 0600. The supervisor also starts the processes
  with ``umask 077`` so files they create later are private too.
* Whenever RabbitMQ is used (``RASA_ENDPOINTS=bot/endpoints.prod.yml`` or
  ``INGEST_SOURCE=rabbitmq``) it refuses ``guest``/``guest``.
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
from collections.abc import Callable
from pathlib import Path

from analytics.core.settings import (
    ENV_PROFILE,
    PRODUCTION,
    REPO_ROOT,
    VAR_DIR_NAME,
    demo_mode,
    env_setting,
)

#: Secrets every process set needs (``make env`` writes them).
REQUIRED_SECRETS = (
    "IDENTITY_SECRET",
    "SESSION_SECRET",
    "CONSOLE_PASSWORD",
    "RASA_JWT_SECRET",
    "ACTION_SERVER_TOKEN",
)
MIN_SECRET_CHARS = 32
MIN_PASSWORD_CHARS = 12
DEFAULT_RABBITMQ_USER = "guest"
WEAK_PASSWORDS = frozenset({"guest", "admin", "password", "founder", "changeme", "123456"})


def problems(
    root: Path = REPO_ROOT, setting: Callable[[str], str | None] = env_setting
) -> list[str]:
    """Everything that should stop ``make run``, one sentence each.

    Args:
        root: The repository root.
        setting: Reads one variable (the environment over ``.env``).

    Returns:
        The problems; empty when the product may start.
    """
    found: list[str] = [
        f"{name} is not set: run `make env` (it writes a random one into .env)"
        for name in REQUIRED_SECRETS
        if not (setting(name) or "").strip()
    ]
    if _uses_rabbitmq(setting):
        found.extend(_rabbitmq_problems(setting, "with the RabbitMQ broker"))
    if (setting(ENV_PROFILE) or "").strip().lower() != PRODUCTION:
        return found
    for name in REQUIRED_SECRETS:
        value = (setting(name) or "").strip()
        if name == "CONSOLE_PASSWORD":
            if len(value) < MIN_PASSWORD_CHARS or value.lower() in WEAK_PASSWORDS:
                found.append(
                    f"CONSOLE_PASSWORD must have at least {MIN_PASSWORD_CHARS} characters "
                    "and not be a default one in production"
                )
        elif value and len(value) < MIN_SECRET_CHARS:
            found.append(f"{name} must have at least {MIN_SECRET_CHARS} characters in production")
    found.extend(_rabbitmq_problems(setting, "in production"))
    exempt = (setting("CHAT_RATE_EXEMPT_LOOPBACK") or "true").strip().lower()
    if exempt in ("1", "true", "yes", "on") and not (setting("CHAT_TRUSTED_PROXIES") or "").strip():
        found.append(
            "in production behind a reverse proxy every chat client looks like loopback: set "
            "CHAT_TRUSTED_PROXIES to the proxy's address, or CHAT_RATE_EXEMPT_LOOPBACK=false"
        )
    if demo_mode(root):
        found.append("DEMO_MODE is on: the demo shop page must not run in production")
    return found


def _uses_rabbitmq(setting: Callable[[str], str | None]) -> bool:
    """Whether this start uses RabbitMQ (the production endpoints or the rabbitmq source)."""
    endpoints = (setting("RASA_ENDPOINTS") or "").strip()
    source = (setting("INGEST_SOURCE") or "").strip().lower()
    return endpoints.endswith("endpoints.prod.yml") or source == "rabbitmq"


def _rabbitmq_problems(setting: Callable[[str], str | None], where: str) -> list[str]:
    """RabbitMQ's default or weak credentials, as one problem (or none)."""
    user = (setting("RABBITMQ_USER") or DEFAULT_RABBITMQ_USER).strip()
    password = (setting("RABBITMQ_PASSWORD") or "").strip()
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


def main() -> int:
    """Run the checks; print the problems; exit status 1 if any."""
    found = problems()
    changed = protect_var()
    if changed:
        print(f"  Made {changed} path(s) under var/ readable by their owner only.")
    for problem in found:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
