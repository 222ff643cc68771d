"""The Facebook Messenger channel's door and client (bot/channels/messaging/facebook.py).

Signatures held to ``tests/fixtures/channel_vectors.json`` (``facebook``, computed with
openssl from Meta's documented algorithm); real Sanic requests through
handshake/verify/parse/acknowledge; ``send`` against a loopback server answering as the
Send API does. The path through a real Rasa server is in tests/channels/test_facebook.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sanic.response import HTTPResponse

from bot.channels.messaging.base import OutMessage, PlatformError
from bot.channels.messaging.facebook import (
    HEADER_SIGNATURE,
    MAX_QUICK_REPLIES,
    FacebookInput,
    signature,
)
from tests.bot.channels.test_telegram import VECTORS, Scripted, ScriptedAPI, run, sanic_request

DOC = VECTORS["facebook"]
SECRET = DOC["signatures"][0]["app_secret"]
VERIFY = "verify-me"
TOKEN = "EAAGtest"


def channel(api_url: str = "http://127.0.0.1:9") -> FacebookInput:
    return FacebookInput(
        verify_token=VERIFY, app_secret=SECRET, page_access_token=TOKEN, api_url=api_url
    )


def signed(body: Any, secret: str = SECRET) -> Any:
    if isinstance(body, str):
        raw = body.encode("utf-8", "surrogatepass")
    elif isinstance(body, bytes):
        raw = body
    else:
        raw = json.dumps(body).encode("utf-8")
    return sanic_request("POST", raw, {HEADER_SIGNATURE: signature(secret, raw)})


def batch(*events: dict[str, Any], kind: str = "page") -> dict[str, Any]:
    return {"object": kind, "entry": [{"id": "1", "time": 0, "messaging": list(events)}]}


def message(text: str, mid: str = "m_1", **extra: Any) -> dict[str, Any]:
    return {
        "sender": {"id": "P1"},
        "recipient": {"id": "1"},
        "timestamp": 1,
        "message": {"mid": mid, "text": text, **extra},
    }


def test_the_signature_vectors_and_the_documented_parse() -> None:
    fb = channel()
    for vector in DOC["signatures"]:
        body = vector["body"].encode("utf-8")
        assert signature(vector["app_secret"], body) == vector["signature"]
        request = sanic_request("POST", body, {HEADER_SIGNATURE: vector["signature"]})
        assert fb.verify(request) is None
        upper = sanic_request(
            "POST", body, {HEADER_SIGNATURE: "sha256=" + vector["signature"][7:].upper()}
        )
        assert fb.verify(upper) is None
        parsed = fb.parse(request)
        assert isinstance(parsed, list) and len(parsed) == 1
        inbound = parsed[0]
        got = {
            "delivery_id": inbound.delivery_id,
            "user_id": inbound.user_id,
            "text": inbound.text,
            "address": inbound.address,
        }
        assert got == vector["expected"]


def test_missing_and_forged_signatures_are_refused() -> None:
    fb = channel()
    body = json.dumps(batch(message("hi"))).encode()
    assert fb.verify(sanic_request("POST", body, {})).status == 401  # type: ignore[union-attr]
    for given in (
        "sha256=00",
        "sha1=" + "0" * 40,
        signature("other", body),
        signature(SECRET, body + b" "),
        "sha256=\udcff",
    ):
        answer = fb.verify(sanic_request("POST", body, {HEADER_SIGNATURE: given}))
        assert isinstance(answer, HTTPResponse) and answer.status == 403, given
    unset = FacebookInput(verify_token="", app_secret="", page_access_token="")
    assert (
        unset.verify(sanic_request("POST", body, {HEADER_SIGNATURE: signature("", body)})).status
        == 403
    )  # type: ignore[union-attr]


def test_the_hub_challenge() -> None:
    fb = channel()

    async def answer(params: dict[str, str], method: str = "GET") -> HTTPResponse | None:
        return await fb.handshake(sanic_request(method, b"", {}, params))

    ok = run(
        answer({"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"})
    )
    assert ok is not None and ok.status == 200 and ok.body == b"1158201444"
    for params in (
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY, "hub.challenge": "1"},
        {"hub.verify_token": VERIFY, "hub.challenge": "1"},
        {},
    ):
        refused = run(answer(params))
        assert refused is not None and refused.status == 403, params
    script = run(
        answer({"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "<script>"})
    )
    assert script is not None and script.status == 400
    assert run(answer({}, "POST")) is None
    unset = FacebookInput(verify_token="", app_secret="s", page_access_token="t")
    empty = run(
        unset.handshake(
            sanic_request(
                "GET",
                b"",
                {},
                {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"},
            )
        )
    )
    assert empty is not None and empty.status == 403


def test_messages_quick_replies_and_postbacks_are_taken_echoes_are_not() -> None:
    fb = channel()
    postback = {
        "sender": {"id": "P2"},
        "recipient": {"id": "1"},
        "timestamp": 5,
        "postback": {"title": "Yes", "payload": "/affirm", "mid": "m_pb"},
    }
    old_postback = {
        "sender": {"id": "P2"},
        "recipient": {"id": "1"},
        "timestamp": 6,
        "postback": {"payload": "/deny"},
    }
    events = [
        message("你好", "m_a"),
        message("Yes", "m_b", quick_reply={"payload": "/affirm"}),
        postback,
        old_postback,
        message("echo", "m_c", is_echo=True),
        {"sender": {"id": "P1"}, "recipient": {"id": "1"}, "delivery": {"mids": ["m_a"]}},
        {
            "sender": {"id": "P1"},
            "recipient": {"id": "1"},
            "message": {"mid": "m_d", "attachments": []},
        },
        {"sender": {"id": 5}, "message": {"mid": "m_e", "text": "x"}},
        "not an object",
    ]
    parsed = fb.parse(signed(batch(*events)))
    assert isinstance(parsed, list)
    assert [(i.delivery_id, i.user_id, i.text) for i in parsed] == [
        ("m_a", "P1", "你好"),
        ("m_b", "P1", "/affirm"),
        ("m_pb", "P2", "/affirm"),
        ("postback:P2:6", "P2", "/deny"),
    ]
    assert parsed[0].address == {"psid": "P1"}
    assert fb.parse(signed(batch(message("x"), kind="instagram"))) == []
    assert fb.acknowledge(signed(b"{}"), None).body == b"EVENT_RECEIVED"


@pytest.mark.parametrize(
    "body", [b"", b"\xff", b"[]", b'{"object": "page"}', b'{"entry": 5}', b"{" * 10_000]
)
def test_malformed_bodies_are_400(body: bytes) -> None:
    answer = channel().parse(signed(body))
    assert isinstance(answer, HTTPResponse) and answer.status == 400


def test_quick_replies_respect_the_send_api_limits() -> None:
    buttons = tuple((f"第{i}个很长很长的选项标题超过二十个字符", f"/p{i}") for i in range(20))
    body = channel().request_of({"psid": "P1"}, OutMessage("选一个", buttons))
    assert body["recipient"] == {"id": "P1"} and body["messaging_type"] == "RESPONSE"
    quick = body["message"]["quick_replies"]
    assert len(quick) == MAX_QUICK_REPLIES
    assert all(len(q["title"]) <= 20 and q["content_type"] == "text" for q in quick)
    assert quick[0]["payload"] == "/p0" and body["message"]["text"] == "选一个"


def test_send_maps_graph_errors() -> None:
    def graph(code: int, status: int = 400, **extra: Any) -> Scripted:
        return Scripted(
            status, {"error": {"message": "m", "type": "OAuthException", "code": code, **extra}}
        )

    answers = [
        graph(32),
        graph(190),
        graph(551),
        graph(2, 500),
        graph(100, is_transient=True),
        Scripted(200, {"recipient_id": "P1", "message_id": "m_1"}),
    ]

    async def scenario() -> tuple[ScriptedAPI, list[PlatformError | None]]:
        results: list[PlatformError | None] = []
        async with ScriptedAPI(answers) as api:
            fb = channel(api.url)
            for _ in range(len(answers)):
                try:
                    await fb.send({"psid": "P1"}, OutMessage("hi"))
                    results.append(None)
                except PlatformError as error:
                    results.append(error)
        return api, results

    api, (rate, token, gone, unknown, transient, fine) = run(scenario())
    assert rate is not None and rate.retryable
    assert token is not None and not token.retryable
    assert gone is not None and not gone.retryable
    assert unknown is not None and unknown.retryable
    assert transient is not None and transient.retryable
    assert fine is None
    path, headers, body = api.calls[-1]
    assert path == "/me/messages" and headers["Authorization"] == f"Bearer {TOKEN}"
    assert body["message"] == {"text": "hi"} and TOKEN not in path
