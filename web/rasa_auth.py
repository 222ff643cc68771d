"""How the web app proves itself to Rasa: a short-lived JWT in the ``Authorization`` header.

Rasa runs with ``--jwt-secret $RASA_JWT_SECRET --jwt-method HS256``; its HTTP API and the
widget channel's founder routes accept ``Authorization: Bearer <jwt>`` where the JWT is
HS256 over ``{"user": {"username": "founder", "role": "admin"}, "exp": now + 300}``. The
token never goes into a URL (URLs end up in access logs) and is never logged.
"""

from __future__ import annotations

import time

import jwt

JWT_ALGORITHM = "HS256"
JWT_TTL_S = 300
JWT_USERNAME = "founder"
JWT_ROLE = "admin"
AUTHORIZATION = "Authorization"


def rasa_jwt(secret: str, *, now: float | None = None) -> str:
    """A JWT that Rasa and the widget channel accept for five minutes.

    Args:
        secret: ``RASA_JWT_SECRET``.
        now: The current Unix time (defaults to the clock).

    Returns:
        The encoded token.
    """
    issued = int(time.time() if now is None else now)
    payload = {"user": {"username": JWT_USERNAME, "role": JWT_ROLE}, "exp": issued + JWT_TTL_S}
    return jwt.encode(payload, secret, algorithm=JWT_ALGORITHM)


def rasa_headers(secret: str | None) -> dict[str, str]:
    """The headers of a call to Rasa: a fresh bearer JWT, or none without a secret.

    Args:
        secret: ``RASA_JWT_SECRET``, if set (a Rasa without ``--jwt-secret`` needs none).

    Returns:
        ``{"Authorization": "Bearer <jwt>"}`` or ``{}``.
    """
    if not secret:
        return {}
    return {AUTHORIZATION: f"Bearer {rasa_jwt(secret)}"}
