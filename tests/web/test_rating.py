"""The widget's rating endpoint (web/rating.py) and its session-token check (web/widget_session.py).

Tokens come from the Rasa door's own code (``bot/channels/widget_session.py``, run in the
Rasa environment by ``tests/web/widget_session_vectors.py``): the committed vectors, and
fresh tokens minted for the HTTP tests. Rasa itself is a local HTTP server that records what
it is asked (:func:`tests.web.servers.fake_rasa`); the store is the real one (SQLite and
PostgreSQL).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from analytics.store.db import make_engine, make_sessionmaker
from analytics.store.models import Conversation
from tests.web.conftest import Console
from tests.web.servers import FakeRasa, fake_rasa
from web import settings as web_settings
from web.rasa_auth import JWT_ALGORITHM
from web.rating import RATING_PER_MINUTE
from web.widget_session import max_age_ms, verify_session_token

REPO = Path(__file__).resolve().parents[2]
VECTORS_FILE = REPO / "tests" / "fixtures" / "widget_session_vectors.json"
VECTORS_SCRIPT = REPO / "tests" / "web" / "widget_session_vectors.py"
RASA_PYTHON = REPO / ".venv-rasa" / "bin" / "python"
JWT_SECRET = "jwt-secret-" + "j" * 24
SESSION_ID = "0123456789abcdef0123456789abcdef"
OTHER_SESSION = "fedcba9876543210fedcba9876543210"
SITE = "https://shop.example.com"
PUBLIC_CLIENT = ("203.0.113.20", 40000)
VECTORS: dict[str, Any] = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))


def _door_python() -> str:
    """The Rasa environment's Python (the door's home), else this one (stdlib-only code)."""
    return str(RASA_PYTHON) if RASA_PYTHON.exists() else sys.executable


def _door(*args: str) -> str:
    result = subprocess.run(
        [_door_python(), str(VECTORS_SCRIPT), *args],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout


def mint(session_id: str, secret: str = JWT_SECRET) -> str:
    """A token the widget channel issues now for ``session_id``."""
    return _door("mint", secret, session_id).strip()


@pytest.fixture()
def no_token_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Token lifetimes at their defaults (a checkout's .env cannot change them)."""
    monkeypatch.setenv("CHAT_SESSION_TOKEN_TTL_S", "")
    monkeypatch.setenv("CHAT_SESSION_TOKEN_RESUME_S", "")
    web_settings.get_settings.cache_clear()


@pytest.mark.parametrize("case", VECTORS["verify"], ids=lambda case: case["name"])
def test_the_web_app_gives_the_doors_verdict(case: dict[str, Any], no_token_settings: None) -> None:
    verdict = verify_session_token(
        VECTORS["secret"], case["session_id"], case["token"], now_ms=case["now_ms"]
    )
    assert verdict is case["valid"]


def test_token_age_defaults_match_the_door(no_token_settings: None) -> None:
    assert max_age_ms() == min(VECTORS["ttl_s"], VECTORS["resume_s"]) * 1000
    issued = VECTORS["issued"]
    assert verify_session_token(
        VECTORS["secret"], issued["session_id"], issued["token"], now_ms=issued["now_ms"]
    )
    assert not verify_session_token(
        VECTORS["secret"], issued["session_id"], issued["token"] + "\n", now_ms=issued["now_ms"]
    )


def test_the_vectors_are_what_the_door_prints_today() -> None:
    assert json.loads(_door()) == VECTORS


@pytest.fixture()
def rasa(console_env: Console, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRasa]:
    """A recording stand-in for Rasa, and the settings of the rating endpoint."""
    with fake_rasa() as fake:
        monkeypatch.setenv("RASA_URL", fake.url)
        monkeypatch.setenv("RASA_JWT_SECRET", JWT_SECRET)
        monkeypatch.setenv("SITE_ORIGINS", f"{SITE}, *")
        monkeypatch.setenv("CHAT_SESSION_TOKEN_TTL_S", "")
        monkeypatch.setenv("CHAT_SESSION_TOKEN_RESUME_S", "")
        web_settings.get_settings.cache_clear()
        yield fake


def _client(**kwargs: Any) -> TestClient:  # noqa: ANN401
    from web.app import create_app

    return TestClient(create_app(), base_url="http://localhost", **kwargs)


def _conversation(console: Console, sender: str) -> Conversation | None:
    engine = make_engine(console.url)
    try:
        with make_sessionmaker(engine)() as db:
            return db.scalar(select(Conversation).where(Conversation.sender_id == sender))
    finally:
        engine.dispose()


def _tracker_calls(rasa: FakeRasa) -> list[Any]:
    return [r for r in rasa.received if r.path.endswith("/tracker")]


def test_a_rating_needs_the_sessions_token_before_anything_is_asked(
    rasa: FakeRasa, console_env: Console
) -> None:
    token = mint(SESSION_ID)
    with _client() as client:
        refused = {
            "no token": {"session_id": SESSION_ID, "rating": 4},
            "made-up token": {"session_id": SESSION_ID, "session_token": "v1.1.x." + "0" * 64,
                              "rating": 4},
            "another session's token": {"session_id": OTHER_SESSION, "session_token": token,
                                        "rating": 4},
            "signed with another key": {"session_id": SESSION_ID,
                                        "session_token": mint(SESSION_ID, "other-secret"),
                                        "rating": 4},
        }  # fmt: skip
        for name, body in refused.items():
            answer = client.post("/widget/rating", json=body)
            assert answer.status_code == 403, name
            assert answer.json()["error"] == "bad_token" and " / " in answer.json()["message"]
        assert rasa.received == []  # random ids never reach Rasa (no tracker is created)
        proven = {"session_id": SESSION_ID, "session_token": token, "rating": 4}
        assert client.post("/widget/rating", json=proven).status_code == 404  # no messages
        rasa.tracker_events = [{"event": "user", "text": "hi"}]
        answer = client.post("/widget/rating", json=proven)
        assert answer.status_code == 200 and answer.json() == {"ok": True, "rating": 4}
        assert len(_tracker_calls(rasa)) == 2
        for call in _tracker_calls(rasa):
            assert call.path == f"/conversations/{SESSION_ID}/tracker" and call.query == ""
            scheme, bearer = call.headers["authorization"].split(" ", 1)
            payload = jwt.decode(bearer, JWT_SECRET, algorithms=[JWT_ALGORITHM])
            assert scheme == "Bearer" and payload["user"]["role"] == "admin"
        # Now the store has the conversation: a changed rating does not ask Rasa again.
        again = client.post("/widget/rating", json={**proven, "rating": 2})
        assert again.status_code == 200 and len(_tracker_calls(rasa)) == 2
    conversation = _conversation(console_env, SESSION_ID)
    assert conversation is not None and conversation.rating == 2
    assert conversation.customer_id is None  # a rating never links a customer


def test_cors_only_for_the_site_origins(rasa: FakeRasa) -> None:
    rasa.tracker_events = [{"event": "user", "text": "hi"}]
    body = {"session_id": SESSION_ID, "session_token": mint(SESSION_ID), "rating": 5}
    preflight = {"Access-Control-Request-Method": "POST"}
    with _client() as client:
        allowed = client.options("/widget/rating", headers={"Origin": SITE, **preflight})
        assert allowed.status_code == 204
        assert allowed.headers["access-control-allow-origin"] == SITE
        assert "origin" in allowed.headers["vary"].lower()
        for origin in ("https://evil.example", "null"):
            denied = client.options("/widget/rating", headers={"Origin": origin, **preflight})
            assert denied.status_code == 403
            assert "access-control-allow-origin" not in denied.headers
            posted = client.post("/widget/rating", json=body, headers={"Origin": origin})
            assert posted.status_code == 403 and posted.json()["error"] == "origin_not_allowed"
            assert "access-control-allow-origin" not in posted.headers
        assert rasa.received == []
        ok = client.post("/widget/rating", json=body, headers={"Origin": SITE})
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == SITE
        own = client.post("/widget/rating", json=body, headers={"Origin": "http://localhost"})
        assert own.status_code == 200  # the demo shop on this app's own origin


def test_ratings_are_rate_limited_per_address(rasa: FakeRasa) -> None:
    body = {"session_id": SESSION_ID, "session_token": "nope", "rating": 3}
    with _client(client=PUBLIC_CLIENT) as client:
        codes = [client.post("/widget/rating", json=body).status_code for _ in range(40)]
        assert codes == [403] * RATING_PER_MINUTE + [429] * (40 - RATING_PER_MINUTE)
        refused = client.post("/widget/rating", json=body)
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.json()["error"] == "rate_limited" and "请求太频繁" in refused.text
    with _client(client=("203.0.113.21", 40000)) as other:
        assert other.post("/widget/rating", json=body).status_code == 403  # its own allowance


def test_bad_bodies_and_a_missing_secret(rasa: FakeRasa, monkeypatch: pytest.MonkeyPatch) -> None:
    with _client() as client:
        huge = {"session_id": SESSION_ID, "session_token": "x" * 5000, "rating": 3}
        assert client.post("/widget/rating", json=huge).status_code == 413
        assert client.post("/widget/rating", content=b"{not json").status_code == 400
        assert client.post("/widget/rating", content=b"\xff\xfe").status_code == 400
        wrong = {"session_id": SESSION_ID, "session_token": mint(SESSION_ID), "rating": 9}
        assert client.post("/widget/rating", json=wrong).status_code == 400
    monkeypatch.setenv("RASA_JWT_SECRET", "")
    web_settings.get_settings.cache_clear()
    body = {"session_id": SESSION_ID, "session_token": mint(SESSION_ID), "rating": 3}
    with _client() as client:
        answer = client.post("/widget/rating", json=body)
        assert answer.status_code == 503 and answer.json()["error"] == "unavailable"
    assert rasa.received == []
