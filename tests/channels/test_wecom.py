"""WeCom (企业微信) through the real Rasa server, against the fake WeCom API.

Callbacks are encrypted and signed by wechatpy (an independent WXBizMsgCrypt), so every test
also cross-checks the bot's own crypto. Covers: URL verification, zh and en answered in their
language, forged signatures refused with nothing stored, a redelivered MsgId answered once,
API failures (HTTP 5xx, errcode -1, an expired token) retried, a long founder message split
by UTF-8 bytes, numbered buttons and picking "1", and hostile bodies.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from wechatpy.enterprise.crypto import PrpCrypto, WeChatCrypto

from tests.channels.conftest import ChannelStack
from tests.channels.fakes.wecom import AES_KEY, MAX_CONTENT_BYTES, SECRET, FakeWeCom, message_xml
from tests.e2e.stack import wait_for

HAN = re.compile(r"[\u4e00-\u9fff]")
REPLY_TIMEOUT_S = 60.0
SETTLE_S = 2.0
VECTORS = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "channel_vectors.json").read_text("utf-8")
)["wecom"]


@pytest.fixture()
def wecom(channel_stack: ChannelStack) -> FakeWeCom:
    fake = channel_stack.fakes["wecom"]
    assert isinstance(fake, FakeWeCom)
    fake.reset()
    return fake


def new_user() -> str:
    return f"u{uuid.uuid4().hex[:12]}"


def replies(fake: FakeWeCom, user: str, n: int = 1) -> list[str]:
    """Waits for ``n`` accepted messages to ``user``; returns them all."""
    return list(
        wait_for(
            lambda: fake.delivered_to(user) if len(fake.delivered_to(user)) >= n else None,
            REPLY_TIMEOUT_S,
            f"{n} WeCom message(s) to {user}",
        )
    )


# -- the crypto, both ways against wechatpy (no server needed) --------------------------------


def test_vectors_decrypt_with_wechatpy() -> None:
    doc = VECTORS["url_verification"]
    crypto = WeChatCrypto(doc["token"], doc["encoding_aes_key"], doc["receive_id"])
    echo = crypto.check_signature(
        doc["msg_signature"], doc["timestamp"], doc["nonce"], doc["echostr"]
    )
    assert echo == doc["plaintext"]
    for vector in VECTORS["computed"]:
        key = base64.b64decode(vector["encoding_aes_key"] + "=")
        assert (
            PrpCrypto(key).decrypt(vector["encrypted"], vector["receive_id"]) == vector["message"]
        )


# -- through Rasa ------------------------------------------------------------------------------


def test_url_verification(channel_stack: ChannelStack, wecom: FakeWeCom) -> None:
    answer = wecom.verify_url(channel_stack.rasa_url, "8237592384723")
    assert (answer.status_code, answer.text) == (200, "8237592384723")
    forged = wecom.verify_url(channel_stack.rasa_url, "8237592384723", bad_signature=True)
    assert forged.status_code == 403
    assert "8237592384723" not in forged.text


@pytest.mark.parametrize(
    ("text", "chinese"), [("我的订单到哪了", True), ("where is my order?", False)]
)
def test_a_message_is_answered_in_its_language(
    channel_stack: ChannelStack, wecom: FakeWeCom, text: str, chinese: bool
) -> None:
    user = new_user()
    answer = wecom.post_text(channel_stack.rasa_url, user, text, str(time.time_ns()))
    assert answer.status_code == 200
    reply = "\n".join(replies(wecom, user))
    assert bool(HAN.search(reply)) is chinese, reply
    assert ("登录" in reply) if chinese else ("sign in" in reply.lower()), reply
    assert channel_stack.user_texts(f"wecom:{user}") == [text]
    assert len(wecom.calls_to("/cgi-bin/gettoken")) <= 1  # the access token is cached


def test_a_forged_signature_is_refused_and_stores_nothing(
    channel_stack: ChannelStack, wecom: FakeWeCom
) -> None:
    user = new_user()
    xml = message_xml(user, "我的订单到哪了", "1")
    assert (
        wecom.post_xml(channel_stack.rasa_url, xml, params={"msg_signature": "a" * 40}).status_code
        == 403
    )
    assert (
        wecom.post_xml(channel_stack.rasa_url, xml, params={"timestamp": "1409659813"}).status_code
        == 403
    )
    no_signature = wecom.deliver(
        channel_stack.rasa_url, "<xml/>", params={"timestamp": "1", "nonce": "1"}
    )
    assert no_signature.status_code == 401
    # Signed with the right token but encrypted for another corp.
    other = PrpCrypto(base64.b64decode(AES_KEY + "=")).encrypt(xml, "wwanothercorp").decode()
    params = wecom.signed_params(other)
    assert (
        wecom.deliver(channel_stack.rasa_url, wecom.envelope(other), params=params).status_code
        == 403
    )
    time.sleep(SETTLE_S)
    assert f"wecom:{user}" not in channel_stack.senders()
    assert wecom.sent(user) == []


def test_a_redelivered_message_is_answered_once(
    channel_stack: ChannelStack, wecom: FakeWeCom
) -> None:
    user, msg_id = new_user(), str(time.time_ns())
    assert wecom.post_text(channel_stack.rasa_url, user, "hello", msg_id).status_code == 200
    first = replies(wecom, user)
    for _ in range(3):  # WeCom retries up to three times
        assert wecom.post_text(channel_stack.rasa_url, user, "hello", msg_id).status_code == 200
    time.sleep(SETTLE_S)
    assert wecom.delivered_to(user) == first
    assert channel_stack.user_texts(f"wecom:{user}") == ["hello"]


def test_api_failures_are_retried(channel_stack: ChannelStack, wecom: FakeWeCom) -> None:
    user = new_user()
    wecom.fail_next(1, 502, path=r"/cgi-bin/message/send")
    wecom.fail_errcode(-1)  # then "system busy"
    assert (
        wecom.post_text(channel_stack.rasa_url, user, "你好", str(time.time_ns())).status_code
        == 200
    )
    (reply,) = replies(wecom, user)
    attempts = wecom.sent_texts(user)
    assert len(attempts) >= 3 and attempts[0] == attempts[-1] == reply


def test_an_expired_token_is_renewed_once(channel_stack: ChannelStack, wecom: FakeWeCom) -> None:
    user = new_user()
    wecom.post_text(channel_stack.rasa_url, user, "hello", str(time.time_ns()))
    replies(wecom, user)
    fetched = len(wecom.calls_to("/cgi-bin/gettoken"))
    wecom.expire_tokens()
    wecom.post_text(channel_stack.rasa_url, user, "are you a bot?", str(time.time_ns()))
    replies(wecom, user, 2)
    assert len(wecom.calls_to("/cgi-bin/gettoken")) == fetched + 1


def test_a_long_founder_message_is_split_by_bytes(
    channel_stack: ChannelStack, wecom: FakeWeCom
) -> None:
    user = new_user()
    wecom.post_text(channel_stack.rasa_url, user, "你好", str(time.time_ns()))
    before = len(replies(wecom, user))
    text = "您好，这是店主的详细回复。" * 110 + "😀" * 40  # > 4,000 UTF-8 bytes
    answer = channel_stack.founder(f"wecom:{user}", "message", {"text": text})
    assert answer.status_code == 200, answer.text
    parts = replies(wecom, user, before + 3)[before:]
    assert all(len(part.encode("utf-8")) <= MAX_CONTENT_BYTES for part in parts)
    assert re.search(r"\(1/\d\)$", parts[0]), parts[0][-20:]
    joined = "".join(re.sub(r"\s*\(\d/\d\)$", "", part) for part in parts)
    assert joined.replace("\n", "").replace(" ", "") == text.replace(" ", "")


def test_buttons_are_numbered_and_1_picks_the_first(
    channel_stack: ChannelStack, wecom: FakeWeCom
) -> None:
    user = new_user()
    wecom.post_text(channel_stack.rasa_url, user, "你是机器人吗？", str(time.time_ns()))
    reply = "\n".join(replies(wecom, user))
    assert "1. 转人工" in reply, reply
    wecom.post_text(channel_stack.rasa_url, user, "1", str(time.time_ns()))
    events = wait_for(
        lambda: [e for e in channel_stack.events(f"wecom:{user}", "user")][1:] or None,
        REPLY_TIMEOUT_S,
        "the second message",
    )
    assert events[0]["parse_data"]["intent"]["name"] == "human_handoff", events[0]


@pytest.mark.parametrize(
    "inner",
    [
        '<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><Content>&x;</Content></xml>',
        '<!DOCTYPE a [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]><xml>&b;</xml>',
        "<xml><FromUserName>x</FromUserName><Content>\x01\x02</Content></xml>",
        "not xml",
    ],
)
def test_hostile_encrypted_bodies_are_refused(
    channel_stack: ChannelStack, wecom: FakeWeCom, inner: str
) -> None:
    before = channel_stack.senders()
    answer = wecom.post_xml(channel_stack.rasa_url, inner)
    assert answer.status_code == 400
    assert channel_stack.senders() == before


def test_hostile_outer_bodies_are_refused(channel_stack: ChannelStack, wecom: FakeWeCom) -> None:
    url = channel_stack.rasa_url
    xxe = (
        '<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><Encrypt>&x;</Encrypt></xml>'
    )
    params = wecom.signed_params("x")
    assert wecom.deliver(url, xxe, params=params).status_code in (400, 403)
    assert wecom.deliver(url, b"\xff\xfe\x00\x01", params=params).status_code in (400, 403)
    assert (
        wecom.deliver(url, b"<xml>" + b"A" * 300_000 + b"</xml>", params=params).status_code == 413
    )
    assert wecom.deliver(url, "", method="PUT").status_code == 405


def test_huge_or_odd_text_gets_no_crash(channel_stack: ChannelStack, wecom: FakeWeCom) -> None:
    user = new_user()
    xml = message_xml(user, "订" * 5000, str(time.time_ns()))
    assert wecom.post_xml(channel_stack.rasa_url, xml).status_code < 500
    odd = message_xml(user, "hi\u202e\u200b<script>alert(1)</script>", str(time.time_ns()))
    assert wecom.post_xml(channel_stack.rasa_url, odd).status_code == 200
    replies(wecom, user)
    log = channel_stack.rasa.tail(2000)
    assert SECRET not in log
    assert not any(token in log for token in wecom.tokens)


def test_simultaneous_redeliveries_are_processed_once(
    channel_stack: ChannelStack, wecom: FakeWeCom
) -> None:
    user, mid = new_user(), str(time.time_ns())
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(
            pool.map(
                lambda _: wecom.post_text(channel_stack.rasa_url, user, "hello", mid), range(4)
            )
        )
    assert all(answer.status_code == 200 for answer in answers)
    first = replies(wecom, user)
    time.sleep(SETTLE_S)
    assert wecom.delivered_to(user) == first
    assert channel_stack.user_texts(f"wecom:{user}") == ["hello"]
