"""Starts the real processes of the product for end-to-end tests.

Each process gets free ports, its own SQLite files in a temporary folder and
its log in that folder, and is stopped (and its log shown on failure) at the end.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt

from analytics.core.identity import identity_metadata

REPO = Path(__file__).resolve().parents[2]
RASA_PYTHON = REPO / ".venv-rasa" / "bin" / "python"
START_TIMEOUT_S = 180.0
#: The response generator of bot/endpoints.yml (Traditional Chinese replies), for every
#: endpoints file written here.
NLG_ENDPOINT = "nlg:\n  type: bot.nlg.ScriptAwareNLG\n"


def free_port() -> int:
    """Returns a TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def model_path() -> Path:
    """The trained model to serve: $MODEL (set by `make test`) or the newest one."""
    if os.environ.get("MODEL"):
        return Path(os.environ["MODEL"])
    models = sorted((REPO / "models").glob("leafbean-*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not models:
        raise RuntimeError("No trained model: run `make train` first.")
    return models[-1]


@dataclass
class Process:
    """A started process and where its output goes."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    url: str

    def stop(self) -> None:
        """Stops the process (SIGTERM, then SIGKILL)."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def tail(self, lines: int = 60) -> str:
        """The end of the process's log."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def start(
    name: str, args: list[str], env: dict[str, str], workdir: Path, health_url: str
) -> Process:
    """Starts a process and waits until ``health_url`` answers 200.

    Raises:
        RuntimeError: If the process exits or does not become healthy in time.
    """
    log = workdir / f"{name}.log"
    handle = log.open("wb")
    popen = subprocess.Popen(args, cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT)
    process = Process(name, popen, log, health_url.rsplit("/", 1)[0])
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise RuntimeError(f"{name} exited with {popen.returncode}:\n{process.tail()}")
        try:
            if httpx.get(health_url, timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.stop()
    raise RuntimeError(f"{name} did not start within {START_TIMEOUT_S} s:\n{process.tail()}")


def seed_store(url: str, customers: int, env: dict[str, str] | None = None) -> None:
    """Seeds a demo shop of ``customers`` customers at ``url`` with the real CLI."""
    run_env = dict(env if env is not None else os.environ)
    run_env.update(SHOP_DATABASE_URL=url, PYTHONPATH=str(REPO))
    subprocess.run(
        [sys.executable, "-m", "analytics", "seed", "--customers", str(customers)],
        cwd=REPO,
        env=run_env,
        check=True,
        capture_output=True,
    )


#: Fixed per test session: Rasa's JWT secret and the action server's token.
JWT_SECRET = "e2e-jwt-" + os.urandom(16).hex()
ACTION_TOKEN = "e2e-action-" + os.urandom(16).hex()


def base_env(database_url: str, secret: str) -> dict[str, str]:
    """The environment of the product's processes for one test stack."""
    env = dict(os.environ)
    env.update(
        SHOP_DATABASE_URL=database_url,
        IDENTITY_SECRET=secret,
        RASA_JWT_SECRET=JWT_SECRET,
        ACTION_SERVER_TOKEN=ACTION_TOKEN,
        DEMO_IDENTITY_SECRET="",
        PYTHONPATH=str(REPO),
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
        TF_CPP_MIN_LOG_LEVEL="2",
        RASA_TELEMETRY_ENABLED="false",
    )
    return env


@contextmanager
def action_server(env: dict[str, str], workdir: Path) -> Iterator[Process]:
    """Runs ``python -m actions`` on a free port."""
    port = free_port()
    process = start(
        "actions",
        [sys.executable, "-m", "actions", "--port", str(port)],
        env,
        workdir,
        f"http://127.0.0.1:{port}/health",
    )
    try:
        yield process
    finally:
        process.stop()


def write_endpoints(workdir: Path, action_url: str) -> Path:
    """Writes an endpoints file with this stack's tracker store and action server."""
    path = workdir / "endpoints.yml"
    path.write_text(
        f"action_endpoint:\n  url: {action_url}/webhook\n  token: {ACTION_TOKEN}\n"
        f"{NLG_ENDPOINT}"
        "tracker_store:\n  type: SQL\n  dialect: sqlite\n"
        f"  db: {workdir / 'tracker.db'}\n"
        "event_broker:\n  type: SQL\n  dialect: sqlite\n"
        f"  db: {workdir / 'events.db'}\n",
        encoding="utf-8",
    )
    return path


@contextmanager
def rasa_server(env: dict[str, str], workdir: Path, action_url: str) -> Iterator[Process]:
    """Runs ``rasa run`` with the trained model and this stack's SQLite stores."""
    with rasa_server_with(env, workdir, write_endpoints(workdir, action_url)) as process:
        yield process


def identity(customer_id: str, secret: str, ttl_seconds: int = 3600) -> dict[str, Any]:
    """The signed metadata a host website sends for a customer (as ``make identity``)."""
    return identity_metadata(customer_id, secret, ttl_seconds=ttl_seconds)


def founder_jwt(seconds: int = 300) -> str:
    """A JWT for Rasa's HTTP API, as the console mints it."""
    payload = {"user": {"username": "founder", "role": "admin"}, "exp": int(time.time()) + seconds}
    return jwt.encode(payload, JWT_SECRET, algorithm="HS256")


def say(
    rasa_url: str, sender: str, text: str, metadata: dict[str, Any] | None = None
) -> list[dict]:
    """Sends one message over REST and returns the bot's replies."""
    response = httpx.post(
        f"{rasa_url}/webhooks/rest/webhook",
        json={"sender": sender, "message": text, "metadata": metadata or {}},
        timeout=60,
    )
    response.raise_for_status()
    return list(response.json())


def texts(replies: list[dict]) -> str:
    """All reply texts joined, for assertions."""
    return "\n".join(r.get("text", "") for r in replies)


def write_production_endpoints(
    workdir: Path, action_url: str, tracker_db: str, redis_db: int, queue: str
) -> Path:
    """Writes an endpoints file for the production path: PostgreSQL, Redis, RabbitMQ.

    Uses the local servers (PostgreSQL on 5432 with trust auth, Redis on 6379,
    RabbitMQ on 5672 as guest).
    """
    path = workdir / "endpoints.prod.yml"
    path.write_text(
        f"action_endpoint:\n  url: {action_url}/webhook\n  token: {ACTION_TOKEN}\n"
        f"{NLG_ENDPOINT}"
        "tracker_store:\n  type: SQL\n  dialect: postgresql\n  url: 127.0.0.1\n  port: 5432\n"
        f"  db: {tracker_db}\n  username: postgres\n  password: ''\n"
        f"lock_store:\n  type: redis\n  url: 127.0.0.1\n  port: 6379\n  db: {redis_db}\n"
        "  key_prefix: e2e\n"
        "event_broker:\n  type: pika\n  url: 127.0.0.1\n  username: guest\n  password: guest\n"
        f"  queues:\n    - {queue}\n",
        encoding="utf-8",
    )
    return path


@contextmanager
def rasa_server_with(env: dict[str, str], workdir: Path, endpoints: Path) -> Iterator[Process]:
    """Runs ``rasa run`` with a given endpoints file."""
    port = free_port()
    process = start(
        "rasa",
        [
            str(RASA_PYTHON),
            "-m",
            "bot.serve",  # adds --jwt-secret from RASA_JWT_SECRET, out of sight of ps
            "--model",
            str(model_path()),
            "--enable-api",
            "--port",
            str(port),
            "--credentials",
            str(REPO / "bot" / "credentials.yml"),
            "--endpoints",
            str(endpoints),
        ],
        env,
        workdir,
        f"http://127.0.0.1:{port}/",  # /status needs the JWT
    )
    try:
        yield process
    finally:
        process.stop()


@contextmanager
def ingest_worker(
    env: dict[str, str], workdir: Path, *args: str, name: str = "ingest"
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``python -m analytics.loop.ingest`` with ``args``; SIGTERM at the end."""
    log = (workdir / f"{name}.log").open("ab")
    popen = subprocess.Popen(
        [sys.executable, "-m", "analytics.loop.ingest", "--poll-interval", "0.05", *args],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield popen
    finally:
        if popen.poll() is None:
            popen.terminate()
            try:
                popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                popen.kill()
        log.close()


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Polls ``check`` until it returns something truthy; fails after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
