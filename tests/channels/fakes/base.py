"""A fake messaging platform: the platform's HTTP API, on this machine, for channel tests.

:class:`FakePlatform` is a standard-library ``ThreadingHTTPServer`` on a free loopback port,
served from a daemon thread. It records every API request the bot makes (:attr:`calls`),
answers each with a route's reply (subclasses add routes for the platform's documented API:
``sendMessage``, ``chat.postMessage``, ...), can be told to fail the next requests
(:meth:`fail_next`), and gives the channel's environment variables with the API URL pointing
at itself (:meth:`env`).

Subclasses (one module per platform, ``tests/channels/fakes/<platform>.py`` with
``make_fake() -> FakePlatform``) set :attr:`FakePlatform.name`, override :meth:`env`, add
routes in ``__init__`` with :meth:`add_route`, and add their own helpers to sign or encrypt a
webhook delivery, which they POST to Rasa with :meth:`deliver`.

Example::

    class FakeTelegram(FakePlatform):
        name = "telegram"

        def __init__(self) -> None:
            super().__init__()
            self.add_route("POST", r"/bot[^/]+/sendMessage", self._send)

        def _send(self, call: Call) -> Reply:
            return Reply(json={"ok": True, "result": {"message_id": len(self.calls)}})
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import httpx

#: Longest request body the fake reads (the bot never sends more).
MAX_FAKE_BODY_BYTES = 8 * 1024 * 1024
#: Seconds a webhook POST to Rasa may take.
DELIVER_TIMEOUT_S = 60.0
CONTENT_TYPE_JSON = "application/json; charset=utf-8"


@dataclass(frozen=True)
class Call:
    """One API request the bot made to the fake.

    Attributes:
        method: ``GET``, ``POST``, ...
        path: The URL path (``/bot123:abc/sendMessage``).
        query: The query parameters (each a list, as ``urllib.parse.parse_qs`` gives them).
        headers: The request headers (names lower-cased).
        body: The raw body.
        json: The body decoded as JSON, or None if it is not JSON.
        at: ``time.monotonic()`` when the request arrived (retry timing).
    """

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    json: Any
    at: float

    @property
    def form(self) -> dict[str, list[str]]:
        """The body decoded as ``application/x-www-form-urlencoded``."""
        return parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)


@dataclass
class Reply:
    """The fake's answer to one request.

    Attributes:
        status: The HTTP status.
        json: A JSON body (used when ``body`` is None).
        body: A raw body.
        headers: Extra headers.
    """

    status: int = 200
    json: Any = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, str]:
        """The body bytes and their content type."""
        if self.body is not None:
            return self.body, self.headers.get("Content-Type", "application/octet-stream")
        data = {} if self.json is None else self.json
        return json.dumps(data, ensure_ascii=False).encode("utf-8"), CONTENT_TYPE_JSON


Handler = Callable[[Call], Reply]


@dataclass
class _Failure:
    remaining: int
    reply: Reply
    path: re.Pattern[str] | None


class FakePlatform:
    """A platform's HTTP API on a free loopback port (see the module docstring).

    Attributes:
        name: The channel's name (``telegram``, ``slack``, ...): ``channel_stack.fakes[name]``.
        calls: Every request received, oldest first (failed ones too).
    """

    name: ClassVar[str] = "fake"

    def __init__(self) -> None:
        """Creates a stopped fake with no routes (unrouted requests get 404)."""
        self.calls: list[Call] = []
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._failures: list[_Failure] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> FakePlatform:
        """Starts serving on ``127.0.0.1`` (a free port) in a daemon thread; returns self."""
        if self._server is not None:
            return self
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"fake-{self.name}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops serving and closes the socket."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakePlatform:
        """Starts the fake (``with make_fake() as fake:``)."""
        return self.start()

    def __exit__(self, *_: object) -> None:
        """Stops the fake."""
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (the fake must be started)."""
        if self._server is None:
            raise RuntimeError(f"the fake {self.name} is not started")
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    # -- configuration -------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        """The channel's environment variables, its API URL pointing at this fake.

        Subclasses override this; the base has no variables.
        """
        return {}

    def add_route(self, method: str, path: str, handler: Handler) -> None:
        """Answers requests of ``method`` whose path fully matches the regex ``path``.

        Later routes win over earlier ones, so a test may override a subclass's route.

        Args:
            method: The HTTP method (``*`` for any).
            path: A regular expression the whole path must match.
            handler: Gives the reply of a request.
        """
        with self._lock:
            self._routes.insert(0, (method.upper(), re.compile(path), handler))

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        *,
        json: Any = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        path: str | None = None,
    ) -> None:
        """The next ``n`` requests (whose path matches ``path``, if given) get this reply.

        Args:
            n: How many requests fail.
            status: Their HTTP status.
            json: Their JSON body (default: ``{"ok": false, "error": "fake failure"}``).
            body: A raw body instead of JSON.
            headers: Extra headers (``Retry-After``...).
            path: A regex of the paths that fail (default: every path).
        """
        if json is None and body is None:
            json = {"ok": False, "error": "fake failure"}
        reply = Reply(status, json, body, dict(headers or {}))
        with self._lock:
            self._failures.append(
                _Failure(n, reply, re.compile(path) if path is not None else None)
            )

    def reset(self) -> None:
        """Forgets the recorded calls and the pending failures (routes stay)."""
        with self._lock:
            self.calls.clear()
            self._failures.clear()

    # -- inspection ----------------------------------------------------------------------------
    def calls_to(self, path: str) -> list[Call]:
        """The recorded calls whose path matches the regex ``path`` (``re.search``)."""
        pattern = re.compile(path)
        with self._lock:
            return [call for call in self.calls if pattern.search(call.path)]

    def wait_for_calls(self, n: int, path: str = "", timeout: float = 30.0) -> list[Call]:
        """Waits until at least ``n`` calls match ``path``; returns them.

        Raises:
            AssertionError: If they do not arrive within ``timeout`` seconds.
        """
        pattern = re.compile(path)
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                found = [call for call in self.calls if pattern.search(call.path)]
                left = deadline - time.monotonic()
                if len(found) >= n or left <= 0:
                    break
                self._arrived.wait(left)
        if len(found) < n:
            raise AssertionError(
                f"{self.name}: {len(found)} of {n} calls to {path!r} within {timeout} s: "
                f"{[c.path for c in self.calls]}"
            )
        return found

    # -- the webhook side ----------------------------------------------------------------------
    def webhook_url(self, rasa_url: str) -> str:
        """The channel's webhook on Rasa: ``<rasa_url>/webhooks/<name>/webhook``."""
        return f"{rasa_url.rstrip('/')}/webhooks/{self.name}/webhook"

    def deliver(
        self,
        rasa_url: str,
        body: bytes | str | None = None,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        method: str = "POST",
        timeout: float = DELIVER_TIMEOUT_S,
    ) -> httpx.Response:
        """Sends a (signed, encrypted: the subclass's job) webhook request to Rasa.

        Args:
            rasa_url: The Rasa server.
            body: The raw body (text is UTF-8 encoded).
            headers: The request headers (signatures...).
            params: The query parameters.
            method: ``POST`` (events) or ``GET`` (URL verification).
            timeout: Seconds to wait for the answer.

        Returns:
            Rasa's answer.
        """
        content = body.encode("utf-8") if isinstance(body, str) else body
        return httpx.request(
            method,
            self.webhook_url(rasa_url),
            content=content,
            headers=headers,
            params=params,
            timeout=timeout,
        )

    # -- serving -------------------------------------------------------------------------------
    def _answer(self, call: Call) -> Reply:
        with self._arrived:
            self.calls.append(call)
            self._arrived.notify_all()
            for failure in self._failures:
                if failure.remaining > 0 and (
                    failure.path is None or failure.path.search(call.path)
                ):
                    failure.remaining -= 1
                    return failure.reply
            handler = next(
                (
                    h
                    for method, pattern, h in self._routes
                    if method in ("*", call.method) and pattern.fullmatch(call.path)
                ),
                None,
            )
        if handler is None:
            return Reply(404, {"ok": False, "error": f"no route for {call.method} {call.path}"})
        try:
            return handler(call)
        except Exception as error:  # a bug in a fake must show, not hang the bot
            return Reply(500, {"ok": False, "error": f"fake handler failed: {error!r}"})


def _handler_for(fake: FakePlatform) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(min(length, MAX_FAKE_BODY_BYTES)) if length > 0 else b""
            parts = urlsplit(self.path)
            try:
                decoded: Any = json.loads(body) if body else None
            except ValueError:
                decoded = None
            call = Call(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                json=decoded,
                at=time.monotonic(),
            )
            reply = fake._answer(call)
            content, content_type = reply.encoded()
            self.send_response(reply.status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(content)))
            for key, value in reply.headers.items():
                if key.lower() not in ("content-type", "content-length"):
                    self.send_header(key, value)
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        def log_message(self, *_: Any) -> None:  # quiet: tests read .calls
            return

    return _Handler
