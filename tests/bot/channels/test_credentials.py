"""bot/channels/credentials.py: only channels whose ``${VAR}``s are set reach Rasa, unrendered."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
import yaml
from rasa.shared.utils.io import read_config_file

from bot.channels.credentials import (
    check_importable,
    render_credentials,
    variables,
    write_rendered,
)

REPO = Path(__file__).resolve().parents[3]
CREDENTIALS = REPO / "bot" / "credentials.yml"
MESSAGING = {
    "telegram": "TelegramInput",
    "slack": "SlackInput",
    "facebook": "FacebookInput",
    "wecom": "WeComInput",
    "wechat": "WeChatInput",
    "feishu": "FeishuInput",
    "dingtalk": "DingTalkInput",
}
ALWAYS = ("bot.channels.rest.RestInput", "bot.channels.widget.WidgetInput")
SAMPLE = """
bot.channels.rest.RestInput:
plain:
  path: /x
needs_two:
  token: ${TOKEN_A}
  nested:
    list: ["prefix-${TOKEN_B}", 3]
needs_one:
  token: ${TOKEN_A}
"""


def test_the_repository_file_lists_every_messaging_channel() -> None:
    channels = yaml.safe_load(CREDENTIALS.read_text(encoding="utf-8"))
    for platform, name in MESSAGING.items():
        path = f"bot.channels.messaging.{platform}.{name}"
        assert path in channels, path
        names = variables(channels[path])
        assert names and all(var.startswith(platform.upper() + "_") for var in names), names
        assert f"docs/channels/{platform}.md" in CREDENTIALS.read_text(encoding="utf-8")
    for name in ALWAYS:
        assert name in channels and not variables(channels[name])


def test_without_variables_only_the_rest_door_and_widget_stay(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.channels.credentials")
    rendered = render_credentials(CREDENTIALS.read_text(encoding="utf-8"), {"TELEGRAM_X": "1"})
    assert rendered.kept == ALWAYS
    assert len(rendered.skipped) == len(MESSAGING)
    skipped_lines = [r.getMessage() for r in caplog.records if "is off" in r.getMessage()]
    assert len(skipped_lines) == len(MESSAGING)  # one line per skipped channel
    assert any("TELEGRAM_ACCESS_TOKEN" in line for line in skipped_lines)


def test_a_channel_stays_only_when_all_its_variables_are_set_and_not_blank(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.channels.credentials")
    environ = {"TOKEN_A": "secret-value-a", "TOKEN_B": "   "}
    rendered = render_credentials(SAMPLE, environ)
    assert rendered.kept == ("bot.channels.rest.RestInput", "plain", "needs_one")
    assert rendered.skipped == {"needs_two": ("TOKEN_B",)}
    assert "secret-value-a" not in rendered.text  # the reference stays, never the value
    assert "${TOKEN_A}" in rendered.text
    assert "secret-value-a" not in caplog.text
    assert yaml.safe_load(rendered.text)["bot.channels.rest.RestInput"] is None


def test_rasa_substitutes_the_kept_references(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    environ = {"TOKEN_A": "value with $dollar", "TOKEN_B": "b"}
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    path = write_rendered(_write(tmp_path, SAMPLE), environ, tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "value with" not in path.read_text(encoding="utf-8")
    read = read_config_file(str(path))
    assert read["needs_one"] == {"token": "value with $dollar"}
    assert read["needs_two"]["nested"]["list"] == ["prefix-b", 3]
    assert read["bot.channels.rest.RestInput"] is None


def test_the_repository_file_renders_for_rasa_without_any_channel_variable(
    tmp_path: Path,
) -> None:
    path = write_rendered(CREDENTIALS, {}, tmp_path)
    assert list(read_config_file(str(path))) == list(ALWAYS)


@pytest.mark.parametrize(
    "text",
    ["a: [unclosed", "key: value\n  bad indent: here\n", "- a list\n- of channels\n", "\t:"],
)
def test_malformed_yaml_stops_with_a_clear_message(text: str, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as stopped:
        write_rendered(_write(tmp_path, text), {}, tmp_path)
    assert "credentials.yml" in str(stopped.value)
    assert not list(tmp_path.glob("credentials-*"))  # nothing written


def test_an_unreadable_file_stops_clearly(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="cannot read"):
        write_rendered(tmp_path / "missing.yml", {}, tmp_path)
    binary = tmp_path / "binary.yml"
    binary.write_bytes(b"\xff\xfe\x00junk")
    with pytest.raises(SystemExit):
        write_rendered(binary, {}, tmp_path)


def test_a_kept_channel_whose_class_cannot_be_imported_fails_clearly(tmp_path: Path) -> None:
    text = "bot.channels.messaging.nowhere.NowhereInput:\n  token: ${TOKEN_A}\n"
    with pytest.raises(SystemExit, match="nowhere.NowhereInput.*cannot be imported"):
        write_rendered(_write(tmp_path, text), {"TOKEN_A": "x"}, tmp_path)
    with pytest.raises(SystemExit, match="has no class NoSuchInput"):
        check_importable(("bot.channels.rest.NoSuchInput",))
    check_importable(("rest", *ALWAYS))  # built-in names and real classes pass
    # Skipped (variables unset): never imported, so a missing module does not matter.
    write_rendered(_write(tmp_path, text), {}, tmp_path)


def _write(directory: Path, text: str) -> Path:
    path = directory / "credentials.yml"
    path.write_text(text, encoding="utf-8")
    return path
