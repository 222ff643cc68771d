"""The one settings object: types, defaults, sources, errors, secrets, caching."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from analytics.core.settings import (
    ENV_NAMES,
    REPO_ROOT,
    SECRET_NAMES,
    InvalidSettingsError,
    Settings,
    SettingsView,
    default_database_url,
    demo_marker,
    demo_mode,
    get_settings,
    load_settings,
    reveal,
    set_demo_shop,
)

SECRET = "s3cret-value-" + "x" * 24
DB_PASSWORD = "pg-password-42"


def _settings(**values: str) -> Settings:
    """Settings made of ``values`` only (no environment, no ``.env``)."""
    return load_settings(values, env_file=None)


def _env_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / ".env"
    path.write_text(text, encoding="utf-8")
    return path


def test_each_field_reads_the_variable_of_its_name_in_upper_case() -> None:
    assert list(ENV_NAMES) == [name.upper() for name in Settings.model_fields]
    assert {"WEB_PORT", "SHOP_DATABASE_URL", "RABBITMQ_EXCHANGE", "SHARED_DATA_DIR"} <= set(
        ENV_NAMES
    )
    for name, field in Settings.model_fields.items():
        assert field.description, f"{name} has no description"


def test_defaults() -> None:
    settings = _settings()
    assert settings.web_port == 8000 and settings.action_port == 5055
    assert settings.database_url == default_database_url()
    assert settings.rasa_url == "http://localhost:5005" and settings.rasa_public_url is None
    assert settings.site_origins == ("http://localhost:8000", "http://127.0.0.1:8000")
    assert settings.chat_trusted_proxies == ()
    assert settings.chat_rate_exempt_loopback is True
    assert (settings.profile, settings.demo_mode, settings.production) == ("local", "auto", False)
    assert settings.console_secure_cookies == "auto" and settings.console_user == "founder"
    assert settings.retention_days == 30 and settings.pending_confirmation_seconds == 600
    assert settings.action_server_max_body_bytes == 1024 * 1024
    assert reveal(settings.rasa_events_db) == str(REPO_ROOT / "var" / "rasa_events.db")
    assert settings.console_nlu_dir == REPO_ROOT / "nlu_data"
    assert settings.console_rasa_bin == REPO_ROOT / ".venv-rasa" / "bin" / "rasa"
    assert (settings.rabbitmq_user, reveal(settings.rabbitmq_password)) == ("guest", "guest")
    assert all(getattr(settings, name.lower()) is None for name in SECRET_NAMES if "SECRET" in name)
    assert settings.ingest_source == "sql"


def test_values_are_typed() -> None:
    settings = _settings(
        WEB_PORT=" 9000 ",
        CHAT_RATE_EXEMPT_LOOPBACK="no",
        CHAT_TRUSTED_PROXIES="10.1.2.3/8, 127.0.0.1,,::1",
        SITE_ORIGINS="https://Shop.Example.com/, *, not an origin",
        DEMO_MODE="TRUE",
        PROFILE="Production",
        CONSOLE_SECURE_COOKIES="0",
        CONSOLE_NLU_DIR="data/nlu",
        CONSOLE_WORK_DIR="/tmp/console-work",
        RASA_TRACKER_DB=f"postgresql+psycopg://rasa:{DB_PASSWORD}@db:5432/rasa",
        RASA_EVENTS_DB="var/other.db",
        INGEST_SOURCE="RabbitMQ",
    )
    assert settings.web_port == 9000
    assert settings.chat_rate_exempt_loopback is False
    assert settings.chat_trusted_proxies == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("::1/128"),
    )
    assert settings.site_origins == ("https://shop.example.com",)  # * and junk are skipped
    assert (settings.demo_mode, settings.console_secure_cookies) == ("on", "off")
    assert settings.production and settings.ingest_source == "rabbitmq"
    assert settings.console_nlu_dir == REPO_ROOT / "data" / "nlu"  # relative: in the repository
    assert settings.console_work_dir == Path("/tmp/console-work").resolve()
    assert (
        reveal(settings.rasa_tracker_db) == f"postgresql+psycopg://rasa:{DB_PASSWORD}@db:5432/rasa"
    )
    assert reveal(settings.rasa_events_db) == str(REPO_ROOT / "var" / "other.db")


def test_the_environment_wins_over_env_file_and_blank_means_default(tmp_path: Path) -> None:
    env_file = _env_file(
        tmp_path,
        "# the checkout's .env\n"
        "export WEB_PORT=9001\n"
        'CONSOLE_USER="Ann Lee"\n'
        "RASA_URL=http://rasa.internal:5005 # a comment\n"
        "PROFILE=production\n"
        f"IDENTITY_SECRET={SECRET}\n",
    )
    from_file = load_settings({}, env_file)
    assert from_file.web_port == 9001 and from_file.console_user == "Ann Lee"
    assert from_file.rasa_url == "http://rasa.internal:5005" and from_file.production
    assert reveal(from_file.identity_secret) == SECRET
    environ = {"WEB_PORT": "9002", "PROFILE": "", "IDENTITY_SECRET": " "}
    overridden = load_settings(environ, env_file)
    assert overridden.web_port == 9002  # the environment wins
    assert overridden.profile == "local"  # blank: the default, not the file's value
    assert overridden.identity_secret is None
    assert overridden.console_user == "Ann Lee"  # what the environment lacks comes from .env
    assert load_settings({}, tmp_path / "missing").web_port == 8000


def test_the_real_environment_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = _env_file(tmp_path, "WEB_PORT=9001\nACTION_PORT=6001\n")
    monkeypatch.setenv("WEB_PORT", "9003")
    monkeypatch.setenv("ACTION_PORT", "")
    settings = get_settings(env_file=env_file)
    assert (settings.web_port, settings.action_port) == (9003, 5055)


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("WEB_PORT", "eighty", "valid integer"),
        ("WEB_PORT", "70000", "less than or equal to 65535"),
        ("DEMO_MODE", "maybe", "'auto', 'on' or 'off'"),
        ("PROFILE", "prod", "'local' or 'production'"),
        ("CHAT_TRUSTED_PROXIES", "10.0.0.1, proxy.local", "'proxy.local' is not an IP address"),
        ("CHAT_RATE_EXEMPT_LOOPBACK", "sometimes", "valid boolean"),
        ("RETENTION_DAYS", "-1", "greater than or equal to 0"),
        ("PENDING_CONFIRMATION_SECONDS", "0", "greater than or equal to 1"),
        ("ACTION_SERVER_MAX_BODY_BYTES", "100", "greater than or equal to 1024"),
        ("INGEST_SOURCE", "kafka", "'sql' or 'rabbitmq'"),
    ],
)
def test_an_invalid_value_names_its_variable(name: str, value: str, says: str) -> None:
    with pytest.raises(InvalidSettingsError) as caught:
        _settings(**{name: value})
    assert isinstance(caught.value, ValueError)
    [problem] = caught.value.problems
    assert problem.startswith(f"{name}: ") and says in problem, problem
    assert f"{name}: " in str(caught.value)


def test_every_invalid_value_is_reported_at_once() -> None:
    with pytest.raises(InvalidSettingsError) as caught:
        _settings(WEB_PORT="x", ACTION_PORT="y")
    assert [line.split(":")[0] for line in caught.value.problems] == ["ACTION_PORT", "WEB_PORT"]


def test_secrets_never_show() -> None:
    settings = _settings(
        IDENTITY_SECRET=SECRET,
        CONSOLE_PASSWORD=SECRET + "-pw",
        RABBITMQ_PASSWORD=SECRET + "-mq",
        SHOP_DATABASE_URL=f"postgresql+psycopg://shop:{DB_PASSWORD}@db:5432/leafbean",
    )
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert SECRET not in text and DB_PASSWORD not in text
    assert {"IDENTITY_SECRET", "CONSOLE_PASSWORD", "SHOP_DATABASE_URL"} <= SECRET_NAMES
    assert reveal(settings.identity_secret) == SECRET
    assert settings.database_url == f"postgresql+psycopg://shop:{DB_PASSWORD}@db:5432/leafbean"


def test_settings_are_read_only() -> None:
    settings = _settings()
    with pytest.raises(AttributeError):
        settings.web_port = 1  # type: ignore[misc]
    with pytest.raises(AttributeError):
        settings.database_url = "sqlite://"  # type: ignore[misc]
    assert settings.web_port == 8000


def test_one_instance_per_process_rebuilt_when_the_environment_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WEB_PORT", "9004")
    first = get_settings()
    assert get_settings() is first  # cached: .env is not read again
    monkeypatch.setenv("UNRELATED_VARIABLE", "x")
    assert get_settings() is first
    monkeypatch.setenv("WEB_PORT", "9005")
    second = get_settings()
    assert second is not first and second.web_port == 9005
    get_settings.cache_clear()
    third = get_settings()
    assert third is not second and third.web_port == 9005


def test_a_view_is_rebuilt_with_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[int] = []

    def port_view(settings: Settings) -> int:
        built.append(settings.web_port)
        return settings.web_port

    view = SettingsView(port_view)
    monkeypatch.setenv("WEB_PORT", "9006")
    assert view() == 9006 and view() == 9006 and built == [9006]
    monkeypatch.setenv("WEB_PORT", "9007")
    assert view() == 9007 and built == [9006, 9007]
    view.cache_clear()
    assert view() == 9007 and built == [9006, 9007, 9007]


def test_demo_mode(tmp_path: Path) -> None:
    assert not demo_mode(tmp_path, _settings())  # auto, no demo shop
    set_demo_shop(True, tmp_path)
    assert demo_marker(tmp_path).exists()
    assert demo_mode(tmp_path, _settings())  # auto, the demo shop
    assert not demo_mode(tmp_path, _settings(PROFILE="production"))
    assert not demo_mode(tmp_path, _settings(DEMO_MODE="off"))
    set_demo_shop(False, tmp_path)
    assert demo_mode(tmp_path, _settings(DEMO_MODE="on", PROFILE="production"))
    assert not demo_mode(tmp_path, _settings())
