"""Every call from the web app to Rasa carries a JWT in ``Authorization`` (web/rasa_auth.py,
web/console/takeover.py, web/console/retrain.py), never a token in the URL, never in a log.

A small local HTTP server stands in for Rasa and records what it receives; the JWT is
checked with PyJWT against ``RASA_JWT_SECRET`` exactly as Rasa (``--jwt-secret``,
``--jwt-method HS256``) and the widget channel's founder routes check it.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import jwt
import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import Console, csrf_of
from tests.web.servers import FakeRasa, Received, fake_rasa
from tests.web.test_console_http import add_conversation
from web import settings as web_settings
from web.console.retrain import Job, Retrainer
from web.console.takeover import WIDGET_PREFIX, RasaBridge
from web.rasa_auth import JWT_ALGORITHM, JWT_TTL_S, rasa_headers, rasa_jwt

SECRET = "rasa-jwt-secret-" + "s" * 24
SENDER = "sender/with space"


def _assert_jwt(call: Received, secret: str = SECRET) -> dict[str, object]:
    """The request carried a valid admin JWT in its header and nothing in its URL."""
    assert "token" not in call.query and call.query == "", call.query
    scheme, token = call.headers["authorization"].split(" ", 1)
    assert scheme == "Bearer"
    payload = jwt.decode(token, secret, algorithms=[JWT_ALGORITHM])
    assert payload["user"] == {"username": "founder", "role": "admin"}
    assert abs(int(payload["exp"]) - (time.time() + JWT_TTL_S)) < 10
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, "another secret of at least 32 bytes!", algorithms=[JWT_ALGORITHM])
    return payload


def test_the_jwt_expires_after_five_minutes() -> None:
    token = rasa_jwt(SECRET, now=1_000)
    payload = jwt.decode(token, SECRET, algorithms=[JWT_ALGORITHM], options={"verify_exp": False})
    assert payload["exp"] == 1_000 + 300
    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(token, SECRET, algorithms=[JWT_ALGORITHM])
    assert rasa_headers(None) == {} and rasa_headers("") == {}


@pytest.mark.parametrize("via_widget", [True, False])
def test_take_over_hand_back_and_say_send_a_jwt(tmp_path: Path, via_widget: bool) -> None:
    widget_file = tmp_path / "widget.py"
    if via_widget:
        widget_file.write_text("# the widget channel is installed\n")
    with fake_rasa() as rasa:
        bridge = RasaBridge(rasa.url, SECRET, widget_file=widget_file)
        bridge.pause(SENDER)
        bridge.say(SENDER, "店主在此")
        bridge.resume(SENDER)
    assert len(rasa.received) == 3
    for call in rasa.received:
        _assert_jwt(call)
        assert call.method == "POST"
    quoted = "sender%2Fwith%20space"
    if via_widget:
        assert [c.path for c in rasa.received] == [
            f"{WIDGET_PREFIX}/{quoted}/pause",
            f"{WIDGET_PREFIX}/{quoted}/message",
            f"{WIDGET_PREFIX}/{quoted}/resume",
        ]
        assert rasa.received[1].body == {"text": "店主在此"}
    else:
        assert {c.path for c in rasa.received} == {f"/conversations/{quoted}/tracker/events"}
        assert [c.body[0]["event"] for c in rasa.received] == ["pause", "bot", "resume"]


def test_without_a_secret_no_authorization_is_sent(tmp_path: Path) -> None:
    with fake_rasa() as rasa:
        RasaBridge(rasa.url, None, widget_file=tmp_path / "absent.py").pause(SENDER)
    assert "authorization" not in rasa.received[0].headers and rasa.received[0].query == ""


def _console_takes_over(client: TestClient, console: Console, rasa: FakeRasa) -> None:
    cid = add_conversation(console, [("user", "人工客服", "human_handoff")], sender="jwt-1")
    csrf = csrf_of(client)
    for action in ("takeover", "say", "handback"):
        response = client.post(
            f"/console/conversations/{cid}/{action}",
            data={"csrf_token": csrf, "text": "您好"},
            follow_redirects=False,
        )
        assert response.status_code == 303, (action, response.text[:300])
        assert "err=" not in response.headers["location"], response.headers["location"]
    assert len(rasa.received) == 3


def test_the_console_routes_send_the_jwt_and_log_no_secret(
    client: TestClient,
    console_env: Console,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with fake_rasa() as rasa, caplog.at_level(logging.DEBUG):
        monkeypatch.setenv("RASA_URL", rasa.url)
        monkeypatch.setenv("RASA_JWT_SECRET", SECRET)
        web_settings.get_settings.cache_clear()
        _console_takes_over(client, console_env, rasa)
    tokens = [call.headers["authorization"].split(" ", 1)[1] for call in rasa.received]
    for call in rasa.received:
        _assert_jwt(call)
    logged = caplog.text
    assert SECRET not in logged and not any(token in logged for token in tokens)


def test_the_model_swap_sends_the_jwt(tmp_path: Path) -> None:
    model = tmp_path / "model.tar.gz"
    model.write_bytes(b"model")
    job = Job(id="swap-test")
    with fake_rasa() as rasa:
        assert Retrainer()._swap(job, model, rasa.url, SECRET) is True
    (call,) = rasa.received
    assert call.method == "PUT" and call.path == "/model"
    assert call.body == {"model_file": str(model)}
    _assert_jwt(call)
    assert not any(SECRET in line for line in job.log)
