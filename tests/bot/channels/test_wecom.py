"""The WeCom channel's doors and API client (bot/channels/messaging/wecom.py, wxapi.py).

Real Sanic requests through handshake/verify/parse/acknowledge; ``send`` against a loopback
fake of WeCom's API (documented errcodes). The whole path through a real Rasa server is in
tests/channels/test_wecom.py.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.channels.messaging.base import OutMessage, PlatformError
from bot.channels.messaging.http import AccessTokenCache
from bot.channels.messaging.wecom import TEXT_ONLY, WeComInput
from bot.channels.messaging.wxapi import split_utf8, utf8_len
from bot.channels.messaging.wxcrypto import WXBizMsgCrypt
from bot.channels.messaging.wxxml import parse_xml, render_xml
from tests.bot.channels.wx_helpers import FakeAPI, run, sanic_request

DOC = json.loads(
    (Path(__file__).parents[2] / "fixtures" / "channel_vectors.json").read_text("utf-8")
)["wecom"]
TOKEN, KEY, CORP = DOC["message"]["token"], DOC["message"]["encoding_aes_key"], "wx5823bf96d3bd56c7"


def channel(api_url: str = "http://127.0.0.1:9", now: float | None = None) -> WeComInput:
    wecom = WeComInput(CORP, "218", "s3cret", TOKEN, KEY, api_url)
    if now is not None:
        wecom.clock = lambda: now
    return wecom


def signed_post(crypt: WXBizMsgCrypt, plaintext: str, ts: str | None = None, **over: str) -> Any:
    encrypted = crypt.encrypt(plaintext)
    ts = ts or str(int(time.time()))
    params = {"msg_signature": crypt.signature(ts, "77", encrypted), "timestamp": ts, "nonce": "77"}
    params.update(over)
    body = render_xml({"ToUserName": CORP, "Encrypt": encrypted, "AgentID": "218"})
    return sanic_request("POST", params, body)


def text_xml(
    text: str, msg_id: str = "1001", msg_type: str = "text", user: str = "zhangsan"
) -> str:
    return render_xml(
        {
            "ToUserName": CORP,
            "FromUserName": user,
            "CreateTime": 1700000000,
            "MsgType": msg_type,
            "Content": text,
            "MsgId": msg_id,
            "AgentID": 218,
        }
    )


def test_documented_url_verification_answers_the_echostr() -> None:
    v = DOC["url_verification"]
    params = {k: v[k] for k in ("msg_signature", "timestamp", "nonce", "echostr")}
    answer = run(channel(now=float(v["timestamp"])).handshake(sanic_request("GET", params)))
    assert answer.status == 200
    assert answer.body.decode() == v["plaintext"]


def test_url_verification_with_unencoded_plus_signs() -> None:
    v = DOC["url_verification"]
    params = {k: v[k] for k in ("msg_signature", "timestamp", "nonce")}
    # The query parser turns a raw "+" into a space; the channel puts it back.
    request = sanic_request("GET", {**params, "echostr": v["echostr"].replace("+", " ")})
    answer = run(channel(now=float(v["timestamp"])).handshake(request))
    assert answer.body.decode() == v["plaintext"]


@pytest.mark.parametrize(
    "change",
    [
        {"msg_signature": "0" * 40},
        {"msg_signature": ""},
        {"timestamp": "1409659590"},
        {"nonce": "x"},
        {"echostr": "P9nAzCzy"},
    ],
)
def test_url_verification_refuses_forgeries(change: dict[str, str]) -> None:
    v = DOC["url_verification"]
    params = {k: v[k] for k in ("msg_signature", "timestamp", "nonce", "echostr")}
    params.update(change)
    answer = run(channel(now=float(v["timestamp"])).handshake(sanic_request("GET", params)))
    assert answer.status in (401, 403)
    assert v["plaintext"] not in answer.body.decode()


def test_post_is_not_a_handshake() -> None:
    assert run(channel().handshake(sanic_request("POST"))) is None


def test_documented_message_is_parsed() -> None:
    v = DOC["message"]
    params = {k: v[k] for k in ("msg_signature", "timestamp", "nonce")}
    body = render_xml({"ToUserName": CORP, "Encrypt": v["encrypted"], "AgentID": "218"})
    request = sanic_request("POST", params, body)
    wecom = channel(now=float(v["timestamp"]))
    assert wecom.verify(request) is None
    (inbound,) = wecom.parse(request)
    assert (inbound.delivery_id, inbound.user_id, inbound.text) == (
        "4561255354251345929",
        "mycreate",
        "hello",
    )
    assert inbound.address == {"touser": "mycreate"}


def test_stale_timestamp_is_refused() -> None:
    wecom = channel()
    crypt = WXBizMsgCrypt(TOKEN, KEY, CORP)
    old = str(int(time.time()) - 3600)
    assert wecom.verify(signed_post(crypt, text_xml("hi"), old)).status == 403
    future = str(int(time.time()) + 3600)
    assert wecom.verify(signed_post(crypt, text_xml("hi"), future)).status == 403
    for bad in ("-5", "1e9", "１７００", "9" * 40):
        assert wecom.verify(signed_post(crypt, text_xml("hi"), bad)).status == 403


def test_other_corp_and_bad_signature_are_refused() -> None:
    wecom = channel()
    other = WXBizMsgCrypt(TOKEN, KEY, "wwother")
    assert wecom.verify(signed_post(other, text_xml("hi"))).status == 403
    crypt = WXBizMsgCrypt(TOKEN, KEY, CORP)
    assert wecom.verify(signed_post(crypt, text_xml("hi"), msg_signature="f" * 40)).status == 403
    unsigned = sanic_request("POST", {"timestamp": str(int(time.time())), "nonce": "1"}, b"")
    assert wecom.verify(unsigned).status == 401


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\xff\xfe\x00",
        b"<xml><Encrypt></Encrypt></xml>",
        b'<!DOCTYPE x [<!ENTITY a "aaaa">]><xml><Encrypt>&a;</Encrypt></xml>',
        b"<xml><Encrypt>%%%</Encrypt></xml>",
    ],
)
def test_hostile_bodies_are_refused(body: bytes) -> None:
    ts = str(int(time.time()))
    params = {"msg_signature": "0" * 40, "timestamp": ts, "nonce": "1"}
    answer = channel().verify(sanic_request("POST", params, body))
    assert answer is not None and 400 <= answer.status < 500


def test_other_message_types_get_an_encrypted_text_only_reply() -> None:
    crypt = WXBizMsgCrypt(TOKEN, KEY, CORP)
    wecom = channel()
    request = signed_post(crypt, text_xml("", msg_type="image"))
    assert wecom.verify(request) is None
    answer = wecom.parse(request)
    outer = parse_xml(answer.body)
    inner = crypt.decrypt_signed(
        outer["MsgSignature"], outer["TimeStamp"], outer["Nonce"], outer["Encrypt"]
    )
    reply = parse_xml(inner)
    assert reply["Content"] == TEXT_ONLY
    assert reply["ToUserName"] == "zhangsan"
    assert reply["FromUserName"] == CORP


def test_events_are_ignored() -> None:
    crypt = WXBizMsgCrypt(TOKEN, KEY, CORP)
    wecom = channel()
    request = signed_post(crypt, text_xml("", msg_type="event"))
    assert wecom.verify(request) is None
    assert wecom.parse(request) == []


def test_acknowledge_is_an_empty_200() -> None:
    answer = channel().acknowledge(sanic_request("POST"), None)
    assert answer.status == 200 and answer.body == b""


def test_bad_configuration_is_named() -> None:
    with pytest.raises(ValueError, match="WECOM_AES_KEY"):
        WeComInput(CORP, "218", "s", TOKEN, "short", "http://x")
    with pytest.raises(ValueError, match="WECOM_AGENT_ID"):
        WeComInput(CORP, "abc", "s", TOKEN, KEY, "http://x")


# -- the API client ----------------------------------------------------------------------------


class WeComAPI:
    """Token and message/send routes with scripted errcodes."""

    def __init__(self) -> None:
        self.issued = 0
        self.valid: set[str] = set()
        self.errcodes: list[int] = []

    def gettoken(self, request: web.Request) -> dict[str, Any]:
        if request.query.get("corpsecret") != "s3cret":
            return {"errcode": 40001, "errmsg": "invalid credential"}
        self.issued += 1
        token = f"t{self.issued}"
        self.valid.add(token)
        return {"errcode": 0, "access_token": token, "expires_in": 7200}

    def send(self, request: web.Request) -> dict[str, Any]:
        if request.query.get("access_token") not in self.valid:
            return {"errcode": 42001, "errmsg": "expired"}
        if self.errcodes:
            return {"errcode": self.errcodes.pop(0), "errmsg": "scripted"}
        return {"errcode": 0, "errmsg": "ok"}

    def routes(self) -> dict[str, Any]:
        return {"/cgi-bin/gettoken": self.gettoken, "/cgi-bin/message/send": self.send}


def test_send_caches_the_token_and_renews_it_once_when_expired() -> None:
    api = WeComAPI()

    async def scenario() -> list[str]:
        async with FakeAPI(api.routes()) as fake:
            wecom = channel(fake.url)
            await wecom.send({"touser": "zhangsan"}, OutMessage("你好"))
            await wecom.send({"touser": "zhangsan"}, OutMessage("again"))
            api.valid.clear()  # the token expired early
            await wecom.send({"touser": "zhangsan"}, OutMessage("third"))
            return fake.paths()

    paths = run(scenario())
    assert paths == [
        "/cgi-bin/gettoken",
        "/cgi-bin/message/send",
        "/cgi-bin/message/send",
        "/cgi-bin/message/send",
        "/cgi-bin/gettoken",
        "/cgi-bin/message/send",
    ]


@pytest.mark.parametrize(
    ("errcode", "retryable"), [(-1, True), (45009, True), (40003, False), (45002, False)]
)
def test_errcodes_become_platform_errors(errcode: int, retryable: bool) -> None:
    api = WeComAPI()
    api.errcodes = [errcode]

    async def scenario() -> PlatformError:
        async with FakeAPI(api.routes()) as fake:
            with pytest.raises(PlatformError) as caught:
                await channel(fake.url).send({"touser": "u"}, OutMessage("x"))
            return caught.value

    error = run(scenario())
    assert error.retryable is retryable
    assert str(errcode) in str(error)


def test_a_wrong_secret_is_not_retryable() -> None:
    api = WeComAPI()

    async def scenario() -> PlatformError:
        async with FakeAPI(api.routes()) as fake:
            wecom = WeComInput(CORP, "218", "wrong", TOKEN, KEY, fake.url)
            with pytest.raises(PlatformError) as caught:
                await wecom.send({"touser": "u"}, OutMessage("x"))
            return caught.value

    assert run(scenario()).retryable is False


def test_http_failures_are_retryable_and_the_body_sent_is_documented() -> None:
    api = WeComAPI()
    down = {"n": 1}

    def flaky(request: web.Request) -> dict[str, Any]:
        if down["n"]:
            down["n"] -= 1
            return {"_status": 502}
        return api.send(request)

    async def scenario() -> tuple[bool, Any]:
        routes = {**api.routes(), "/cgi-bin/message/send": flaky}
        async with FakeAPI(routes) as fake:
            wecom = channel(fake.url)
            try:
                await wecom.send({"touser": "u"}, OutMessage("pick", (("Yes", "/affirm"),)))
            except PlatformError as error:
                first = error.retryable
            await wecom.send({"touser": "u"}, OutMessage("pick", (("Yes", "/affirm"),)))
            return first, fake.calls[-1][2]

    retryable, body = run(scenario())
    assert retryable is True
    assert body == {
        "touser": "u",
        "msgtype": "text",
        "agentid": 218,
        "text": {"content": "pick\n1. Yes"},
        "safe": 0,
    }


def test_unreachable_api_is_retryable() -> None:
    async def scenario() -> PlatformError:
        with pytest.raises(PlatformError) as caught:
            await channel("http://127.0.0.1:9").send({"touser": "u"}, OutMessage("x"))
        return caught.value

    assert run(scenario()).retryable is True


def test_token_cache_expires_before_expires_in() -> None:
    now = {"t": 0.0}
    fetched: list[int] = []

    async def fetch() -> tuple[str, float]:
        fetched.append(1)
        return f"tok{len(fetched)}", 7200.0

    async def scenario() -> list[str]:
        cache = AccessTokenCache(fetch, clock=lambda: now["t"])
        first = await cache.get()
        now["t"] = 6800.0
        second = await cache.get()
        now["t"] = 6901.0
        third = await cache.get()
        return [first, second, third]

    assert run(scenario()) == ["tok1", "tok1", "tok2"]


@pytest.mark.parametrize(
    "text",
    ["短" * 2000, "a" * 5000, "😀" * 1000, ("第一段。" * 100 + "\n\n") * 5, "x"],
)
def test_split_utf8_keeps_every_piece_within_the_byte_limit(text: str) -> None:
    pieces = split_utf8(text, 2048)
    assert "".join(pieces) == text
    assert all(utf8_len(piece) <= 2048 for piece in pieces)
    assert all(pieces)


def test_split_utf8_prefers_boundaries() -> None:
    text = "第一句话。" * 300 + "最后"
    pieces = split_utf8(text, 2048)
    assert pieces[0].endswith("。")
