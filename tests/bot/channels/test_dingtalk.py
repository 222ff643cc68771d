"""The DingTalk robot channel (Rasa environment): sign, clock skew, parsing, SSRF guard, sends.

Vectors: tests/fixtures/channel_vectors.json["dingtalk"] (computed by the main environment's
fake with the standard library). Sends go to a loopback fake (``wx_helpers.FakeAPI``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sanic.compat import Header
from sanic.request import Request

from bot.channels.messaging.base import Inbound, OutMessage, PlatformError
from bot.channels.messaging.dingtalk import (
    GROUP_PATH,
    MAX_SKEW_MS,
    ONE_TO_ONE_PATH,
    TOKEN_PATH,
    DingTalkInput,
    session_webhook_allowed,
    sign,
)
from tests.bot.channels.wx_helpers import FakeAPI, run

VECTORS = json.loads(
    (Path(__file__).parents[2] / "fixtures" / "channel_vectors.json").read_text("utf-8")
)["dingtalk"]
SECRET = "app-secret-钉"
API = "https://api.dingtalk.com"
SESSION = "https://oapi.dingtalk.com/robot/sendBySession?session=abc"


def channel(api_url: str = API) -> DingTalkInput:
    return DingTalkInput("dingkey", SECRET, "dingrobot", api_url)


def request(body: bytes, headers: dict[str, str] | None = None) -> Request:
    req = Request(b"/webhooks/dingtalk/webhook", Header(headers or {}), "1.1", "POST", None, None)
    req.body = body
    return req


def signed(body: bytes, *, timestamp: int | None = None, secret: str = SECRET) -> Request:
    ts = str(int(time.time() * 1000) if timestamp is None else timestamp)
    return request(body, {"timestamp": ts, "sign": sign(ts, secret)})


def message(text: str = "你好", **changes: Any) -> dict[str, Any]:
    body = {
        "conversationId": "cid+abc/def==",
        "msgId": "msg-1",
        "senderStaffId": "staff01",
        "senderId": "$:LWCP_v1:$abc",
        "conversationType": "1",
        "sessionWebhook": SESSION,
        "sessionWebhookExpiredTime": int(time.time() * 1000) + 3_600_000,
        "text": {"content": text},
        "msgtype": "text",
    }
    body.update(changes)
    return body


def parsed(body: dict[str, Any], api_url: str = API) -> list[Inbound]:
    result = channel(api_url).parse(signed(json.dumps(body).encode()))
    assert isinstance(result, list)
    return result


@pytest.mark.parametrize("vector", VECTORS["sign_computed"])
def test_sign_vectors(vector: dict[str, str]) -> None:
    assert sign(vector["timestamp"], vector["app_secret"]) == vector["sign"]


def test_sign_checked() -> None:
    dingtalk = channel()
    body = json.dumps(message()).encode()
    assert dingtalk.verify(signed(body)) is None
    assert dingtalk.verify(request(body)).status == 401  # type: ignore[union-attr]
    assert dingtalk.verify(signed(body, secret="guess")).status == 403  # type: ignore[union-attr]
    ts = str(int(time.time() * 1000))
    other = request(body, {"timestamp": ts, "sign": sign(str(int(ts) + 1), SECRET)})
    assert dingtalk.verify(other).status == 403  # type: ignore[union-attr]


def test_clock_skew_edges() -> None:
    dingtalk = channel()
    body = b"{}"
    now = int(time.time() * 1000)
    assert dingtalk.verify(signed(body, timestamp=now - MAX_SKEW_MS + 5000)) is None
    assert dingtalk.verify(signed(body, timestamp=now + MAX_SKEW_MS - 5000)) is None
    for ts in (now - MAX_SKEW_MS - 5000, now + MAX_SKEW_MS + 5000, 0):
        assert dingtalk.verify(signed(body, timestamp=ts)).status == 401  # type: ignore[union-attr]
    for ts in ("", "-1", "1e12", "１７００", "9" * 40):
        refused = dingtalk.verify(request(body, {"timestamp": ts, "sign": sign(ts, SECRET)}))
        assert refused is not None and refused.status == 401


def test_private_text() -> None:
    [inbound] = parsed(message(" 我的订单到哪了？ "))
    assert (inbound.delivery_id, inbound.user_id, inbound.text) == (
        "msg-1",
        "staff01",
        "我的订单到哪了？",
    )
    assert inbound.address["session_webhook"] == SESSION
    assert inbound.address["staff_id"] == "staff01"


def test_group_is_anonymous_per_group() -> None:
    [inbound] = parsed(message(conversationType="2"))
    assert inbound.user_id == "staff01@cid+abc/def=="
    assert inbound.address["conversation_type"] == "group"


def test_nothing_to_answer_or_bad() -> None:
    assert parsed(message(msgtype="picture")) == []
    assert parsed(message("   ")) == []
    not_object = message()
    not_object["text"] = "not an object"
    assert parsed(not_object) == []
    dingtalk = channel()
    for body in (b"\xff\xfe", b"[1]", b"{", json.dumps(message(msgId="")).encode()):
        assert dingtalk.parse(signed(body)).status == 400  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "url",
    [
        "http://oapi.dingtalk.com/robot/sendBySession?session=a",  # not HTTPS
        "https://oapi.dingtalk.com.evil.test/robot/sendBySession",
        "https://evil.test/robot/sendBySession?x=oapi.dingtalk.com",
        "https://oapi.dingtalk.com@evil.test/robot/sendBySession",
        "https://user:pw@oapi.dingtalk.com/robot/sendBySession",
        "https://oapi.dingtalk.com:8443/robot/sendBySession",
        "https://oapi.dingtalk.com/admin",
        "https://127.0.0.1/robot/sendBySession",
        "http://169.254.169.254/latest/meta-data/",
        "https://oapi.dingtalk.com/robot/send\nBySession",
        "https://oapi.dingtalk.com\\@evil.test/robot/",
        "file:///etc/passwd",
        "https://oapi.dingtalk.com/robot/" + "a" * 3000,
        "",
        None,
        12,
    ],
)
def test_ssrf_session_webhooks_refused(url: Any) -> None:
    assert not session_webhook_allowed(url, API)
    [inbound] = parsed(message(sessionWebhook=url))
    assert "session_webhook" not in inbound.address


def test_allowed_session_webhooks() -> None:
    assert session_webhook_allowed(SESSION, API)
    assert session_webhook_allowed("https://OAPI.dingtalk.com:443/robot/sendBySession?s=1", API)
    fake = "http://127.0.0.1:8123"
    assert session_webhook_allowed(f"{fake}/robot/sendBySession?session=1", fake)
    assert not session_webhook_allowed("http://127.0.0.1:8124/robot/sendBySession", fake)


def fake_api() -> FakeAPI:
    def token(_: web.Request) -> dict[str, Any]:
        return {"accessToken": "tok", "expireIn": 7200}

    def ok(_: web.Request) -> dict[str, Any]:
        return {"processQueryKey": "q", "invalidStaffIdList": [], "flowControlledStaffIdList": []}

    return FakeAPI(
        routes={
            TOKEN_PATH: token,
            ONE_TO_ONE_PATH: ok,
            GROUP_PATH: ok,
            "/robot/sendBySession": lambda _: {"errcode": 0, "errmsg": "ok"},
        }
    )


def test_session_webhook_while_valid_then_robot_api() -> None:
    async def scenario() -> list[tuple[str, dict[str, str], Any]]:
        async with fake_api() as api:
            dingtalk = channel(api.url)
            [inbound] = parsed(
                message(sessionWebhook=f"{api.url}/robot/sendBySession?s=1"), api.url
            )
            await dingtalk.send(inbound.address, OutMessage("您好"))
            expired = dict(inbound.address, session_webhook_expires_ms=int(time.time() * 1000))
            await dingtalk.send(expired, OutMessage("later", image="https://x.test/a.png"))
            await dingtalk.send(expired, OutMessage("again"))
            group = dict(expired, conversation_type="group", conversation_id="cid1")
            await dingtalk.send(group, OutMessage("group"))
            return api.calls

    calls = run(scenario())
    assert [path for path, _, _ in calls] == [
        "/robot/sendBySession",
        TOKEN_PATH,
        ONE_TO_ONE_PATH,
        ONE_TO_ONE_PATH,
        GROUP_PATH,
    ]
    assert calls[0][2] == {"msgtype": "text", "text": {"content": "您好"}}
    assert calls[2][2]["userIds"] == ["staff01"] and calls[2][2]["robotCode"] == "dingrobot"
    assert json.loads(calls[2][2]["msgParam"]) == {"content": "later\nhttps://x.test/a.png"}
    assert calls[4][2]["openConversationId"] == "cid1"


def test_forged_address_never_reaches_another_host() -> None:
    async def scenario() -> list[str]:
        async with fake_api() as api:
            dingtalk = channel(api.url)
            forged = {
                "staff_id": "staff01",
                "session_webhook": "http://127.0.0.1:1/robot/sendBySession",
                "session_webhook_expires_ms": int(time.time() * 1000) + 3_600_000,
            }
            await dingtalk.send(forged, OutMessage("hi"))
            return [path for path, _, _ in api.calls]

    assert run(scenario()) == [TOKEN_PATH, ONE_TO_ONE_PATH]


@pytest.mark.parametrize(
    ("path", "answer", "retryable"),
    [
        ("/robot/sendBySession", {"errcode": 130101, "errmsg": "send too fast"}, True),
        ("/robot/sendBySession", {"_status": 502}, True),
        ("/robot/sendBySession", {"errcode": 300001, "errmsg": "no session"}, False),
        (ONE_TO_ONE_PATH, {"_status": 401, "code": "InvalidAuthentication"}, True),
        (ONE_TO_ONE_PATH, {"_status": 400, "code": "invalidParameter"}, False),
        (ONE_TO_ONE_PATH, {"flowControlledStaffIdList": ["staff01"]}, True),
        (ONE_TO_ONE_PATH, {"invalidStaffIdList": ["staff01"]}, False),
        (TOKEN_PATH, {"_status": 400, "code": "invalidClientIdOrSecret"}, False),
    ],
)
def test_failures_classified(path: str, answer: dict[str, Any], retryable: bool) -> None:
    async def scenario() -> PlatformError:
        api = fake_api()
        api.routes[path] = lambda _: dict(answer)
        async with api:
            address = {"staff_id": "staff01"}
            if path == "/robot/sendBySession":
                address.update(
                    session_webhook=f"{api.url}/robot/sendBySession?s=1",
                    session_webhook_expires_ms=int(time.time() * 1000) + 3_600_000,
                )
            with pytest.raises(PlatformError) as caught:
                await channel(api.url).send(address, OutMessage("hi"))
            return caught.value

    error = run(scenario())
    assert error.retryable is retryable
    assert SECRET not in str(error) and "tok" not in str(error)


def test_no_staff_id_is_not_retryable() -> None:
    with pytest.raises(PlatformError) as caught:
        run(channel().send({"staff_id": ""}, OutMessage("hi")))
    assert not caught.value.retryable


def test_buttons_are_numbered() -> None:
    parts = channel().rendered(OutMessage("选一个", buttons=(("是", "/affirm"), ("否", "/deny"))))
    assert len(parts) == 1 and not parts[0].buttons
    assert "1. 是" in parts[0].text and "2. 否" in parts[0].text
