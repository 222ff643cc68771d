"""A real ``rasa run`` with the repository's doors (``bot/credentials.yml``) for the door tests.

The trained model, a SQLite tracker store, the real action server (main environment, on a
seeded SQLite shop) so that customers get real answers, Rasa started through ``bot/serve.py``
(its HTTP API behind a JWT, request bodies capped) as in production, and settings that
make the limits observable: a short token grace period and resume window, loopback as a
trusted proxy and a low per-address rate (only requests that carry ``X-Forwarded-For`` reach
it).
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

REPO = Path(__file__).resolve().parents[2]
RASA_PY = REPO / ".venv-rasa" / "bin" / "python"
MAIN_PY = REPO / ".venv" / "bin" / "python"
SEED_CUSTOMERS = 10
START_TIMEOUT_S = 180
SITE_ORIGIN = "http://shop.test:8000"
TOKEN_GRACE_S = 2
#: Unremembered tokens this young are trusted; connected sockets get a new one every 10 s.
TOKEN_RESUME_S = 30
IP_PER_MINUTE = 20


@dataclass(frozen=True)
class DoorServer:
    """A running Rasa server with both doors."""

    url: str
    jwt_secret: str
    identity_secret: str
    demo_secret: str
    log: Path
    pid: int = 0

    def rss_bytes(self) -> int:
        """The resident memory of the Rasa process (``VmRSS`` in ``/proc``)."""
        status = Path(f"/proc/{self.pid}/status").read_text(encoding="ascii")
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError(f"no VmRSS for process {self.pid}")

    def founder_jwt(self, role: str = "admin", exp_in: int = 300, secret: str | None = None) -> str:
        """A bearer token as the console makes it."""
        claims = {"user": {"username": "founder", "role": role}, "exp": int(time.time()) + exp_in}
        return jwt.encode(claims, secret or self.jwt_secret, algorithm="HS256")

    def tracker(self, sender_id: str) -> dict[str, Any]:
        """The sender's tracker through Rasa's HTTP API (with the founder's JWT)."""
        reply = http(f"{self.url}/conversations/{sender_id}/tracker", token=self.founder_jwt())
        assert reply.status == 200, reply.body
        return dict(reply.body)

    def user_events(self, sender_id: str) -> list[dict[str, Any]]:
        """The tracker's user events."""
        return [e for e in self.tracker(sender_id)["events"] if e["event"] == "user"]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def model() -> Path:
    """$MODEL or the newest trained model."""
    if os.environ.get("MODEL"):
        return Path(os.environ["MODEL"])
    models = sorted((REPO / "models").glob("leafbean-*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not models:
        raise RuntimeError("No trained model: run `make train` first.")
    return models[-1]


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: status, decoded JSON (or text) and headers."""

    status: int
    body: Any
    headers: dict[str, str]


def http(
    url: str,
    body: Any = None,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> Reply:
    """A GET (no body) or POST (JSON ``body`` or ``raw`` bytes) request."""
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, headers=all_headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            status, payload, got = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, payload, got = error.code, error.read(), error.headers
    try:
        decoded: Any = json.loads(payload or b"null")
    except ValueError:
        decoded = payload.decode(errors="replace")
    return Reply(status, decoded, {k.lower(): v for k, v in got.items()})


def _wait(process: subprocess.Popen[bytes], log: Path, ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise RuntimeError(log.read_text(errors="replace")[-3000:])
        try:
            if ready():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"not started in {START_TIMEOUT_S} s: {log}")
        time.sleep(0.5)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def _action_server(workdir: Path, env: dict[str, str]) -> Iterator[str]:
    """The real action server (main environment) on a seeded SQLite shop; yields its URL."""
    subprocess.run(
        [str(MAIN_PY), "-m", "analytics", "seed", "--customers", str(SEED_CUSTOMERS)],
        cwd=REPO, env=env, check=True, capture_output=True,
    )  # fmt: skip
    port = free_port()
    log_path = workdir / "actions.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(MAIN_PY), "-m", "actions", "--port", str(port)],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            _wait(process, log_path, lambda: http(f"{url}/health").status == 200)
            yield url
        finally:
            _stop(process)


@contextmanager
def door_server(workdir: Path) -> Iterator[DoorServer]:
    """Starts the action server and ``rasa run`` with ``bot/credentials.yml``; stops both."""
    port = free_port()
    server = DoorServer(
        url=f"http://127.0.0.1:{port}",
        jwt_secret=secrets.token_hex(32),
        identity_secret=secrets.token_hex(16),
        demo_secret=secrets.token_hex(16),
        log=workdir / "rasa.log",
    )
    action_token = secrets.token_hex(16)
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO),
        RASA_TELEMETRY_ENABLED="false",
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
        SHOP_DATABASE_URL=f"sqlite:///{workdir / 'shop.db'}",
        ACTION_SERVER_TOKEN=action_token,
        RASA_JWT_SECRET=server.jwt_secret,
        IDENTITY_SECRET=server.identity_secret,
        DEMO_IDENTITY_SECRET=server.demo_secret,
        CHAT_SESSION_TOKEN_GRACE_S=str(TOKEN_GRACE_S),
        CHAT_SESSION_TOKEN_RESUME_S=str(TOKEN_RESUME_S),
        CHAT_TRUSTED_PROXIES="127.0.0.1",
        CHAT_IP_PER_MINUTE=str(IP_PER_MINUTE),
        SITE_ORIGINS=SITE_ORIGIN,
        UPLOAD_DIR=str(workdir / "uploads"),  # the widget's photos (tests/bot/test_uploads.py)
    )
    for name in ("IDENTITY_ACCEPT_LEGACY_HASH", "RASA_AUTH_TOKEN", "CHAT_MAX_MESSAGE_CHARS"):
        env.pop(name, None)
    with _action_server(workdir, env) as action_url:
        endpoints = workdir / "endpoints.yml"
        endpoints.write_text(
            f"tracker_store:\n  type: SQL\n  dialect: sqlite\n  db: {workdir / 'tracker.db'}\n"
            f"action_endpoint:\n  url: {action_url}/webhook\n  token: {action_token}\n"
            "nlg:\n  type: bot.nlg.ScriptAwareNLG\n",  # as bot/endpoints.yml
            encoding="utf-8",
        )
        with server.log.open("wb") as log:
            process = subprocess.Popen(
                [
                    str(RASA_PY), "-m", "bot.serve", "--model", str(model()), "--enable-api",
                    "--port", str(port),
                    "--credentials", str(REPO / "bot" / "credentials.yml"),
                    "--endpoints", str(endpoints),
                ],
                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
            try:
                status = f"{server.url}/status"
                _wait(
                    process,
                    server.log,
                    lambda: http(status, token=server.founder_jwt()).status == 200,
                )
                yield dataclasses.replace(server, pid=process.pid)
            finally:
                _stop(process)
