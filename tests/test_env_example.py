"""Every environment variable the code reads is listed in ``.env.example``."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("analytics", "actions", "web", "bot")
#: Names that look like settings but are not (request environ keys of the WSGI world).
NOT_SETTINGS = {"HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"}
_READ = re.compile(
    r"(?:env_setting|env_flag|env_int|environ\.get|getenv|_env|_setting)\(\s*\"([A-Z][A-Z0-9_]+)\""
)
_CONSTANT = re.compile(r"^(?:ENV_[A-Z0-9_]+|[A-Z0-9_]+_ENV)\s*=\s*\"([A-Z][A-Z0-9_]+)\"", re.M)


def names_read_by_the_code() -> set[str]:
    names: set[str] = set()
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            names.update(_READ.findall(text))
            names.update(_CONSTANT.findall(text))
    return names - NOT_SETTINGS


def listed_in_env_example() -> set[str]:
    text = (REPO / ".env.example").read_text(encoding="utf-8")
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, re.M))


def test_every_setting_is_listed_in_env_example() -> None:
    read = names_read_by_the_code()
    assert {"IDENTITY_SECRET", "RASA_JWT_SECRET", "CHAT_MAX_MESSAGE_CHARS"} <= read
    assert sorted(read - listed_in_env_example()) == []
