"""Start ``rasa run`` with the JWT secret taken from the environment, not the command line.

``rasa run --jwt-secret VALUE`` would show the secret to anyone on the machine who lists the
processes (``ps``). This wrapper adds ``--jwt-secret`` and ``--jwt-method HS256`` from
``RASA_JWT_SECRET`` to the arguments inside the process, where ``ps`` cannot see them.

It also caps the size of every HTTP request body Rasa's web server (Sanic) reads: Sanic's
default is 100 MB, read into memory before any route (the REST door's 16 KB limit included)
sees the request. ``SANIC_REQUEST_MAX_SIZE`` (read by Sanic itself) is set to
``max(CHAT_MAX_BODY_BYTES, 1 MiB)`` unless it is already set: larger bodies get 413 before
they are read. Nothing the project sends to Rasa is that large (the console's model swap
``PUT /model`` sends a file path, not the model).

Usage (the Procfile's ``rasa`` line)::

    .venv-rasa/bin/python -m bot.serve --model models/x.tar.gz --enable-api ...
"""

from __future__ import annotations

import os
import sys

ENV_JWT_SECRET = "RASA_JWT_SECRET"
ENV_REQUEST_MAX_SIZE = "SANIC_REQUEST_MAX_SIZE"
ENV_MAX_BODY_BYTES = "CHAT_MAX_BODY_BYTES"
JWT_METHOD = "HS256"
#: Smallest cap of an HTTP request body (bytes).
REQUEST_MAX_BYTES = 1024 * 1024


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


def request_max_size(environ: dict[str, str]) -> int:
    """The largest HTTP request body Sanic reads.

    ``SANIC_REQUEST_MAX_SIZE`` if set, else ``max(CHAT_MAX_BODY_BYTES, 1 MiB)``.

    Args:
        environ: The environment.

    Returns:
        A size in bytes.
    """
    explicit = environ.get(ENV_REQUEST_MAX_SIZE, "").strip()
    if explicit.isdigit() and int(explicit) > 0:
        return int(explicit)
    body = environ.get(ENV_MAX_BODY_BYTES, "").strip()
    return max(int(body) if body.isdigit() else 0, REQUEST_MAX_BYTES)


def main() -> None:
    """Run Rasa's own command line with the completed arguments and the request cap."""
    from rasa.__main__ import main as rasa_main

    os.environ[ENV_REQUEST_MAX_SIZE] = str(request_max_size(dict(os.environ)))
    sys.argv = ["rasa", *rasa_arguments(sys.argv[1:], dict(os.environ))]
    rasa_main()


if __name__ == "__main__":
    main()
