"""Sends with retries against a real local HTTP server (bot/channels/messaging/outbound.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import aiohttp
import pytest

from bot.channels.messaging.outbound import (
    ATTEMPTS,
    BASE_DELAY_S,
    OutMessage,
    PlatformError,
    backoff_delay,
    out_messages,
    render,
    send_with_retries,
)

SECRET_TEXT = "my card number is 4111 1111 1111 1111"


class ScriptedApi:
    """A platform API on loopback answering a script of (status, json) then 200."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, Any]]] = []
        self.arrivals: list[float] = []
        self.bodies: list[Any] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                api.bodies.append(json.loads(self.rfile.read(length) or b"null"))
                api.arrivals.append(time.monotonic())
                status, body = api.script.pop(0) if api.script else (200, {"ok": True})
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/send"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def gaps(self) -> list[float]:
        return [b - a for a, b in zip(self.arrivals, self.arrivals[1:], strict=False)]


@pytest.fixture()
def api() -> Iterator[ScriptedApi]:
    server = ScriptedApi()
    yield server
    server.server.shutdown()
    server.server.server_close()


def sender_to(url: str, text: str) -> Any:
    """One platform call, as a channel's send() makes it (status -> PlatformError)."""

    async def send_once() -> None:
        async with aiohttp.ClientSession() as session:
            async with session.post(url, json={"text": text}) as answer:
                body = await answer.json()
                if answer.status < 300:
                    return
                retry_after = (body.get("parameters") or {}).get("retry_after")
                raise PlatformError(
                    f"fake API answered {answer.status}",
                    retryable=answer.status == 429 or answer.status >= 500,
                    retry_after=retry_after,
                )

    return send_once


def _send(url: str, **kwargs: Any) -> bool:
    return asyncio.run(
        send_with_retries(
            sender_to(url, SECRET_TEXT), channel="telegram", sender_id="telegram:42", **kwargs
        )
    )


def test_four_attempts_with_exponential_backoff_and_jitter(
    api: ScriptedApi, caplog: pytest.LogCaptureFixture
) -> None:
    api.script = [(500, {"ok": False})] * 4
    with caplog.at_level(logging.WARNING):
        assert _send(api.url) is False
    assert len(api.arrivals) == ATTEMPTS == 4
    for attempt, gap in enumerate(api.gaps(), start=1):
        step = BASE_DELAY_S * 2 ** (attempt - 1)
        assert step * 0.95 <= gap <= step * 2 + 0.3, (attempt, gap)
    failures = [r for r in caplog.records if "sending to" in r.getMessage()]
    assert len(failures) == 4
    for record in failures:
        message = record.getMessage()
        assert "telegram" in message and "telegram:42" in message
        assert SECRET_TEXT not in message and "4111" not in message
    assert "giving up" in failures[-1].getMessage()


def test_a_retry_after_success_stops_retrying(api: ScriptedApi) -> None:
    api.script = [(502, {"ok": False}), (503, {"ok": False})]
    assert _send(api.url, base_delay=0.05) is True
    assert len(api.arrivals) == 3
    assert all(body == {"text": SECRET_TEXT} for body in api.bodies)


def test_retry_after_is_honoured(api: ScriptedApi) -> None:
    api.script = [(429, {"ok": False, "parameters": {"retry_after": 1}})]
    assert _send(api.url, base_delay=0.05) is True
    assert len(api.arrivals) == 2
    assert 1.0 <= api.gaps()[0] <= 1.5


def test_a_retry_after_beyond_the_cap_gives_up(api: ScriptedApi) -> None:
    api.script = [(429, {"ok": False, "parameters": {"retry_after": 3600}})]
    started = time.monotonic()
    assert _send(api.url, base_delay=0.05) is False
    assert time.monotonic() - started < 2
    assert len(api.arrivals) == 1


@pytest.mark.parametrize("status", [400, 401, 403])
def test_non_retryable_errors_stop_at_once(api: ScriptedApi, status: int) -> None:
    api.script = [(status, {"ok": False})]
    assert _send(api.url, base_delay=0.05) is False
    assert len(api.arrivals) == 1


def test_network_errors_are_retried_and_logged_without_their_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/botSECRET-TOKEN/sendMessage"
    with caplog.at_level(logging.WARNING):
        assert _send(url, base_delay=0.01) is False
    messages = [r.getMessage() for r in caplog.records if "sending to" in r.getMessage()]
    assert len(messages) == ATTEMPTS
    assert all("SECRET-TOKEN" not in m and "ClientConnectorError" in m for m in messages)


def test_backoff_delays_double_with_up_to_as_much_jitter() -> None:
    assert backoff_delay(1, 0.5, lambda: 0.0) == 0.5
    assert backoff_delay(3, 0.5, lambda: 0.0) == 2.0
    assert backoff_delay(3, 0.5, lambda: 0.999) < 4.0


def test_render_numbers_buttons_and_keeps_buttons_and_image_on_the_last_part() -> None:
    message = OutMessage(
        "请选择。" * 30,
        (("查订单 / Track order", "/track"), ("人工 / Human", "/human")),
        "https://shop.test/a.png",
    )
    native = render(message, max_chars=50, numbered=False)
    assert len(native) > 1
    assert all(not part.buttons and part.image is None for part in native[:-1])
    assert native[-1].buttons == message.buttons
    assert native[-1].image == message.image
    numbered = render(message, max_chars=4096, numbered=True)
    assert len(numbered) == 1
    assert numbered[0].buttons == ()
    assert numbered[0].text.endswith("\n\n1. 查订单 / Track order\n2. 人工 / Human")


def test_collected_rasa_messages_become_out_messages() -> None:
    collected = [
        {"recipient_id": "s", "text": "hi", "buttons": [{"title": "A", "payload": "/a"}, {}]},
        {"recipient_id": "s", "image": "https://shop.test/x.png"},
        {"recipient_id": "s", "attachment": {"type": "image", "payload": {"src": "https://i/y"}}},
        {"recipient_id": "s", "image": "javascript:alert(1)"},
        {"recipient_id": "s", "custom": {"anything": 1}},
    ]
    assert out_messages(collected) == [
        OutMessage("hi", (("A", "/a"),)),
        OutMessage("", (), "https://shop.test/x.png"),
        OutMessage("", (), "https://i/y"),
    ]
