"""``.env.example`` lists every variable, and is generated from the settings.

Every field of :class:`analytics.core.settings.Settings` is in the file with its description;
every other variable of the file is one that only Rasa, the Makefile or the Procfile reads
(:data:`analytics.core.env_example.EXTERNAL`); every variable the code reads is listed; and
the main environment reads variables only through the settings.
"""

from __future__ import annotations

import re
from pathlib import Path

from analytics.core.env_example import EXTERNAL, field_descriptions, main, render
from analytics.core.settings import ENV_NAMES

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("analytics", "actions", "web", "bot")
MAIN_PACKAGES = ("analytics", "actions", "web", "bench")
#: Names that look like settings but are not (request environ keys of the WSGI world).
NOT_SETTINGS = {"HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"}
_READ = re.compile(
    r"(?:env_setting|env_flag|env_int|environ\.get|getenv|_env|_setting)\(\s*\"([A-Z][A-Z0-9_]+)\""
)
_CONSTANT = re.compile(r"^(?:ENV_[A-Z0-9_]+|[A-Z0-9_]+_ENV)\s*=\s*\"([A-Z][A-Z0-9_]+)\"", re.M)
_ASSIGNMENT = re.compile(r"^(#?\s*)([A-Z][A-Z0-9_]+)=", re.M)


def names_read_by_the_code(packages: tuple[str, ...] = PACKAGES) -> set[str]:
    names: set[str] = set()
    for package in packages:
        for path in (REPO / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            names.update(_READ.findall(text))
            names.update(_CONSTANT.findall(text))
    return names - NOT_SETTINGS


def listed_in_env_example() -> set[str]:
    text = (REPO / ".env.example").read_text(encoding="utf-8")
    return {name for _, name in _ASSIGNMENT.findall(text)}


def test_every_setting_is_listed_in_env_example() -> None:
    read = names_read_by_the_code()
    assert {"IDENTITY_SECRET", "RASA_JWT_SECRET", "CHAT_MAX_MESSAGE_CHARS"} <= read
    assert sorted(read - listed_in_env_example()) == []


def test_the_scanner_sees_reads_by_name() -> None:
    # The main environment now reads its settings as fields; the scanner must still catch
    # any read by name that comes back (the forms the code used before the settings object).
    sample = (
        'env_int("CONSOLE_LOGIN_PER_MINUTE", 5)\n'
        'env_setting("DEMO_IDENTITY_SECRET")\n'
        'os.environ.get("CHAT_SESSION_TOKEN_TTL_S")\n'
        'ENV_TOKEN_RESUME = "CHAT_SESSION_TOKEN_RESUME_S"\n'
    )
    found = set(_READ.findall(sample)) | set(_CONSTANT.findall(sample))
    assert found == {
        "CONSOLE_LOGIN_PER_MINUTE",
        "DEMO_IDENTITY_SECRET",
        "CHAT_SESSION_TOKEN_TTL_S",
        "CHAT_SESSION_TOKEN_RESUME_S",
    }


def test_the_main_environment_reads_only_settings_fields() -> None:
    read = names_read_by_the_code(MAIN_PACKAGES)
    assert {"SHOP_DATABASE_URL", "IDENTITY_SECRET"} <= read  # analytics.core.settings' ENV_*
    assert sorted(read - set(ENV_NAMES)) == []


def test_env_example_is_generated_from_the_settings() -> None:
    text = (REPO / ".env.example").read_text(encoding="utf-8")
    assert text == render(), "run: python -m analytics.core.env_example --write"
    assert main(["--check"]) == 0


def documented_variables() -> dict[str, str]:
    """Each variable of ``.env.example`` and the comment right above it, on one line."""
    documented: dict[str, str] = {}
    comment: list[str] = []
    for line in (REPO / ".env.example").read_text(encoding="utf-8").splitlines():
        assignment = _ASSIGNMENT.match(line)
        if assignment:
            documented[assignment.group(2)] = " ".join(" ".join(comment).split())
            comment = []
        elif line.startswith("# "):
            comment.append(line[2:])
        else:
            comment = []
    return documented


def test_every_field_is_listed_with_its_description() -> None:
    documented = documented_variables()
    for name, description in field_descriptions().items():
        assert description, f"{name} has no description"
        assert name in documented, f"{name} is not in .env.example"
        assert documented[name] == description, f"{name}: not its description"


def test_every_listed_variable_is_a_field_or_read_by_rasa_or_make() -> None:
    listed = listed_in_env_example()
    assert sorted(listed - set(ENV_NAMES) - set(EXTERNAL)) == []
    assert not set(EXTERNAL) & set(ENV_NAMES), "a field is also listed as external"
    assert set(EXTERNAL) <= listed


def test_check_fails_on_an_outdated_file(tmp_path: Path) -> None:
    stale = tmp_path / ".env.example"
    stale.write_text("WEB_PORT=8000\n", encoding="utf-8")
    assert main(["--check"], path=stale) == 1
    assert main(["--write"], path=stale) == 0
    assert stale.read_text(encoding="utf-8") == render()
