"""The real action server (``python -m actions``) on a free port: token, limits, no CORS.

Each server runs as a subprocess on a copy of the seeded store, with its output in a
file, so the tests also see what it logs.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from actions.server import TokenFilter
from analytics.core.identity import VERIFIED_KEY
from analytics.demo.customers import DEMO_NAMES, DEMO_ZH

REPO = Path(__file__).resolve().parents[2]
MAX_BODY = 64 * 1024
START_TIMEOUT = 30.0


@dataclass
class Server:
    """A running action server."""

    url: str
    port: int
    token: str | None
    log: Path
    process: subprocess.Popen[bytes]

    def webhook(self, token: str | None = None) -> str:
        """The webhook URL with the given (default: the right) token."""
        return f"{self.url}/webhook?token={token if token is not None else self.token}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(db: Path, log: Path, token: str | None, host: str | None = None) -> Server:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "SHOP_DATABASE_URL": f"sqlite:///{db}",
        "ACTION_SERVER_MAX_BODY_BYTES": str(MAX_BODY),
    }
    # empty, not absent: an absent variable would be read from the checkout's .env
    env["ACTION_SERVER_HOST"] = ""
    env["ACTION_SERVER_TOKEN"] = ""
    if token is not None:
        env["ACTION_SERVER_TOKEN"] = token
    if host is not None:
        env["ACTION_SERVER_HOST"] = host
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "actions", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", port, token, log, process)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the action server exited:\n{log.read_text()}")
        try:
            if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError(f"the action server did not start:\n{log.read_text()}")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="module")
def server(seeded_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server that requires a token."""
    folder = tmp_path_factory.mktemp("action-server")
    shutil.copy(seeded_db, folder / "shop.db")
    running = start_server(folder / "shop.db", folder / "server.log", secrets.token_hex(16))
    yield running
    stop_server(running)


def action_call(action: str = "action_greet", customer: str | None = DEMO_ZH) -> dict[str, Any]:
    metadata = {VERIFIED_KEY: customer} if customer else {}
    return {
        "next_action": action,
        "sender_id": "server-test",
        "version": "3.6.21",
        "domain": {},
        "tracker": {
            "sender_id": "server-test",
            "slots": {"language": "zh"},
            "latest_message": {"text": "你好", "intent": {"name": "greet"}, "metadata": metadata},
            "events": [],
            "latest_action_name": "action_listen",
        },
    }


def test_health_is_open_and_actions_need_the_token(server: Server) -> None:
    assert httpx.get(f"{server.url}/health").json() == {"status": "ok"}
    reply = httpx.post(server.webhook(), json=action_call())
    assert reply.status_code == 200
    [said] = reply.json()["responses"]
    assert said["response"] == "utter_greet_known" and said["name"] == DEMO_NAMES[DEMO_ZH]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/webhook"),
        ("POST", "/webhook?token="),
        ("POST", "/webhook?token=wrong"),
        ("POST", "/webhook?token=%C3%A9%00"),
        ("POST", "/webhook?token=%FF%FE"),
        ("POST", "/webhook?token=TOKEN&token=TOKEN"),
        ("GET", "/actions"),
        ("POST", "/health"),
        ("GET", "/nowhere"),
    ],
)
def test_anything_without_the_token_is_refused(server: Server, method: str, path: str) -> None:
    assert server.token is not None
    url = server.url + path.replace("TOKEN", server.token)
    reply = httpx.request(method, url, json=action_call())
    assert reply.status_code == 401
    assert reply.json()["error"] == "unauthorized"


def deflate(data: bytes) -> bytes:
    return zlib.compress(data, 9)


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (b"{not json", {}, 400, "bad_json"),
        (b"", {}, 400, "bad_json"),
        (b'{"next_action": "action_greet", "tracker": {"sender_id": "\xff"}}', {}, 400, "bad_json"),
        (b"[" * 30_000 + b"]" * 30_000, {}, 400, "bad_json"),
        (b"[1, 2]", {}, 400, "bad_action_call"),
        (b'{"next_action": "action_greet"}', {}, 400, "bad_action_call"),
        (b'{"next_action": 7, "tracker": {"sender_id": "x"}}', {}, 400, "bad_action_call"),
        (
            b'{"next_action": "a", "tracker": {"sender_id": "x", "events": 1}}',
            {},
            400,
            "bad_action_call",
        ),
        (b"x" * (MAX_BODY + 1), {}, 413, "too_large"),
        (deflate(b" " * (MAX_BODY * 50)), {"Content-Encoding": "deflate"}, 413, "too_large"),
        (b"not deflate", {"Content-Encoding": "deflate"}, 400, "bad_json"),
        (b"{}", {"Content-Encoding": "br"}, 415, "unsupported_encoding"),
    ],
    ids=[
        "bad-json",
        "empty",
        "bad-utf8",
        "deep-nesting",
        "array",
        "no-tracker",
        "action-not-a-string",
        "events-not-a-list",
        "too-large",
        "deflate-bomb",
        "bad-deflate",
        "unknown-encoding",
    ],
)
def test_hostile_bodies_get_a_clean_error(
    server: Server, body: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    reply = httpx.post(server.webhook(), content=body, headers=headers)
    assert reply.status_code == status
    assert reply.json()["error"] == code
    assert httpx.get(f"{server.url}/health").status_code == 200


def test_a_chunked_body_over_the_limit_is_413(server: Server) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(MAX_BODY // 1024 + 8):
            yield b"x" * 1024

    reply = httpx.post(server.webhook(), content=chunks())
    assert reply.status_code == 413
    assert reply.json()["error"] == "too_large"


def test_a_deflated_action_call_still_works(server: Server) -> None:
    body = deflate(json.dumps(action_call()).encode())
    reply = httpx.post(server.webhook(), content=body, headers={"Content-Encoding": "deflate"})
    assert reply.status_code == 200
    assert reply.json()["responses"][0]["response"] == "utter_greet_known"


def test_an_unknown_action_is_404_without_echoing_the_call(server: Server) -> None:
    reply = httpx.post(server.webhook(), json=action_call("action_nope"))
    assert reply.status_code == 404
    assert "你好" not in reply.text


def test_a_failing_action_is_500_without_echoing_the_call(server: Server) -> None:
    call = action_call("action_identify")
    marker = "private-words-of-the-customer"
    call["tracker"]["latest_message"] = {"text": 12345, "intent": {"name": marker}}
    reply = httpx.post(server.webhook(), json=call)  # a number where Rasa sends text
    assert reply.status_code == 500
    assert reply.json()["error"] == "internal_error"
    assert marker not in reply.text
    assert httpx.get(f"{server.url}/health").status_code == 200


def test_no_cors_headers(server: Server) -> None:
    origin = {"Origin": "https://evil.example"}
    replies = [
        httpx.get(f"{server.url}/health", headers=origin),
        httpx.post(server.webhook(), json=action_call(), headers=origin),
        httpx.options(
            server.webhook(), headers={**origin, "Access-Control-Request-Method": "POST"}
        ),
    ]
    for reply in replies:
        assert not any(h.lower().startswith("access-control-") for h in reply.headers)


def listening_addresses(port: int) -> set[str]:
    """The local addresses with a listening TCP socket on ``port`` (from /proc/net)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        lines = Path(table).read_text().splitlines()[1:] if Path(table).exists() else []
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A = LISTEN
                found.add(address)
    return found


def test_it_listens_on_loopback_only(server: Server) -> None:
    assert listening_addresses(server.port) == {"0100007F"}  # 127.0.0.1


def test_the_token_never_reaches_the_log(server: Server) -> None:
    assert server.token is not None
    httpx.post(server.webhook(), json=action_call())
    httpx.post(server.webhook(), content=b"{oops")
    httpx.post(server.webhook("wrong"), json=action_call())
    time.sleep(0.3)
    log = server.log.read_text(encoding="utf-8", errors="replace")
    assert "Action server on http://127.0.0.1" in log
    assert server.token not in log


def test_without_a_token_setting_no_token_is_needed(seeded_db: Path, tmp_path: Path) -> None:
    shutil.copy(seeded_db, tmp_path / "shop.db")
    running = start_server(tmp_path / "shop.db", tmp_path / "server.log", None)
    try:
        reply = httpx.post(f"{running.url}/webhook", json=action_call(customer=None))
        assert reply.status_code == 200
        assert reply.json()["responses"][0]["response"] == "utter_greet"
    finally:
        stop_server(running)


def test_it_will_not_listen_wider_without_a_token(seeded_db: Path, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="Refusing to listen on 0.0.0.0"):
        start_server(seeded_db, tmp_path / "server.log", None, host="0.0.0.0")


def test_it_listens_wider_with_a_token(seeded_db: Path, tmp_path: Path) -> None:
    shutil.copy(seeded_db, tmp_path / "shop.db")
    running = start_server(tmp_path / "shop.db", tmp_path / "server.log", "t0ken", "0.0.0.0")
    try:
        assert listening_addresses(running.port) == {"00000000"}
        assert httpx.post(f"{running.url}/webhook", json=action_call()).status_code == 401
    finally:
        stop_server(running)


def test_the_log_filter_masks_tokens() -> None:
    record = logging.LogRecord(
        "sanic.access", logging.INFO, "x", 1, "GET %s", ("/w?token=abc&x=1",), None
    )
    record.request = "POST http://h/webhook?token=abc"  # type: ignore[attr-defined]
    assert TokenFilter().filter(record)
    assert record.getMessage() == "GET /w?token=***&x=1"
    assert record.request == "POST http://h/webhook?token=***"  # type: ignore[attr-defined]
