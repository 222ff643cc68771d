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

It renders the ``--credentials`` file first (``bot/channels/credentials.py``): Rasa refuses to
start on an unset ``${VAR}``, so each channel whose variables are not all set is left out (one
log line each, naming the variables); the others keep their ``${VAR}`` references for Rasa to
substitute, in a private temporary file (0600) removed at exit, whose path Rasa is given.

Usage (the Procfile's ``rasa`` line)::

    .venv-rasa/bin/python -m bot.serve --model models/x.tar.gz --enable-api ...
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
from pathlib import Path

ENV_JWT_SECRET = "RASA_JWT_SECRET"
ENV_REQUEST_MAX_SIZE = "SANIC_REQUEST_MAX_SIZE"
ENV_MAX_BODY_BYTES = "CHAT_MAX_BODY_BYTES"
JWT_METHOD = "HS256"
OPT_CREDENTIALS = "--credentials"
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


def credentials_argument(argv: list[str]) -> tuple[int, str] | None:
    """Where the ``--credentials`` file is named in the arguments.

    Args:
        argv: The arguments given to this wrapper.

    Returns:
        ``(index of the argument holding the path, the path)``, or ``None`` if not given.

    Raises:
        SystemExit: When ``--credentials`` is the last argument (no path).
    """
    for index, arg in enumerate(argv):
        if arg == OPT_CREDENTIALS:
            if index + 1 >= len(argv):
                raise SystemExit(f"{OPT_CREDENTIALS} needs a file")
            return index + 1, argv[index + 1]
        if arg.startswith(OPT_CREDENTIALS + "="):
            return index, arg.split("=", 1)[1]
    return None


def render_credentials_argument(
    argv: list[str], environ: dict[str, str], directory: Path | None = None
) -> tuple[list[str], Path | None]:
    """The arguments with ``--credentials`` pointing at the rendered file.

    Args:
        argv: The arguments given to this wrapper.
        environ: The environment Rasa runs with.
        directory: Where to write the rendered file (default: the temporary directory).

    Returns:
        The new arguments and the rendered file (``None`` when no ``--credentials`` was given:
        Rasa then uses its own default).
    """
    from bot.channels.credentials import write_rendered

    found = credentials_argument(argv)
    if found is None:
        return list(argv), None
    index, path = found
    rendered = write_rendered(Path(path), environ, directory)
    new = list(argv)
    new[index] = str(rendered) if new[index] == path else f"{OPT_CREDENTIALS}={rendered}"
    return new, rendered


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def _log_to_stderr() -> None:
    """Show the credentials log lines before Rasa configures its own logging."""
    channel_logger = logging.getLogger("bot.channels.credentials")
    if not channel_logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s - %(message)s"))
        channel_logger.addHandler(handler)
        channel_logger.setLevel(logging.INFO)
        channel_logger.propagate = False


def main() -> None:
    """Run Rasa's own command line with the completed arguments and the request cap."""
    environ = dict(os.environ)
    args = rasa_arguments(sys.argv[1:], environ)  # refuse a missing JWT secret first
    _log_to_stderr()
    argv, rendered = render_credentials_argument(sys.argv[1:], environ)
    if rendered is not None:
        atexit.register(_remove, rendered)
        args = rasa_arguments(argv, environ)

    from rasa.__main__ import main as rasa_main

    os.environ[ENV_REQUEST_MAX_SIZE] = str(request_max_size(environ))
    sys.argv = ["rasa", *args]
    rasa_main()


if __name__ == "__main__":
    main()
