"""Writes the widget session-token vectors from the Rasa door's own code.

Run in the Rasa environment (the code under test on the other side is
``bot/channels/widget_session.py``)::

    PYTHONPATH=. .venv-rasa/bin/python tests/web/widget_session_vectors.py > \\
        tests/fixtures/widget_session_vectors.json

``... widget_session_vectors.py mint <secret> <session id>`` prints one token issued now (the
rating tests post it like the widget would).

Every token is issued and every verdict given by :class:`SessionTokens` itself (a fresh
issuer per case, so it remembers nothing: signature and age decide, as in a process that did
not issue the token, which accepts a token only within the resume window).
``tests/web/test_rating.py`` checks that the web app's verifier (:mod:`web.widget_session`)
agrees with each verdict, and that this script still prints exactly the committed file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.channels.widget_session import (  # noqa: E402  (after the path is set)
    CLOCK_SKEW_MS,
    DEFAULT_TOKEN_RESUME_S,
    DEFAULT_TOKEN_TTL_S,
    SessionTokens,
    session_key,
)

SECRET = "widget-session-test-secret-do-not-use"
OTHER_SECRET = "another-secret-do-not-use"
NOW_S = 1767225600.0
SESSION = "0123456789abcdef0123456789abcdef"
OTHER_SESSION = "fedcba9876543210fedcba9876543210"
SID = "Abc_123-xyz="


def _issuer(secret: str, now_s: float) -> SessionTokens:
    return SessionTokens(session_key({"RASA_JWT_SECRET": secret}), clock=lambda: now_s)


def _issue(secret: str, session: str, sid: str, now_s: float) -> str:
    return _issuer(secret, now_s).issue(session, sid)


def vectors() -> dict[str, Any]:
    """The vectors: issued tokens and verdicts of the door's verifier."""
    token = _issue(SECRET, SESSION, SID, NOW_S)
    ttl_s = DEFAULT_TOKEN_TTL_S
    resume_s = DEFAULT_TOKEN_RESUME_S
    future = _issue(SECRET, SESSION, SID, NOW_S + CLOCK_SKEW_MS / 1000 + 1)
    nearly_future = _issue(SECRET, SESSION, SID, NOW_S + CLOCK_SKEW_MS / 1000 - 1)
    version, issued, sid, mac = token.split(".")
    flipped = mac[:-1] + ("0" if mac[-1] != "0" else "1")
    cases: list[tuple[str, Any, Any, float]] = [
        ("valid, just issued", SESSION, token, NOW_S),
        (
            "valid, one second before the end of the resume window",
            SESSION,
            token,
            NOW_S + resume_s - 1,
        ),
        ("valid, on the last millisecond of the resume window", SESSION, token, NOW_S + resume_s),
        ("older than the resume window", SESSION, token, NOW_S + resume_s + 0.001),
        ("older than its life", SESSION, token, NOW_S + ttl_s + 1),
        ("another session's id", OTHER_SESSION, token, NOW_S),
        ("signed with another secret", SESSION, _issue(OTHER_SECRET, SESSION, SID, NOW_S), NOW_S),
        ("issued beyond the clock skew", SESSION, future, NOW_S),
        ("issued within the clock skew", SESSION, nearly_future, NOW_S),
        ("last digit of the MAC changed", SESSION, f"{version}.{issued}.{sid}.{flipped}", NOW_S),
        ("issue time changed", SESSION, f"{version}.{int(issued) + 1}.{sid}.{mac}", NOW_S),
        ("socket id changed", SESSION, f"{version}.{issued}.other.{mac}", NOW_S),
        ("MAC in capitals", SESSION, f"{version}.{issued}.{sid}.{mac.upper()}", NOW_S),
        ("another version", SESSION, f"v2.{issued}.{sid}.{mac}", NOW_S),
        ("missing part", SESSION, f"{version}.{issued}.{mac}", NOW_S),
        ("too long", SESSION, token + "0" * 200, NOW_S),
        ("empty", SESSION, "", NOW_S),
        ("not a string", SESSION, None, NOW_S),
        ("session id in capitals", SESSION.upper(), token, NOW_S),
        ("session id too short", SESSION[:-1], token, NOW_S),
    ]
    verify = []
    for name, session, candidate, now_s in cases:
        verdict = _issuer(SECRET, now_s).verify(session, candidate)
        verify.append(
            {
                "name": name,
                "session_id": session,
                "token": candidate,
                "now_ms": int(now_s * 1000),
                "valid": verdict,
            }
        )
    return {
        "about": (
            "Widget session-token vectors printed by tests/web/widget_session_vectors.py "
            "from bot/channels/widget_session.py (Rasa environment); web/widget_session.py "
            "must agree with every verdict."
        ),
        "secret": SECRET,
        "ttl_s": ttl_s,
        "resume_s": resume_s,
        "issued": {"session_id": SESSION, "sid": SID, "now_ms": int(NOW_S * 1000), "token": token},
        "verify": verify,
    }


def main() -> None:
    """Prints the vectors as JSON, or (``mint <secret> <session id>``) one token issued now."""
    if sys.argv[1:2] == ["mint"]:
        secret, session = sys.argv[2], sys.argv[3]
        print(SessionTokens(session_key({"RASA_JWT_SECRET": secret})).issue(session, "sock1"))
        return
    print(json.dumps(vectors(), indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
