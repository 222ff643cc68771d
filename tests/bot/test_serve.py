"""bot.serve: the JWT secret reaches Rasa from the environment, never from the command line."""

from __future__ import annotations

import pytest

from bot.serve import rasa_arguments, request_max_size


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
