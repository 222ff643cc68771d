"""bot.serve: the JWT secret reaches Rasa from the environment, never from the command line."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bot.serve import (
    credentials_argument,
    rasa_arguments,
    render_credentials_argument,
    request_max_size,
)


def test_the_secret_is_added_inside_the_process() -> None:
    args = rasa_arguments(["--model", "m.tar.gz"], {"RASA_JWT_SECRET": "s3cret"})
    assert args == ["run", "--model", "m.tar.gz", "--jwt-secret", "s3cret", "--jwt-method", "HS256"]


@pytest.mark.parametrize(
    ("argv", "environ"),
    [
        (["--model", "m"], {}),
        (["--model", "m"], {"RASA_JWT_SECRET": "  "}),
        (["--jwt-secret", "visible"], {"RASA_JWT_SECRET": "s"}),
        (["--auth-token", "visible"], {"RASA_JWT_SECRET": "s"}),
    ],
)
def test_missing_or_visible_secrets_are_refused(argv: list[str], environ: dict[str, str]) -> None:
    with pytest.raises(SystemExit):
        rasa_arguments(argv, environ)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, 1024 * 1024),
        ({"CHAT_MAX_BODY_BYTES": "16384"}, 1024 * 1024),
        ({"CHAT_MAX_BODY_BYTES": "4000000"}, 4_000_000),
        ({"CHAT_MAX_BODY_BYTES": "lots"}, 1024 * 1024),
        ({"SANIC_REQUEST_MAX_SIZE": "5000000"}, 5_000_000),
        ({"SANIC_REQUEST_MAX_SIZE": "0"}, 1024 * 1024),
    ],
)
def test_request_bodies_are_capped_near_the_door_limit(
    environ: dict[str, str], expected: int
) -> None:
    assert request_max_size(environ) == expected


# --- the credentials file is rendered before Rasa reads it (bot/channels/credentials.py) ---

REPO = Path(__file__).resolve().parents[2]
ONE_CHANNEL = "bot.channels.rest.RestInput:\nneeds:\n  token: ${SERVE_TEST_TOKEN}\n"


@pytest.mark.parametrize("joined", [False, True])
def test_the_credentials_argument_points_at_a_private_rendered_file(
    tmp_path: Path, joined: bool
) -> None:
    source = tmp_path / "credentials.yml"
    source.write_text(ONE_CHANNEL, encoding="utf-8")
    argv = [
        "--model",
        "m",
        *([f"--credentials={source}"] if joined else ["--credentials", str(source)]),
    ]
    new, rendered = render_credentials_argument(argv, {"SERVE_TEST_TOKEN": "v"}, tmp_path)
    assert rendered is not None and rendered != source
    assert str(rendered) in new[-1] and str(source) not in " ".join(new)
    assert stat.S_IMODE(rendered.stat().st_mode) == 0o600
    assert "${SERVE_TEST_TOKEN}" in rendered.read_text(encoding="utf-8")
    new, rendered = render_credentials_argument(argv, {}, tmp_path)
    assert rendered is not None and "needs" not in rendered.read_text(encoding="utf-8")


def test_without_a_credentials_argument_nothing_is_rendered(tmp_path: Path) -> None:
    assert render_credentials_argument(["--model", "m"], {}, tmp_path) == (["--model", "m"], None)
    with pytest.raises(SystemExit):
        credentials_argument(["--model", "m", "--credentials"])


def _serve(tmp_path: Path, credentials: str, **env: str) -> subprocess.CompletedProcess[str]:
    source = tmp_path / "credentials.yml"
    source.write_text(credentials, encoding="utf-8")
    environ = {"PATH": os.environ.get("PATH", ""), "RASA_JWT_SECRET": "j" * 32, **env}
    return subprocess.run(
        [sys.executable, "-m", "bot.serve", "--credentials", str(source), "--port", "1"],
        cwd=REPO, env=environ, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_malformed_credentials_stop_the_server_with_a_clear_message(tmp_path: Path) -> None:
    done = _serve(tmp_path, "bot.channels.rest.RestInput: [unclosed\n")
    assert done.returncode != 0
    assert "credentials.yml: not valid YAML" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_kept_channel_that_cannot_be_imported_stops_the_server(tmp_path: Path) -> None:
    text = "bot.channels.messaging.nowhere.NowhereInput:\n  token: ${SERVE_TEST_TOKEN}\n"
    done = _serve(tmp_path, text, SERVE_TEST_TOKEN="secret-value")
    assert done.returncode != 0
    assert "NowhereInput is configured" in done.stderr and "cannot be imported" in done.stderr
    assert "secret-value" not in done.stderr
