"""The DingTalk robot channel (Rasa environment): sign, single-use signs, parsing, sends.

Vectors: tests/fixtures/channel_vectors.json["dingtalk"] (computed by the main environment's
fake with the standard library). Sends go to a loopback fake (``wx_helpers.FakeAPI``).
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sanic import Sanic
from sanic.compat import Header
from sanic.request import Request

from bot.channels.messaging.base import Inbound, OutMessage, PlatformError
from bot.channels.messaging.dingtalk import (
    GROUP_PATH,
    MAX_SKEW_MS,
    ONE_TO_ONE_PATH,
    TOKEN_PATH,
    DingTalkInput,
    sign,
)
from bot.channels.messaging.ledger import Ledger
from bot.channels.messaging.store import ChannelStore
from tests.bot.channels.wx_helpers import FakeAPI, run

VECTORS = json.loads(
    (Path(__file__).parents[2] / "fixtures" / "channel_vectors.json").read_text("utf-8")
)["dingtalk"]
SECRET = "app-secret-钉"
API = "https://api.dingtalk.com"
SESSION = "https://oapi.dingtalk.com/robot/sendBySession?session=abc"
APP = Sanic("dingtalk_unit")


def channel(api_url: str = API) -> DingTalkInput:
    return DingTalkInput("dingkey", SECRET, "dingrobot", api_url)


def request(body: bytes, headers: dict[str, str] | None = None) -> Request:
    req = Request(b"/webhooks/dingtalk/webhook", Header(headers or {}), "1.1", "POST", None, None)
    req.body = body
    req.app = APP
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
    # The sessionWebhook of the body is never kept: replies go through the robot API.
    assert inbound.address == {
        "staff_id": "staff01",
        "conversation_id": "cid+abc/def==",
        "conversation_type": "single",
    }


def test_group_is_anonymous_per_group() -> None:
    [inbound] = parsed(message(conversationType="2"))
    assert inbound.user_id == "staff01@cid+abc/def=="
    assert inbound.address["conversation_type"] == "group"
    assert "session_webhook" not in inbound.address


def test_nothing_to_answer_or_bad() -> None:
    assert parsed(message(msgtype="picture")) == []
    assert parsed(message("   ")) == []
    assert parsed(message(senderStaffId=None)) == []  # one to one: batchSend needs a staff id
    not_object = message()
    not_object["text"] = "not an object"
    assert parsed(not_object) == []
    dingtalk = channel()
    for body in (
        b"\xff\xfe",
        b"[1]",
        b"{",
        json.dumps(message(msgId="")).encode(),
        json.dumps(message(msgId="sig:abc")).encode(),
    ):
        assert dingtalk.parse(signed(body)).status == 400  # type: ignore[union-attr]


def admitted(dingtalk: DingTalkInput, req: Request, ledger: Ledger) -> int | None:
    """The admit step's refusal status (None: admitted) after parsing ``req``."""
    inbounds = dingtalk.parse(req)
    assert isinstance(inbounds, list)
    refused = run(dingtalk.admit(req, inbounds, ledger))
    return None if refused is None else refused.status


def test_a_sign_is_single_use_across_message_ids() -> None:
    dingtalk, ledger = channel(), Ledger(ChannelStore.in_memory())
    ts = str(int(time.time() * 1000))
    headers = {"timestamp": ts, "sign": sign(ts, SECRET)}
    first = json.dumps(message("你好", msgId="m-1")).encode()
    assert admitted(dingtalk, request(first, headers), ledger) is None
    # DingTalk redelivering the same message with the same headers: admitted (the ledger's
    # msgId claim then makes it a duplicate).
    assert admitted(dingtalk, request(first, headers), ledger) is None
    forged = json.dumps(message("我的订单", msgId="m-2", senderStaffId="victim")).encode()
    assert admitted(dingtalk, request(forged, headers), ledger) == 401
    # A non-text body claims its sign too (the sign cannot be kept for a later text).
    ts2 = str(int(ts) + 1)
    headers2 = {"timestamp": ts2, "sign": sign(ts2, SECRET)}
    picture = json.dumps(message(msgId="m-3", msgtype="picture")).encode()
    assert admitted(dingtalk, request(picture, headers2), ledger) is None
    assert admitted(dingtalk, request(forged, headers2), ledger) == 401


def test_a_reused_sign_with_another_body_is_refused_and_leaves_nothing() -> None:
    """Through the base's real webhook flow: the forged body never reaches Rasa or the API."""
    seen: list[Any] = []

    async def bot(user_message: Any) -> None:
        seen.append(user_message)
        await user_message.output_channel.send_text_message(user_message.sender_id, "您好")

    async def scenario() -> tuple[list[int], list[str]]:
        async with fake_api() as api:
            dingtalk = channel(api.url)
            ts = str(int(time.time() * 1000) - 9 * 60 * 1000)  # captured 9 minutes ago
            headers = {"timestamp": ts, "sign": sign(ts, SECRET)}
            first = json.dumps(message("你好", msgId=f"m{time.time_ns()}")).encode()
            forged = message("我的订单呢", msgId=f"f{time.time_ns()}", senderStaffId="victim")
            forged["sessionWebhook"] = f"{api.url}/robot/sendBySession?session=attacker"
            statuses = []
            for body in (first, first, json.dumps(forged).encode()):
                answer = await dingtalk.handle_webhook(request(body, headers), bot)
                statuses.append(answer.status)
            for _ in range(100):
                if not dingtalk._tasks:
                    break
                await asyncio.sleep(0.05)
            return statuses, [path for path, _, _ in api.calls]

    statuses, paths = run(scenario())
    assert statuses == [200, 200, 401]
    assert [m.sender_id for m in seen] == ["dingtalk:staff01"]
    assert paths == [TOKEN_PATH, ONE_TO_ONE_PATH]  # the session webhook is never called


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


def test_replies_always_go_through_the_robot_api() -> None:
    async def scenario() -> list[tuple[str, dict[str, str], Any]]:
        async with fake_api() as api:
            dingtalk = channel(api.url)
            [inbound] = parsed(
                message(sessionWebhook=f"{api.url}/robot/sendBySession?s=1"), api.url
            )
            await dingtalk.send(inbound.address, OutMessage("您好"))
            await dingtalk.send(inbound.address, OutMessage("later", image="https://x.test/a.png"))
            [group] = parsed(message(conversationType="2", conversationId="cid1"), api.url)
            await dingtalk.send(group.address, OutMessage("group"))
            return api.calls

    calls = run(scenario())
    assert [path for path, _, _ in calls] == [
        TOKEN_PATH,
        ONE_TO_ONE_PATH,
        ONE_TO_ONE_PATH,
        GROUP_PATH,
    ]
    assert calls[1][2]["userIds"] == ["staff01"] and calls[1][2]["robotCode"] == "dingrobot"
    assert json.loads(calls[1][2]["msgParam"]) == {"content": "您好"}
    assert json.loads(calls[2][2]["msgParam"]) == {"content": "later\nhttps://x.test/a.png"}
    assert calls[3][2]["openConversationId"] == "cid1" and "userIds" not in calls[3][2]


def test_an_old_address_with_a_session_webhook_is_not_used() -> None:
    """Addresses stored before the fix (in trackers) may still hold a session webhook."""

    async def scenario() -> list[str]:
        async with fake_api() as api:
            dingtalk = channel(api.url)
            stored = {
                "staff_id": "staff01",
                "session_webhook": f"{api.url}/robot/sendBySession?session=x",
                "session_webhook_expires_ms": int(time.time() * 1000) + 3_600_000,
            }
            await dingtalk.send(stored, OutMessage("hi"))
            return [path for path, _, _ in api.calls]

    assert run(scenario()) == [TOKEN_PATH, ONE_TO_ONE_PATH]


@pytest.mark.parametrize(
    ("path", "answer", "retryable"),
    [
        (ONE_TO_ONE_PATH, {"_status": 401, "code": "InvalidAuthentication"}, True),
        (ONE_TO_ONE_PATH, {"_status": 400, "code": "invalidParameter"}, False),
        (ONE_TO_ONE_PATH, {"_status": 502}, True),
        (ONE_TO_ONE_PATH, {"_status": 429, "code": "Throttling.Api"}, True),
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
            with pytest.raises(PlatformError) as caught:
                await channel(api.url).send({"staff_id": "staff01"}, OutMessage("hi"))
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


def test_a_failure_after_the_200_is_an_error_naming_the_conversation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No platform retries a message it got 200 for: the loss is logged, not silent."""

    async def bot(_: Any) -> None:
        await asyncio.sleep(0.3)
        raise RuntimeError("the tracker store is down")

    async def scenario() -> int:
        async with fake_api() as api:
            dingtalk = channel(api.url)
            dingtalk.ACK_WITHIN_S = 0.05  # type: ignore[misc]
            body = json.dumps(message("你好", msgId=f"late{time.time_ns()}")).encode()
            answer = await dingtalk.handle_webhook(signed(body), bot)
            for _ in range(100):
                if not dingtalk._tasks:
                    break
                await asyncio.sleep(0.05)
            assert api.calls == []
            return answer.status

    with caplog.at_level("ERROR", logger="bot.channels.messaging.base"):
        assert run(scenario()) == 200
    errors = [r.getMessage() for r in caplog.records if r.name == "bot.channels.messaging.base"]
    assert any("answered 200" in e and "dingtalk:staff01" in e and "lost" in e for e in errors)
    assert not any("你好" in e for e in errors)
