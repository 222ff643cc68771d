"""The WeChat Official Account channel's doors and API client (bot/channels/messaging/wechat.py).

Real Sanic requests through handshake/verify/parse/acknowledge (safe mode, passive replies);
``send`` against a loopback fake of WeChat's customer-service API. The whole path through a
real Rasa server is in tests/channels/test_wechat.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.channels.messaging.base import OutMessage, PlatformError
from bot.channels.messaging.wechat import SUBSCRIBE_TEXT, WeChatInput
from bot.channels.messaging.wecom import TEXT_ONLY
from bot.channels.messaging.wxcrypto import WXBizMsgCrypt, sha1_signature
from bot.channels.messaging.wxxml import parse_xml, render_xml
from tests.bot.channels.wx_helpers import FakeAPI, run, sanic_request

VECTORS = json.loads(
    (Path(__file__).parents[2] / "fixtures" / "channel_vectors.json").read_text("utf-8")
)["wechat"]
V = VECTORS["computed"][0]
TOKEN, KEY, APP = V["token"], V["encoding_aes_key"], V["receive_id"]
ACCOUNT = "gh_1"


def channel(api_url: str = "http://127.0.0.1:9") -> WeChatInput:
    return WeChatInput(APP, "appsecret", TOKEN, KEY, api_url)


def push(
    plaintext: str, ts: str | None = None, crypt: WXBizMsgCrypt | None = None, **over: str
) -> Any:
    crypt = crypt or WXBizMsgCrypt(TOKEN, KEY, APP)
    encrypted = crypt.encrypt(plaintext)
    ts = ts or str(int(time.time()))
    params = {
        "signature": sha1_signature(TOKEN, ts, "55"),
        "timestamp": ts,
        "nonce": "55",
        "openid": "oUser",
        "encrypt_type": "aes",
        "msg_signature": crypt.signature(ts, "55", encrypted),
    }
    params.update(over)
    return sanic_request("POST", params, render_xml({"ToUserName": ACCOUNT, "Encrypt": encrypted}))


def message(text: str = "hello", msg_type: str = "text", msg_id: str = "6001", **extra: str) -> str:
    fields: dict[str, str | int] = {
        "ToUserName": ACCOUNT,
        "FromUserName": "oUser",
        "CreateTime": 1700000000,
        "MsgType": msg_type,
    }
    if msg_type == "text":
        fields["Content"] = text
    fields.update(extra)
    if msg_id:
        fields["MsgId"] = msg_id
    return render_xml(fields)


def decrypt_passive(body: bytes) -> dict[str, Any]:
    outer = parse_xml(body)
    crypt = WXBizMsgCrypt(TOKEN, KEY, APP)
    inner = crypt.decrypt_signed(
        outer["MsgSignature"], outer["TimeStamp"], outer["Nonce"], outer["Encrypt"]
    )
    return parse_xml(inner)


def test_server_verification_echoes_with_a_good_signature() -> None:
    ts = str(int(time.time()))
    params = {"signature": sha1_signature(TOKEN, ts, "9"), "timestamp": ts, "nonce": "9"}
    answer = run(channel().handshake(sanic_request("GET", {**params, "echostr": "123456789"})))
    assert (answer.status, answer.body) == (200, b"123456789")
    bad = {**params, "signature": "0" * 40, "echostr": "1"}
    assert run(channel().handshake(sanic_request("GET", bad))).status == 403
    stale = {
        "signature": sha1_signature(TOKEN, "1000", "9"),
        "timestamp": "1000",
        "nonce": "9",
        "echostr": "1",
    }
    assert run(channel().handshake(sanic_request("GET", stale))).status == 403
    html = {**params, "echostr": "<script>alert(1)</script>"}
    assert run(channel().handshake(sanic_request("GET", html))).status == 400


def test_computed_vector_push_is_parsed() -> None:
    params = {
        "timestamp": V["timestamp"],
        "nonce": V["nonce"],
        "encrypt_type": "aes",
        "msg_signature": V["msg_signature"],
    }
    request = sanic_request(
        "POST", params, render_xml({"ToUserName": ACCOUNT, "Encrypt": V["encrypted"]})
    )
    wechat = channel()
    wechat.clock = lambda: float(V["timestamp"])
    assert wechat.verify(request) is None
    (inbound,) = wechat.parse(request)
    assert (inbound.delivery_id, inbound.user_id, inbound.text) == (
        "1234567890123456",
        "oUser",
        "hello",
    )


def test_plaintext_mode_is_refused() -> None:
    ts = str(int(time.time()))
    params = {"signature": sha1_signature(TOKEN, ts, "1"), "timestamp": ts, "nonce": "1"}
    answer = channel().verify(sanic_request("POST", params, message()))
    assert answer is not None and answer.status == 403
    raw = {**params, "encrypt_type": "raw"}
    assert channel().verify(sanic_request("POST", raw, message())).status == 403


def test_forged_pushes_are_refused() -> None:
    wechat = channel()
    assert wechat.verify(push(message(), msg_signature="a" * 40)).status == 403
    assert wechat.verify(push(message(), msg_signature="")).status == 401
    assert wechat.verify(push(message(), ts=str(int(time.time()) - 7200))).status == 403
    other = WXBizMsgCrypt(TOKEN, KEY, "wxsomeoneelse")
    assert wechat.verify(push(message(), crypt=other)).status == 403


def test_passive_reply_is_encrypted_for_the_follower() -> None:
    wechat = channel()
    request = push(message())
    assert wechat.verify(request) is None
    assert len(wechat.parse(request)) == 1
    answer = wechat.acknowledge(request, OutMessage("您好！请问有什么可以帮您？"))
    reply = decrypt_passive(answer.body)
    assert reply["Content"] == "您好！请问有什么可以帮您？"
    assert reply["ToUserName"] == "oUser"
    assert reply["FromUserName"] == ACCOUNT
    assert reply["MsgType"] == "text"
    assert wechat.acknowledge(request, None).body == b"success"


def test_subscribe_becomes_greet_and_other_events_are_ignored() -> None:
    wechat = channel()
    request = push(message(msg_type="event", msg_id="", Event="subscribe"))
    assert wechat.verify(request) is None
    (inbound,) = wechat.parse(request)
    assert inbound.text == SUBSCRIBE_TEXT
    assert inbound.delivery_id == "oUser:1700000000:subscribe"
    request = push(message(msg_type="event", msg_id="", Event="unsubscribe"))
    assert wechat.verify(request) is None
    assert wechat.parse(request) == []


def test_voice_gets_a_text_only_passive_reply() -> None:
    wechat = channel()
    request = push(message(msg_type="voice"))
    assert wechat.verify(request) is None
    assert decrypt_passive(wechat.parse(request).body)["Content"] == TEXT_ONLY


def test_text_is_measured_in_utf8_bytes() -> None:
    assert WeChatInput.MAX_CHARS == 2048
    assert WeChatInput.text_length("你好") == 6
    assert WeChatInput.PASSIVE_REPLY is True
    assert 3.0 <= WeChatInput.ACK_WITHIN_S < 5.0


class WeChatAPI:
    def __init__(self) -> None:
        self.valid: set[str] = set()
        self.errcodes: list[int] = []

    def token(self, request: web.Request) -> dict[str, Any]:
        assert request.query.get("grant_type") == "client_credential"
        if request.query.get("secret") != "appsecret":
            return {"errcode": 40125, "errmsg": "invalid appsecret"}
        token = f"t{len(self.valid)}"
        self.valid.add(token)
        return {"access_token": token, "expires_in": 7200}

    def send(self, request: web.Request) -> dict[str, Any]:
        if request.query.get("access_token") not in self.valid:
            return {"errcode": 40001, "errmsg": "invalid credential"}
        if self.errcodes:
            return {"errcode": self.errcodes.pop(0), "errmsg": "scripted"}
        return {"errcode": 0, "errmsg": "ok"}

    def routes(self) -> dict[str, Any]:
        return {"/cgi-bin/token": self.token, "/cgi-bin/message/custom/send": self.send}


def test_customer_service_send_and_token_renewal() -> None:
    api = WeChatAPI()

    async def scenario() -> list[Any]:
        async with FakeAPI(api.routes()) as fake:
            wechat = channel(fake.url)
            await wechat.send({"touser": "oUser"}, OutMessage("第二条"))
            api.valid.clear()
            await wechat.send({"touser": "oUser"}, OutMessage("third"))
            return fake.calls

    calls = run(scenario())
    assert [c[0] for c in calls] == [
        "/cgi-bin/token",
        "/cgi-bin/message/custom/send",
        "/cgi-bin/message/custom/send",
        "/cgi-bin/token",
        "/cgi-bin/message/custom/send",
    ]
    assert calls[1][2] == {"touser": "oUser", "msgtype": "text", "text": {"content": "第二条"}}


@pytest.mark.parametrize(
    ("errcode", "retryable"), [(45015, False), (45047, False), (-1, True), (45009, True)]
)
def test_window_closed_is_not_retried(errcode: int, retryable: bool) -> None:
    api = WeChatAPI()
    api.errcodes = [errcode]

    async def scenario() -> PlatformError:
        async with FakeAPI(api.routes()) as fake:
            with pytest.raises(PlatformError) as caught:
                await channel(fake.url).send({"touser": "oUser"}, OutMessage("x"))
            return caught.value

    assert run(scenario()).retryable is retryable


# -- the passive-reply window, through the base's real webhook flow ----------------------------


def webhook_request(plaintext: str) -> Any:
    """A signed push bound to a Sanic app without an agent (in-memory channel store)."""
    from uuid import uuid4

    from sanic import Sanic

    request = push(plaintext)
    request.app = Sanic(f"wx{uuid4().hex}")
    return request


def run_window(delay: float, window: float) -> tuple[Any, list[Any]]:
    """One push whose bot answers two texts after ``delay`` s; the webhook waits ``window`` s."""
    api = WeChatAPI()

    async def bot(message: Any) -> None:
        await asyncio.sleep(delay)
        await message.output_channel.send_text_message(message.sender_id, "第一条回复")
        await message.output_channel.send_text_message(message.sender_id, "second reply")

    async def scenario() -> tuple[Any, list[Any]]:
        async with FakeAPI(api.routes()) as fake:
            wechat = channel(fake.url)
            wechat.ACK_WITHIN_S = window  # type: ignore[misc]
            request = webhook_request(message(msg_id=f"{time.time_ns()}"))
            answer = await wechat.handle_webhook(request, bot)
            await asyncio.sleep(0.3)
            if answer.body != b"success":  # a passive reply: the rest waits for its writing
                assert not [path for path, _, _ in fake.calls if path.endswith("/custom/send")]
            wechat.answer_written(request)  # what the route does once the answer is written
            for _ in range(100):
                if not wechat._tasks:
                    break
                await asyncio.sleep(0.05)
            sent = [body for path, _, body in fake.calls if path.endswith("/custom/send")]
            return answer, sent

    return run(scenario())


def test_a_quick_answer_rides_on_the_http_answer_and_the_rest_goes_by_api() -> None:
    answer, sent = run_window(delay=0.0, window=2.0)
    assert decrypt_passive(answer.body)["Content"] == "第一条回复"
    assert [body["text"]["content"] for body in sent] == ["second reply"]


def test_a_late_answer_gets_success_and_everything_goes_by_api() -> None:
    answer, sent = run_window(delay=0.6, window=0.2)
    assert answer.body == b"success"
    assert [body["text"]["content"] for body in sent] == ["第一条回复", "second reply"]


def order_scenario() -> tuple[bytes, float, list[float]]:
    """One push through a real Sanic server whose bot answers two texts.

    Returns:
        The HTTP answer's body, when it was read, and when the API sends arrived.
    """
    from uuid import uuid4

    import aiohttp
    from sanic import Sanic

    api = WeChatAPI()
    sent_at: list[float] = []

    def send(request: web.Request) -> dict[str, Any]:
        sent_at.append(time.monotonic())
        return api.send(request)

    async def bot(message_: Any) -> None:
        await message_.output_channel.send_text_message(message_.sender_id, "第一条回复")
        await message_.output_channel.send_text_message(message_.sender_id, "second reply")

    async def scenario() -> tuple[bytes, float, list[float]]:
        async with FakeAPI(dict(api.routes(), **{"/cgi-bin/message/custom/send": send})) as fake:
            wechat = channel(fake.url)
            app = Sanic(f"wxorder{uuid4().hex}")
            app.blueprint(wechat.blueprint(bot), url_prefix="/webhooks/wechat")
            server = await app.create_server(host="127.0.0.1", port=0, return_asyncio_server=True)
            await server.startup()
            port = server.server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            pushed = push(message(msg_id=f"{time.time_ns()}"))
            url = f"http://127.0.0.1:{port}/webhooks/wechat/webhook?{pushed.query_string}"
            try:
                async with aiohttp.ClientSession() as session:
                    async with session.post(url, data=pushed.body) as answer:
                        body = await answer.read()
                        answered_at = time.monotonic()
                for _ in range(100):
                    if sent_at:
                        break
                    await asyncio.sleep(0.05)
            finally:
                server.close()
                await server.wait_closed()
            return body, answered_at, sent_at

    return run(scenario())


def test_the_rest_is_sent_after_the_passive_reply_is_written() -> None:
    """Through a real Sanic server: part 2 reaches the API only after the HTTP answer.

    In a child process: Sanic 21.12 cannot start a second app in a process (its start-up
    rewrites its own methods), and test_base_flow starts one.
    """
    import base64
    import subprocess
    import sys

    from bot.channels.messaging.base import PASSIVE_FOLLOW_UP_DELAY_S

    code = (
        "import base64, json\n"
        "from tests.bot.channels.test_wechat import order_scenario\n"
        "body, answered_at, sent_at = order_scenario()\n"
        "print(json.dumps([base64.b64encode(body).decode(), answered_at, sent_at]))\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parents[3],
        check=False,
    )
    assert child.returncode == 0, child.stderr[-2000:]
    body, answered_at, sent_at = json.loads(child.stdout.strip().splitlines()[-1])
    assert decrypt_passive(base64.b64decode(body))["Content"] == "第一条回复"
    assert len(sent_at) == 1
    assert sent_at[0] >= answered_at + PASSIVE_FOLLOW_UP_DELAY_S * 0.8
