"""Preflight: missing secrets, production credentials and private var/ files."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from analytics.core.preflight import REQUIRED_SECRETS, main, problems, protect_var
from analytics.core.settings import Settings, load_settings

STRONG = "x" * 40


def _settings(**values: str) -> Settings:
    """Settings made of ``values`` only (no environment, no ``.env``)."""
    return load_settings(values, env_file=None)


def _all_secrets(**extra: str) -> dict[str, str]:
    return {**{name: STRONG for name in REQUIRED_SECRETS}, **extra}


def test_every_missing_secret_is_named(tmp_path: Path) -> None:
    found = problems(tmp_path, _settings(IDENTITY_SECRET=STRONG))
    assert len(found) == len(REQUIRED_SECRETS) - 1
    assert any("RASA_JWT_SECRET" in line and "make env" in line for line in found)


def test_local_profile_with_secrets_starts(tmp_path: Path) -> None:
    assert problems(tmp_path, _settings(**_all_secrets())) == []


def test_production_refuses_guest_rabbitmq_and_weak_console_password(tmp_path: Path) -> None:
    found = problems(
        tmp_path, _settings(**_all_secrets(PROFILE="production", CONSOLE_PASSWORD="founder"))
    )
    assert any("RabbitMQ" in line for line in found)
    assert any("CONSOLE_PASSWORD" in line for line in found)
    good = _all_secrets(
        PROFILE="production",
        RABBITMQ_USER="leafbean",
        RABBITMQ_PASSWORD=STRONG,
        CHAT_TRUSTED_PROXIES="127.0.0.1",
    )
    assert problems(tmp_path, _settings(**good)) == []


def test_production_refuses_the_loopback_exemption_without_trusted_proxies(
    tmp_path: Path,
) -> None:
    values = _all_secrets(PROFILE="production", RABBITMQ_USER="u", RABBITMQ_PASSWORD=STRONG)
    assert any("CHAT_TRUSTED_PROXIES" in line for line in problems(tmp_path, _settings(**values)))
    values["CHAT_RATE_EXEMPT_LOOPBACK"] = "false"
    assert problems(tmp_path, _settings(**values)) == []


def test_guest_rabbitmq_is_refused_whenever_rabbitmq_is_used(tmp_path: Path) -> None:
    for extra in ({"INGEST_SOURCE": "rabbitmq"}, {"RASA_ENDPOINTS": "bot/endpoints.prod.yml"}):
        found = problems(tmp_path, _settings(**_all_secrets(**extra)))
        assert any("guest/guest" in line for line in found)
        fine = _all_secrets(**extra, RABBITMQ_USER="leafbean", RABBITMQ_PASSWORD=STRONG)
        assert problems(tmp_path, _settings(**fine)) == []


def test_production_refuses_short_secrets_and_forced_demo_mode(tmp_path: Path) -> None:
    values = _all_secrets(
        DEMO_MODE="on",
        PROFILE="production",
        RABBITMQ_USER="leafbean",
        RABBITMQ_PASSWORD=STRONG,
        CHAT_TRUSTED_PROXIES="127.0.0.1",
        SESSION_SECRET="short",
    )
    found = problems(tmp_path, _settings(**values))
    assert any("SESSION_SECRET" in line for line in found)
    assert any("DEMO_MODE" in line for line in found)


def test_protect_var_makes_files_owner_only(tmp_path: Path) -> None:
    var = tmp_path / "var"
    (var / "results").mkdir(parents=True)
    store = var / "shop.db"
    store.write_bytes(b"")
    store.chmod(0o644)
    (var / "results" / "x.json").write_text("{}")
    (var / "results" / "x.json").chmod(0o666)
    assert protect_var(tmp_path) >= 3
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert stat.S_IMODE((var / "results" / "x.json").stat().st_mode) == 0o600
    assert stat.S_IMODE(var.stat().st_mode) == 0o700
    assert protect_var(tmp_path) == 0  # idempotent


def test_an_unreadable_setting_is_a_problem_named_after_its_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WEB_PORT", "eighty")
    assert main(tmp_path) == 1
    assert "error: WEB_PORT: " in capsys.readouterr().err
