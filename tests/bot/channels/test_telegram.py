"""The Telegram channel's door and client (bot/channels/messaging/telegram.py).

Real Sanic requests through verify/parse/acknowledge, held to the vectors of
``tests/fixtures/channel_vectors.json`` (``telegram``); ``send`` against a loopback HTTP server
answering as the Bot API does. The path through a real Rasa server is in
tests/channels/test_telegram.py. :func:`sanic_request` and :class:`ScriptedAPI` are shared
with the Slack and Facebook tests.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import web
from sanic.compat import Header
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.messaging.base import Inbound, OutMessage, PlatformError
from bot.channels.messaging.conversation import PAYLOAD_KEY_PREFIX, Conversation
from bot.channels.messaging.telegram import HEADER_SECRET, TelegramInput
from tests.bot.channels.wx_helpers import serve_loopback

VECTORS = json.loads(
    (Path(__file__).parents[2] / "fixtures" / "channel_vectors.json").read_text("utf-8")
)
DOC = VECTORS["telegram"]
SECRET = DOC["secret_token"]["secret"]
TOKEN = "123456:test-token"


def sanic_request(
    method: str = "POST",
    body: bytes | str = b"",
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> Request:
    """A real Sanic request (no server) with headers, a query and a raw body."""
    query = urlencode(params or {})
    request = Request(
        f"/webhook?{query}".encode(), Header(headers or {}), "1.1", method, None, None
    )
    request.body = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    return request


@dataclass
class Scripted:
    """One answer of :class:`ScriptedAPI`."""

    status: int = 200
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ScriptedAPI:
    """A loopback HTTP server giving scripted answers in order (then ``default``)."""

    answers: list[Scripted]
    default: Scripted = field(default_factory=lambda: Scripted(json={"ok": True}))
    calls: list[tuple[str, dict[str, str], Any]] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def __aenter__(self) -> ScriptedAPI:
        self._runner, self.url = await serve_loopback(self._handle)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.calls.append((request.path, dict(request.headers), json.loads(raw) if raw else None))
        answer = self.answers.pop(0) if self.answers else self.default
        return web.json_response(answer.json, status=answer.status, headers=answer.headers)


def channel(api_url: str = "http://127.0.0.1:9") -> TelegramInput:
    return TelegramInput(access_token=TOKEN, webhook_secret=SECRET, api_url=api_url)


def post(body: Any, secret: str | None = SECRET) -> Request:
    raw = body if isinstance(body, bytes | str) else json.dumps(body)
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[HEADER_SECRET] = secret
    return sanic_request("POST", raw, headers)


def as_dict(inbound: Inbound) -> dict[str, Any]:
    return {
        "delivery_id": inbound.delivery_id,
        "user_id": inbound.user_id,
        "text": inbound.text,
        "address": inbound.address,
    }


def test_the_secret_token_vectors() -> None:
    tg = channel()
    vectors = DOC["secret_token"]
    for given in vectors["accepted"]:
        assert tg.verify(post({}, given)) is None
    for given in vectors["forbidden"]:
        refused = tg.verify(post({}, given))
        assert isinstance(refused, HTTPResponse) and refused.status == 403, given
    for given in vectors["unauthorized"]:
        refused = tg.verify(post({}, given or None))
        assert isinstance(refused, HTTPResponse) and refused.status == 401
    # A header that is not even ASCII is refused, not an error.
    assert tg.verify(post({}, "sécret\udcff")).status == 403  # type: ignore[union-attr]


def test_a_channel_without_a_secret_refuses_everything() -> None:
    tg = TelegramInput(access_token=TOKEN, webhook_secret="")
    assert tg.verify(post({}, "")).status == 401  # type: ignore[union-attr]
    assert tg.verify(post({}, "anything")).status == 403  # type: ignore[union-attr]


def test_the_documented_message_and_callback_updates() -> None:
    tg = channel()
    for key in ("update", "callback_query"):
        parsed = tg.parse(post(DOC[key]["body"]))
        assert isinstance(parsed, list) and [as_dict(i) for i in parsed] == [DOC[key]["expected"]]
    answer = tg.acknowledge(post(DOC["callback_query"]["body"]), None)
    assert json.loads(answer.body) == DOC["callback_query"]["acknowledgement"]
    assert json.loads(tg.acknowledge(post(DOC["update"]["body"]), None).body) == {"ok": True}


def test_updates_with_nothing_to_answer_are_acknowledged_empty() -> None:
    tg = channel()
    base = DOC["update"]["body"]
    message = base["message"]
    ignored = [
        {"update_id": 1, "edited_message": message},
        {"update_id": 2, "message": {**message, "chat": {"id": -100, "type": "group"}}},
        {"update_id": 3, "message": {k: v for k, v in message.items() if k != "text"}},
        {"update_id": 4, "message": {**message, "from": {**message["from"], "is_bot": True}}},
        {"update_id": 5, "message": {**message, "chat": {"id": "1", "type": "private"}}},
        {"update_id": 6, "channel_post": message},
    ]
    for update in ignored:
        assert tg.parse(post(update)) == [], update
    caption = {k: v for k, v in message.items() if k != "text"} | {"caption": "看这张照片"}
    parsed = tg.parse(post({"update_id": 7, "message": caption}))
    assert isinstance(parsed, list) and parsed[0].text == "看这张照片"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\xff\xfe\x00",
        b"[1, 2]",
        b'"text"',
        b'{"update_id": "1"}',
        b'{"update_id": true}',
        b"{" * 10_000,
        '{"update_id": 1, "message": "\udcff"}',
    ],
)
def test_malformed_bodies_are_400(body: bytes | str) -> None:
    parsed = channel().parse(post(body))
    if isinstance(parsed, list):  # valid JSON with nothing to answer
        assert parsed == []
    else:
        assert parsed.status == 400


def test_buttons_become_an_inline_keyboard_and_long_payloads_come_back() -> None:
    """A long payload travels as a key found again in the tracker: after a restart too."""
    from types import SimpleNamespace

    from rasa.core.tracker_store import InMemoryTrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import BotUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    tg = channel()
    long_payload = '/inform{"product": "' + "乌龙" * 30 + '"}'
    buttons = (("好的", "/affirm"), ("长", long_payload))
    body = tg.request_of({"chat_id": "42"}, OutMessage("选一个", buttons))
    keyboard = body["reply_markup"]["inline_keyboard"]
    assert body["chat_id"] == "42" and body["text"] == "选一个"
    assert keyboard[0] == [{"text": "好的", "callback_data": "/affirm"}]
    data = keyboard[1][0]["callback_data"]
    assert data.startswith(PAYLOAD_KEY_PREFIX) and len(data.encode()) <= 64
    assert "reply_markup" not in tg.request_of({"chat_id": "42"}, OutMessage("hi"))

    press = json.loads(json.dumps(DOC["callback_query"]["body"]))
    press["callback_query"]["data"] = data
    restarted = channel()  # another process: nothing of ``tg`` is known to it
    [inbound] = restarted.parse(post(press))  # type: ignore[misc]
    sender_id = f"telegram:{inbound.user_id}"
    store = InMemoryTrackerStore(Domain.empty())
    tracker = DialogueStateTracker(sender_id, slots=[])
    buttons_data = [{"title": t, "payload": p} for t, p in buttons]
    tracker.update(BotUttered("选一个", {"buttons": buttons_data}))
    seen: list[Any] = []

    async def handler(message: Any) -> None:
        seen.append(message)

    async def scenario() -> None:
        await store.save(tracker)
        conversation = Conversation(restarted, SimpleNamespace(tracker_store=store), handler)
        await conversation.converse(inbound)
        forged = Inbound("forged-1", inbound.user_id, PAYLOAD_KEY_PREFIX + "0" * 40, {})
        await conversation.converse(forged)  # a key of no button the bot sent: dropped

    run(scenario())
    assert [m.text for m in seen] == [long_payload]
    assert seen[0].metadata["display_text"] == "长"


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_send_posts_send_message_and_maps_the_bot_api_errors() -> None:
    too_many = Scripted(
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 7",
            "parameters": {"retry_after": 7},
        },
    )
    blocked = Scripted(
        403,
        {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"},
    )
    down = Scripted(502, None)
    ok = Scripted(200, {"ok": True, "result": {"message_id": 1}})

    async def scenario() -> tuple[ScriptedAPI, list[PlatformError | None]]:
        results: list[PlatformError | None] = []
        async with ScriptedAPI([too_many, blocked, down, ok]) as api:
            tg = channel(api.url)
            for _ in range(4):
                try:
                    await tg.send({"chat_id": "42"}, OutMessage("你好"))
                    results.append(None)
                except PlatformError as error:
                    results.append(error)
        return api, results

    api, results = run(scenario())
    rate, forbidden, bad_gateway, fine = results
    assert rate is not None and rate.retryable and rate.retry_after == 7.0
    assert forbidden is not None and not forbidden.retryable
    assert bad_gateway is not None and bad_gateway.retryable
    assert fine is None
    path, _, body = api.calls[-1]
    assert path == f"/bot{TOKEN}/sendMessage" and body == {"chat_id": "42", "text": "你好"}
    assert all(TOKEN not in str(error) for error in results if error)


def test_an_unreachable_api_is_a_retryable_error_without_the_token() -> None:
    async def scenario() -> PlatformError:
        try:
            await channel("http://127.0.0.1:9").send({"chat_id": "1"}, OutMessage("x"))
        except PlatformError as error:
            return error
        raise AssertionError("no error")

    error = run(scenario())
    assert error.retryable and TOKEN not in str(error)


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("/start", "zh-hans", "你好"),
        ("/start", "en", "Hello"),
        ("/START@leafbean_help_bot", "de", "Hello"),
        ("/start", None, "你好"),
        ("/start abc", "en", "/start abc"),  # a link code: the bindings answer it
        ("/startx", "en", "/startx"),
    ],
)
def test_a_bare_start_is_a_hello_in_the_app_language(
    text: str, language: str | None, expected: str
) -> None:
    update = json.loads(json.dumps(DOC["update"]["body"]))
    update["message"]["text"] = text
    update["message"]["from"]["language_code"] = language
    parsed = channel().parse(post(update))
    assert isinstance(parsed, list) and parsed[0].text == expected
