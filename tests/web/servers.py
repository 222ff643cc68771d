"""Real servers for the web tests: the web app under uvicorn, and a stand-in for Rasa.

* :func:`serve_in_thread` runs the real app under uvicorn in this process (so a test can
  count what happens inside it, e.g. Argon2 checks) on a free loopback port.
* :func:`serve_in_subprocess` runs ``uvicorn web.app:create_app`` as its own process (two
  of them share one store: the throttle must hold across processes).
* :class:`FakeRasa` is a small HTTP server that records every request (method, path,
  query, headers, body) and answers like Rasa's HTTP API and the widget channel's founder
  routes would; it checks nothing itself, the tests check what it received.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import uvicorn
from fastapi import FastAPI

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 30.0


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(base: str, timeout_s: float = START_TIMEOUT_S) -> None:
    """Waits until ``<base>/health`` answers 200."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{base} did not come up")


@contextmanager
def serve_in_thread(app: FastAPI) -> Iterator[str]:
    """Serves ``app`` with uvicorn on 127.0.0.1 in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True, name="uvicorn-test")
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base)
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@contextmanager
def serve_in_subprocess(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """Runs the web app under uvicorn in its own process; yields its base URL."""
    port = free_port()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "uvicorn", "web.app:create_app", "--factory",
                "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
            ],
            cwd=REPO,
            env={**os.environ, **env, "PYTHONPATH": str(REPO)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            try:
                wait_healthy(base)
            except RuntimeError as error:
                raise RuntimeError(log_path.read_text(errors="replace")) from error
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@dataclass
class Received:
    """One request the fake Rasa received."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeRasa:
    """A stand-in for Rasa's HTTP API that records requests.

    Attributes:
        url: Its base URL.
        received: Every request so far.
        tracker_events: What ``GET /conversations/<id>/tracker`` answers with.
        post_answers: Path suffix (``/message``) -> (status, JSON) a POST there answers
            (default ``200 {"ok": true}``).
    """

    url: str = ""
    received: list[Received] = field(default_factory=list)
    tracker_events: list[dict[str, Any]] = field(default_factory=list)
    post_answers: dict[str, tuple[int, Any]] = field(default_factory=dict)


def _handler(fake: FakeRasa) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:  # noqa: ANN401 - silence the access log
            return

        def _record(self) -> Received:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
            item = Received(
                self.command,
                parts.path,
                parts.query,
                {k.lower(): v for k, v in self.headers.items()},
                body,
            )
            fake.received.append(item)
            return item

        def _answer(self, status: int, payload: Any) -> None:  # noqa: ANN401
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            item = self._record()
            if item.path.endswith("/tracker"):
                self._answer(200, {"events": fake.tracker_events})
            else:
                self._answer(404, {"error": "not found"})

        def do_POST(self) -> None:  # noqa: N802
            item = self._record()
            for suffix, (status, payload) in fake.post_answers.items():
                if item.path.endswith(suffix):
                    self._answer(status, payload)
                    return
            self._answer(200, {"ok": True})

        def do_PUT(self) -> None:  # noqa: N802
            self._record()
            self.send_response(204)
            self.end_headers()

    return Handler


@contextmanager
def fake_rasa() -> Iterator[FakeRasa]:
    """Runs a :class:`FakeRasa` on a free loopback port."""
    fake = FakeRasa()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="fake-rasa")
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
