"""The Feishu / Lark channel (Rasa environment): wire format, signature, parsing, sends.

Vectors: tests/fixtures/channel_vectors.json["feishu"] (the documented decrypt example and
values computed by the main environment's independent fake). Sends go to a loopback fake of
the Open Platform (``wx_helpers.FakeAPI``).
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
from bot.channels.messaging.feishu import (
    CREATE_PATH,
    MAX_SKEW_S,
    REPLY_WINDOW_S,
    TOKEN_PATH,
    FeishuInput,
)
from bot.channels.messaging.feishu_protocol import (
    FeishuCryptoError,
    card_of,
    decrypt,
    encrypt,
    message_text,
    signature,
)
from tests.bot.channels.wx_helpers import FakeAPI, run

VECTORS = json.loads(
    (Path(__file__).parents[2] / "fixtures" / "channel_vectors.json").read_text("utf-8")
)["feishu"]
TOKEN = "v-token"
KEY = "kudryavka-ENCRYPT-key"
OPEN_ID = "ou_7d8a6e6df7621556ce0d21922b676706"
CHAT_ID = "oc_5ce6d572455d361153b7cb51da133945"


def channel(api_url: str = "https://open.feishu.cn") -> FeishuInput:
    return FeishuInput("cli_app", "app-secret", TOKEN, KEY, api_url)


def request(body: bytes, headers: dict[str, str] | None = None) -> Request:
    """A real Sanic request to the webhook."""
    req = Request(b"/webhooks/feishu/webhook", Header(headers or {}), "1.1", "POST", None, None)
    req.body = body
    return req


def signed(body: bytes, *, timestamp: int | None = None, key: str = KEY) -> Request:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "X-Lark-Request-Timestamp": ts,
        "X-Lark-Request-Nonce": "n0nce",
        "X-Lark-Signature": signature(ts, "n0nce", key, body),
    }
    return request(body, headers)


def event(
    text: str = "你好",
    *,
    chat_type: str = "p2p",
    token: str = TOKEN,
    sender_type: str = "user",
    message_type: str = "text",
) -> dict[str, Any]:
    return {
        "schema": "2.0",
        "header": {"event_id": "ev-1", "token": token, "event_type": "im.message.receive_v1"},
        "event": {
            "sender": {"sender_id": {"open_id": OPEN_ID}, "sender_type": sender_type},
            "message": {
                "message_id": "om_1",
                "chat_id": CHAT_ID,
                "chat_type": chat_type,
                "message_type": message_type,
                "content": json.dumps({"text": text}),
                "mentions": [{"key": "@_user_1", "name": "Leaf"}],
            },
        },
    }


def encrypted(payload: dict[str, Any]) -> bytes:
    return json.dumps({"encrypt": encrypt(KEY, json.dumps(payload), b"\x01" * 16)}).encode()


# -- wire format ---------------------------------------------------------------------------


def test_documented_example_decrypts() -> None:
    example = VECTORS["decrypt_example"]
    assert decrypt(example["encrypt_key"], example["encrypt"]) == example["plaintext"]


@pytest.mark.parametrize("vector", VECTORS["encrypt_computed"])
def test_computed_bodies(vector: dict[str, str]) -> None:
    iv = bytes.fromhex(vector["iv_hex"])
    assert encrypt(vector["encrypt_key"], vector["plaintext"], iv) == vector["encrypt"]
    assert decrypt(vector["encrypt_key"], vector["encrypt"]) == vector["plaintext"]


@pytest.mark.parametrize("vector", VECTORS["signature_computed"])
def test_signature_vectors(vector: dict[str, str]) -> None:
    body = vector["body"].encode("utf-8")
    got = signature(vector["timestamp"], vector["nonce"], vector["encrypt_key"], body)
    assert got == vector["signature"]


@pytest.mark.parametrize(
    "value",
    ["", "not base64 at all!", "AAAA", "é", "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk"],
)
def test_garbage_does_not_decrypt(value: str) -> None:
    with pytest.raises(FeishuCryptoError):
        decrypt("test key", value)


def test_wrong_key_does_not_decrypt() -> None:
    with pytest.raises(FeishuCryptoError):
        decrypt("another key", VECTORS["decrypt_example"]["encrypt"])


def test_text_mentions_removed_and_post_read() -> None:
    message = {
        "message_type": "text",
        "content": json.dumps({"text": "@_user_1 我的订单 @_all"}),
        "mentions": [{"key": "@_user_1"}],
    }
    assert message_text(message) == "我的订单"
    post = {
        "message_type": "post",
        "content": json.dumps(
            {
                "title": "Order",
                "content": [
                    [{"tag": "text", "text": "where is "}, {"tag": "at", "user_id": "x"}],
                    [{"tag": "a", "text": "LB-10042", "href": "https://x"}],
                ],
            }
        ),
    }
    assert message_text(post) == "Order\nwhere is \nLB-10042"
    assert message_text({"message_type": "image", "content": '{"image_key": "k"}'}) is None
    assert message_text({"message_type": "text", "content": "{not json"}) is None
    assert message_text({"message_type": "text", "content": '["a"]'}) is None


def test_card_buttons_carry_payload() -> None:
    card = card_of("选一个 / Pick one", (("是", "/affirm"), ("否", "/deny")))
    actions = card["elements"][1]["actions"]
    assert [a["value"] for a in actions] == [{"payload": "/affirm"}, {"payload": "/deny"}]
    assert card["elements"][0]["text"]["content"] == "选一个 / Pick one"


# -- handshake and verification ------------------------------------------------------------


def test_url_verification_plain_and_encrypted() -> None:
    feishu = channel()
    check = {"challenge": "ajls384kdjx98XX", "token": TOKEN, "type": "url_verification"}
    for body in (json.dumps(check).encode(), encrypted(check)):
        answer = run(feishu.handshake(request(body)))
        assert answer is not None and answer.status == 200
        assert json.loads(answer.body) == {"challenge": "ajls384kdjx98XX"}
    forged = dict(check, token="guess")
    answer = run(feishu.handshake(request(json.dumps(forged).encode())))
    assert answer is not None and answer.status == 403
    assert run(feishu.handshake(request(json.dumps(event()).encode()))) is None
    assert run(feishu.handshake(request(b"\xff\xfe binary"))) is None


def test_signature_checked() -> None:
    feishu = channel()
    body = encrypted(event())
    assert feishu.verify(signed(body)) is None
    assert feishu.verify(request(body)).status == 401  # type: ignore[union-attr]
    assert feishu.verify(signed(body, key="wrong")).status == 403  # type: ignore[union-attr]
    tampered = signed(body)
    tampered.body = body[:-2] + b"x}"
    assert feishu.verify(tampered).status == 403  # type: ignore[union-attr]


def test_clock_skew_edges() -> None:
    feishu = channel()
    body = encrypted(event())
    now = int(time.time())
    assert feishu.verify(signed(body, timestamp=now - MAX_SKEW_S + 60)) is None
    assert feishu.verify(signed(body, timestamp=now + MAX_SKEW_S - 60)) is None
    for ts in (now - MAX_SKEW_S - 60, now + MAX_SKEW_S + 60):
        assert feishu.verify(signed(body, timestamp=ts)).status == 401  # type: ignore[union-attr]
    bad = signed(body)
    bad.headers["X-Lark-Request-Timestamp"] = "１７００"  # full-width digits
    assert feishu.verify(bad).status == 401  # type: ignore[union-attr]


def test_wrong_verification_token_refused() -> None:
    body = encrypted(event(token="someone-else"))
    assert channel().verify(signed(body)).status == 403  # type: ignore[union-attr]


# -- parsing -------------------------------------------------------------------------------


def parsed(payload: dict[str, Any]) -> list[Inbound]:
    result = channel().parse(signed(encrypted(payload)))
    assert isinstance(result, list)
    return result


def test_private_message() -> None:
    [inbound] = parsed(event("@_user_1 hello"))
    assert inbound.delivery_id == "ev-1"
    assert inbound.user_id == OPEN_ID
    assert inbound.text == "hello"
    assert inbound.address["message_id"] == "om_1"
    assert inbound.address["chat_type"] == "p2p"


def test_group_message_is_anonymous_per_group() -> None:
    [inbound] = parsed(event("你好", chat_type="group"))
    assert inbound.user_id == f"{OPEN_ID}@{CHAT_ID}"
    assert inbound.address["chat_type"] == "group"


def test_nothing_to_answer() -> None:
    assert parsed(event(sender_type="app")) == []
    assert parsed(event(message_type="image")) == []
    assert parsed(event("@_user_1")) == []  # only a mention
    assert parsed({"schema": "1.0", "uuid": "x", "token": TOKEN, "event": {}}) == []
    other = dict(event(), header={"event_id": "e", "token": TOKEN, "event_type": "im.chat.x"})
    assert parsed(other) == []


def test_card_press() -> None:
    payload = {
        "schema": "2.0",
        "header": {"event_id": "ev-2", "token": TOKEN, "event_type": "card.action.trigger"},
        "event": {
            "operator": {"open_id": OPEN_ID},
            "action": {"tag": "button", "value": {"payload": "/affirm"}},
            "context": {"open_message_id": "om_card", "open_chat_id": CHAT_ID},
        },
    }
    [inbound] = parsed(payload)
    assert (inbound.user_id, inbound.text) == (OPEN_ID, "/affirm")
    private = {"chat_id": "", "chat_type": "p2p", "open_id": OPEN_ID}
    assert inbound.address == private
    # The card's value does not say where the press came from (a card forwarded to a group
    # keeps its value): a press is always the presser's private conversation, answered by a
    # new message to their open_id, never a reply in the card's chat.
    for value in ({"payload": "/affirm", "group": True}, {"payload": "/affirm", "group": False}):
        payload["event"]["action"]["value"] = value
        [press] = parsed(payload)
        assert (press.user_id, press.address) == (OPEN_ID, private)
    path, body = channel().request_of(private, OutMessage("hi"))
    assert path.endswith("receive_id_type=open_id") and body["receive_id"] == OPEN_ID


def test_undecryptable_or_bad_event_is_400() -> None:
    feishu = channel()
    body = json.dumps({"encrypt": "AAAA"}).encode()
    req = signed(body)
    assert feishu.verify(req) is None  # authentic, unreadable
    assert feishu.parse(req).status == 400  # type: ignore[union-attr]
    no_id = event()
    no_id["header"]["event_id"] = "x" * 300
    assert feishu.parse(signed(encrypted(no_id))).status == 400  # type: ignore[union-attr]


# -- sends ---------------------------------------------------------------------------------


def fake_api(fail: dict[str, Any] | None = None) -> FakeAPI:
    tokens = {"n": 0}

    def token(_: web.Request) -> dict[str, Any]:
        tokens["n"] += 1
        return {"code": 0, "tenant_access_token": f"t-{tokens['n']}", "expire": 7200}

    def send(_: web.Request) -> dict[str, Any]:
        if fail:
            return dict(fail)
        return {"code": 0, "msg": "success", "data": {"message_id": "om_x"}}

    return FakeAPI(
        routes={TOKEN_PATH: token, CREATE_PATH: send, "/open-apis/im/v1/messages/om_1/reply": send}
    )


def address(age: float = 0.0, chat_type: str = "p2p") -> dict[str, Any]:
    return {
        "message_id": "om_1",
        "chat_id": CHAT_ID,
        "chat_type": chat_type,
        "open_id": OPEN_ID,
        "received_at": time.time() - age,
    }


def test_reply_then_create_with_one_cached_token() -> None:
    async def scenario() -> list[tuple[str, dict[str, str], Any]]:
        async with fake_api() as api:
            feishu = channel(api.url)
            await feishu.send(address(), OutMessage("您好"))
            await feishu.send(address(age=REPLY_WINDOW_S + 1), OutMessage("later"))
            await feishu.send(
                address(age=REPLY_WINDOW_S + 1, chat_type="group"),
                OutMessage("pick", buttons=(("A", "/a"),)),
            )
            return api.calls

    calls = run(scenario())
    assert [path for path, _, _ in calls] == [
        TOKEN_PATH,
        "/open-apis/im/v1/messages/om_1/reply",
        CREATE_PATH,
        CREATE_PATH,
    ]
    assert json.loads(calls[1][2]["content"]) == {"text": "您好"}
    assert calls[2][1] == {"receive_id_type": "open_id"} and calls[2][2]["receive_id"] == OPEN_ID
    assert calls[3][1] == {"receive_id_type": "chat_id"} and calls[3][2]["receive_id"] == CHAT_ID
    assert calls[3][2]["msg_type"] == "interactive"


@pytest.mark.parametrize(
    ("answer", "retryable"),
    [
        ({"_status": 400, "code": 99991663, "msg": "token invalid"}, True),
        ({"_status": 429, "code": 99991400, "msg": "rate"}, True),
        ({"_status": 503, "code": 1, "msg": "busy"}, True),
        ({"_status": 400, "code": 230001, "msg": "invalid"}, False),
        ({"_status": 400, "code": 230002, "msg": "bot not in chat"}, False),
    ],
)
def test_failures_classified(answer: dict[str, Any], retryable: bool) -> None:
    async def scenario() -> PlatformError:
        async with fake_api(fail=answer) as api:
            with pytest.raises(PlatformError) as caught:
                await channel(api.url).send(address(), OutMessage("hi"))
            return caught.value

    error = run(scenario())
    assert error.retryable is retryable
    assert "hi" not in str(error)


def test_invalid_token_is_fetched_again_and_gone_message_created() -> None:
    async def scenario() -> list[str]:
        async with fake_api(fail={"_status": 400, "code": 99991663}) as api:
            feishu = channel(api.url)
            with pytest.raises(PlatformError):
                await feishu.send(address(), OutMessage("hi"))
            api.routes[CREATE_PATH] = lambda _: {"code": 0}
            api.routes["/open-apis/im/v1/messages/om_1/reply"] = lambda _: {
                "_status": 400,
                "code": 230011,
            }
            with pytest.raises(PlatformError) as caught:
                await feishu.send(address(), OutMessage("hi"))
            assert caught.value.retryable
            await feishu.send(address(), OutMessage("hi"))  # the retry creates
            return [path for path, _, _ in api.calls]

    assert run(scenario()) == [
        TOKEN_PATH,
        "/open-apis/im/v1/messages/om_1/reply",
        TOKEN_PATH,
        "/open-apis/im/v1/messages/om_1/reply",
        CREATE_PATH,
    ]


def test_token_refused_is_not_retryable() -> None:
    async def scenario() -> PlatformError:
        api = FakeAPI(routes={TOKEN_PATH: lambda _: {"_status": 400, "code": 10014}})
        async with api:
            with pytest.raises(PlatformError) as caught:
                await channel(api.url).send(address(), OutMessage("hi"))
            return caught.value

    error = run(scenario())
    assert not error.retryable and "app-secret" not in str(error)


def test_long_text_fits_the_card_limit() -> None:
    feishu = channel()
    worst = '"\U0001f600\\' * (feishu.MAX_CHARS // 2)
    parts = feishu.rendered(OutMessage(worst, buttons=(("A", "/a"),)))
    assert len(parts) > 1
    for part in parts:
        _, body = feishu.request_of(address(), part)
        size = len(json.dumps(body).encode("utf-8"))  # aiohttp's json=: ASCII escapes
        assert size <= 30 * 1024, size
