"""WeChat Official Account (微信公众号) through the real Rasa server, against the fake WeChat API.

Pushes are encrypted and signed by wechatpy and passive replies decrypted (and their
signatures checked) by wechatpy, so every test cross-checks the bot's own WXBizMsgCrypt.
Covers: server verification, zh and en answered in their language as a passive reply within
the 5-second window, forged signatures and plaintext mode refused with nothing stored, a
redelivered MsgId answered once, founder messages through the customer-service API (retried
on failure, not retried outside the 48-hour window, split by UTF-8 bytes), numbered buttons
and picking "1", the subscribe welcome, other message types and hostile bodies.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from pathlib import Path

import httpx
import pytest
from wechatpy.crypto import PrpCrypto

from tests.channels.conftest import ChannelStack
from tests.channels.fakes.wechat import (
    MAX_CONTENT_BYTES,
    FakeWeChat,
    event_xml,
    message_xml,
)
from tests.e2e.stack import wait_for

HAN = re.compile(r"[\u4e00-\u9fff]")
REPLY_TIMEOUT_S = 60.0
SETTLE_S = 2.0
VECTORS = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "channel_vectors.json").read_text("utf-8")
)["wechat"]


@pytest.fixture()
def wechat(channel_stack: ChannelStack) -> FakeWeChat:
    fake = channel_stack.fakes["wechat"]
    assert isinstance(fake, FakeWeChat)
    fake.reset()
    return fake


def new_user() -> str:
    return f"o{uuid.uuid4().hex[:16]}"


def msg_id() -> str:
    return str(time.time_ns())


def answered(fake: FakeWeChat, answer: httpx.Response, user: str) -> str:
    """The bot's answer to one push: the passive reply plus any API messages after it."""
    assert answer.status_code == 200, answer.text
    passive = fake.passive_reply(answer)
    texts = [passive["Content"]] if passive else []
    if passive:
        assert passive["ToUserName"] == user and passive["MsgType"] == "text"
    time.sleep(SETTLE_S)
    if not texts:
        texts = list(wait_for(lambda: fake.delivered_to(user) or None, REPLY_TIMEOUT_S, "a reply"))
    return "\n".join(texts + fake.delivered_to(user))


def test_vectors_decrypt_with_wechatpy() -> None:
    for vector in VECTORS["computed"]:
        key = base64.b64decode(vector["encoding_aes_key"] + "=")
        assert (
            PrpCrypto(key).decrypt(vector["encrypted"], vector["receive_id"]) == vector["message"]
        )


def test_server_verification(channel_stack: ChannelStack, wechat: FakeWeChat) -> None:
    answer = wechat.verify_server(channel_stack.rasa_url, "4998271345")
    assert (answer.status_code, answer.text) == (200, "4998271345")
    assert wechat.verify_server(channel_stack.rasa_url, "4998271345", bad=True).status_code == 403


@pytest.mark.parametrize(
    ("text", "chinese"), [("我的订单到哪了", True), ("where is my order?", False)]
)
def test_a_message_gets_a_passive_reply_in_its_language(
    channel_stack: ChannelStack, wechat: FakeWeChat, text: str, chinese: bool
) -> None:
    user = new_user()
    started = time.monotonic()
    answer = wechat.push_text(channel_stack.rasa_url, user, text, msg_id())
    assert time.monotonic() - started < 5.0  # WeChat gives up after 5 s
    passive = wechat.passive_reply(answer)
    assert passive is not None, answer.text  # the bot answered within the window
    reply = answered(wechat, answer, user)
    assert bool(HAN.search(reply)) is chinese, reply
    assert ("登录" in reply) if chinese else ("sign in" in reply.lower()), reply
    assert channel_stack.user_texts(f"wechat:{user}") == [text]


def test_forged_pushes_and_plaintext_mode_are_refused(
    channel_stack: ChannelStack, wechat: FakeWeChat
) -> None:
    user, url = new_user(), channel_stack.rasa_url
    xml = message_xml(user, "我的订单到哪了", msg_id())
    assert wechat.push(url, xml, params={"msg_signature": "b" * 40}).status_code == 403
    assert wechat.push(url, xml, params={"msg_signature": ""}).status_code == 401
    assert wechat.push(url, xml, params={"encrypt_type": ""}).status_code == 403
    assert wechat.push(url, xml, params={"timestamp": "1500000000"}).status_code == 403
    plaintext = wechat.deliver(url, xml, params={"signature": "0" * 40, "timestamp": "1"})
    assert plaintext.status_code == 403
    time.sleep(SETTLE_S)
    assert f"wechat:{user}" not in channel_stack.senders()
    assert wechat.sent(user) == []


def test_a_redelivered_message_is_answered_once(
    channel_stack: ChannelStack, wechat: FakeWeChat
) -> None:
    user, mid = new_user(), msg_id()
    first = wechat.push_text(channel_stack.rasa_url, user, "hello", mid)
    assert wechat.passive_reply(first) is not None
    for _ in range(3):  # WeChat retries three times
        again = wechat.push_text(channel_stack.rasa_url, user, "hello", mid)
        assert (again.status_code, again.text) == (200, "success")
    time.sleep(SETTLE_S)
    assert wechat.delivered_to(user) == []
    assert channel_stack.user_texts(f"wechat:{user}") == ["hello"]


def converse(channel_stack: ChannelStack, wechat: FakeWeChat, user: str) -> None:
    """One message from ``user``, so the conversation exists (48-hour window open)."""
    answer = wechat.push_text(channel_stack.rasa_url, user, "你好", msg_id())
    answered(wechat, answer, user)


def test_founder_messages_use_the_api_and_are_retried(
    channel_stack: ChannelStack, wechat: FakeWeChat
) -> None:
    user = new_user()
    converse(channel_stack, wechat, user)
    before = len(wechat.delivered_to(user))
    wechat.fail_next(1, 503, path=r"/cgi-bin/message/custom/send")
    wechat.fail_errcode(45009)  # then the frequency limit
    answer = channel_stack.founder(f"wechat:{user}", "message", {"text": "店主来了，我帮你看看。"})
    assert answer.status_code == 200, answer.text
    wait_for(lambda: len(wechat.delivered_to(user)) > before or None, REPLY_TIMEOUT_S, "a send")
    assert wechat.delivered_to(user)[-1] == "店主来了，我帮你看看。"
    assert len(wechat.sent(user)) >= before + 3


def test_outside_the_48_hour_window_nothing_is_retried(
    channel_stack: ChannelStack, wechat: FakeWeChat
) -> None:
    user = new_user()
    converse(channel_stack, wechat, user)
    wechat.close_window(user)
    attempts = len(wechat.sent(user))
    channel_stack.founder(f"wechat:{user}", "message", {"text": "Still there?"})
    wait_for(lambda: len(wechat.sent(user)) > attempts or None, REPLY_TIMEOUT_S, "an attempt")
    time.sleep(SETTLE_S * 2)
    assert len(wechat.sent(user)) == attempts + 1  # errcode 45015: not retried
    wait_for(
        lambda: "Still there?" in channel_stack.bot_texts(f"wechat:{user}") or None,
        REPLY_TIMEOUT_S,
        "the founder message in the tracker",
    )


def test_a_long_founder_message_is_split_by_bytes(
    channel_stack: ChannelStack, wechat: FakeWeChat
) -> None:
    user = new_user()
    converse(channel_stack, wechat, user)
    before = len(wechat.delivered_to(user))
    text = "谢谢您的耐心等待！" * 120 + "🍵" * 30
    assert channel_stack.founder(f"wechat:{user}", "message", {"text": text}).status_code == 200
    wait_for(
        lambda: (
            wechat.delivered_to(user)[before:]
            if len(wechat.delivered_to(user)) >= before + 2
            else None
        ),
        REPLY_TIMEOUT_S,
        "the parts",
    )
    time.sleep(SETTLE_S)
    parts = wechat.delivered_to(user)[before:]
    assert len(parts) >= 2
    assert all(len(part.encode("utf-8")) <= MAX_CONTENT_BYTES for part in parts)
    joined = "".join(re.sub(r"\s*\(\d/\d\)$", "", part) for part in parts)
    assert joined.replace("\n", "") == text


def test_buttons_are_numbered_and_1_picks_the_first(
    channel_stack: ChannelStack, wechat: FakeWeChat
) -> None:
    user = new_user()
    answer = wechat.push_text(channel_stack.rasa_url, user, "你是机器人吗？", msg_id())
    assert "1. 转人工" in answered(wechat, answer, user)
    wechat.push_text(channel_stack.rasa_url, user, "1", msg_id())
    events = wait_for(
        lambda: channel_stack.events(f"wechat:{user}", "user")[1:] or None,
        REPLY_TIMEOUT_S,
        "the second message",
    )
    assert events[0]["parse_data"]["intent"]["name"] == "human_handoff", events[0]


def test_subscribe_gets_a_welcome(channel_stack: ChannelStack, wechat: FakeWeChat) -> None:
    user = new_user()
    answer = wechat.push(channel_stack.rasa_url, event_xml(user, "subscribe"), user=user)
    assert answered(wechat, answer, user).strip()
    assert (
        channel_stack.events(f"wechat:{user}", "user")[0]["parse_data"]["intent"]["name"] == "greet"
    )
    leave = wechat.push(channel_stack.rasa_url, event_xml(user, "unsubscribe"), user=user)
    assert (leave.status_code, leave.text) == (200, "success")


def test_other_message_types_get_a_text_only_reply(
    channel_stack: ChannelStack, wechat: FakeWeChat
) -> None:
    user = new_user()
    answer = wechat.push(channel_stack.rasa_url, message_xml(user, "", msg_id(), msg_type="image"))
    passive = wechat.passive_reply(answer)
    assert passive is not None and "text" in passive["Content"] and "文字" in passive["Content"]
    assert f"wechat:{user}" not in channel_stack.senders()


@pytest.mark.parametrize(
    "inner",
    [
        '<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><Content>&x;</Content></xml>',
        '<!DOCTYPE a [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]><xml>&b;</xml>',
        "<xml><FromUserName>o</FromUserName><Content>\x00</Content></xml>",
    ],
)
def test_hostile_bodies_are_refused(
    channel_stack: ChannelStack, wechat: FakeWeChat, inner: str
) -> None:
    before = channel_stack.senders()
    assert wechat.push(channel_stack.rasa_url, inner).status_code == 400
    url = channel_stack.rasa_url
    outer = (
        '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Encrypt>&e;</Encrypt></xml>'
    )
    params = {
        "encrypt_type": "aes",
        "msg_signature": "0" * 40,
        "timestamp": str(int(time.time())),
        "nonce": "1",
    }
    assert wechat.deliver(url, outer, params=params).status_code in (400, 403)
    assert channel_stack.senders() == before
