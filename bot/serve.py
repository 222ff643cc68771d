"""Start ``rasa run`` with the JWT secret taken from the environment, not the command line.

``rasa run --jwt-secret VALUE`` would show the secret to anyone on the machine who lists the
processes (``ps``). This wrapper adds ``--jwt-secret`` and ``--jwt-method HS256`` from
``RASA_JWT_SECRET`` to the arguments inside the process, where ``ps`` cannot see them.

Usage (the Procfile's ``rasa`` line)::

    .venv-rasa/bin/python -m bot.serve --model models/x.tar.gz --enable-api ...
"""

from __future__ import annotations

import os
import sys

ENV_JWT_SECRET = "RASA_JWT_SECRET"
JWT_METHOD = "HS256"


def rasa_arguments(argv: list[str], environ: dict[str, str]) -> list[str]:
    """The ``rasa run`` arguments with the JWT options added.

    Args:
        argv: The arguments given to this wrapper (after the program name).
        environ: The environment.

    Returns:
        ``["run", *argv, "--jwt-secret", secret, "--jwt-method", "HS256"]``.

    Raises:
        SystemExit: Without ``RASA_JWT_SECRET`` (the HTTP API would be open), or when the
            secret is also given on the command line.
    """
    secret = environ.get(ENV_JWT_SECRET, "").strip()
    if not secret:
        raise SystemExit(f"{ENV_JWT_SECRET} is not set: run `make env` (Rasa's API needs it)")
    if "--jwt-secret" in argv or "--auth-token" in argv:
        raise SystemExit("give the JWT secret in RASA_JWT_SECRET only, never as an argument")
    return ["run", *argv, "--jwt-secret", secret, "--jwt-method", JWT_METHOD]


def main() -> None:
    """Run Rasa's own command line with the completed arguments."""
    from rasa.__main__ import main as rasa_main

    sys.argv = ["rasa", *rasa_arguments(sys.argv[1:], dict(os.environ))]
    rasa_main()


if __name__ == "__main__":
    main()
