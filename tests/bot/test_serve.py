"""bot.serve: the JWT secret reaches Rasa from the environment, never from the command line."""

from __future__ import annotations

import pytest

from bot.serve import rasa_arguments


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
