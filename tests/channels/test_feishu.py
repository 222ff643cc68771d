"""Feishu / Lark (飞书) through the real Rasa server, against the fake Open Platform.

Deliveries are encrypted and signed by the fake (``cryptography`` here, independently of the
bot's ``feishu_protocol``), so every test also cross-checks the bot's crypto. Covers: the URL
challenge, zh and en answered in their language, forged or stale signatures and foreign
verification tokens refused with nothing stored, a redelivered event answered once, API
failures and an expired token retried, a long founder message split, buttons as a card whose
press is understood, and hostile bodies.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from pathlib import Path

import pytest

from tests.channels.conftest import ChannelStack
from tests.channels.fakes.base import Call
from tests.channels.fakes.feishu import FakeFeishu, decrypt_body, encrypt_body, sign_body
from tests.e2e.stack import wait_for

HAN = re.compile(r"[\u4e00-\u9fff]")
REPLY_TIMEOUT_S = 60.0
SETTLE_S = 2.0
MAX_CHARS = 4000
VECTORS = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "channel_vectors.json").read_text("utf-8")
)["feishu"]


@pytest.fixture()
def feishu(channel_stack: ChannelStack) -> FakeFeishu:
    fake = channel_stack.fakes["feishu"]
    assert isinstance(fake, FakeFeishu)
    fake.reset()
    return fake


def new_user() -> str:
    return "ou_" + secrets.token_hex(16)


def replies(fake: FakeFeishu, *targets: str, n: int = 1) -> list[Call]:
    """Waits for ``n`` accepted messages to any of ``targets``; returns them all."""
    return list(
        wait_for(
            lambda: fake.delivered(*targets) if len(fake.delivered(*targets)) >= n else None,
            REPLY_TIMEOUT_S,
            f"{n} Feishu message(s) to {targets}",
        )
    )


def say(stack: ChannelStack, fake: FakeFeishu, user: str, text: str, **kwargs: object) -> str:
    """Delivers a message event from ``user``; returns its message id."""
    payload = fake.message_event(text, user, **kwargs)  # type: ignore[arg-type]
    answer = fake.deliver_event(stack.rasa_url, payload)
    assert answer.status_code == 200, answer.text
    return str(payload["event"]["message"]["message_id"])


# -- the crypto against the vectors (no server) --------------------------------------------


def test_vectors_with_an_independent_implementation() -> None:
    example = VECTORS["decrypt_example"]
    assert decrypt_body(example["encrypt_key"], example["encrypt"]) == example["plaintext"]
    for vector in VECTORS["encrypt_computed"]:
        iv = bytes.fromhex(vector["iv_hex"])
        assert encrypt_body(vector["encrypt_key"], vector["plaintext"], iv) == vector["encrypt"]
    for vector in VECTORS["signature_computed"]:
        body = vector["body"].encode()
        assert (
            sign_body(vector["timestamp"], vector["nonce"], vector["encrypt_key"], body)
            == vector["signature"]
        )


# -- through Rasa ----------------------------------------------------------------------------


def test_url_challenge(channel_stack: ChannelStack, feishu: FakeFeishu) -> None:
    check = {"challenge": "ajls384kdjx98XX", "token": feishu.verification_token}
    check["type"] = "url_verification"
    answer = feishu.deliver(channel_stack.rasa_url, feishu.encrypted(check))
    assert (answer.status_code, answer.json()) == (200, {"challenge": "ajls384kdjx98XX"})
    plain = feishu.deliver(channel_stack.rasa_url, json.dumps(check))
    assert plain.json() == {"challenge": "ajls384kdjx98XX"}
    forged = feishu.deliver(channel_stack.rasa_url, json.dumps(dict(check, token="guess")))
    assert forged.status_code == 403 and "ajls384kdjx98XX" not in forged.text


@pytest.mark.parametrize(
    ("text", "chinese"), [("我的订单到哪了", True), ("where is my order?", False)]
)
def test_a_message_is_answered_in_its_language(
    channel_stack: ChannelStack, feishu: FakeFeishu, text: str, chinese: bool
) -> None:
    user = new_user()
    message_id = say(
        channel_stack,
        feishu,
        user,
        f"@_user_1 {text}",
        mentions=[{"key": "@_user_1", "name": "Leaf"}],
    )
    calls = replies(feishu, message_id)
    reply = "\n".join(FakeFeishu.text_of(call) for call in calls)
    assert bool(HAN.search(reply)) is chinese, reply
    assert ("登录" in reply) if chinese else ("sign in" in reply.lower()), reply
    assert calls[0].path.endswith(f"/{message_id}/reply")
    assert channel_stack.user_texts(f"feishu:{user}") == [text]
    assert calls[0].headers["authorization"][len("Bearer ") :] in feishu.tokens


def test_forged_deliveries_are_refused_and_store_nothing(
    channel_stack: ChannelStack, feishu: FakeFeishu
) -> None:
    user = new_user()
    payload = feishu.message_event("我的订单到哪了", user)
    body = feishu.encrypted(payload)
    url = channel_stack.rasa_url
    statuses = [
        feishu.deliver(url, body).status_code,  # no signature
        feishu.deliver(url, body, headers=feishu.signed_headers(body, key="guess")).status_code,
        feishu.deliver(url, body, headers=feishu.signed_headers(b"{}")).status_code,
        feishu.deliver(
            url, body, headers=feishu.signed_headers(body, timestamp=str(int(time.time()) - 90000))
        ).status_code,
    ]
    foreign = dict(payload, header=dict(payload["header"], token="another-app"))
    foreign_body = feishu.encrypted(foreign)
    statuses.append(
        feishu.deliver(url, foreign_body, headers=feishu.signed_headers(foreign_body)).status_code
    )
    assert statuses == [401, 403, 403, 401, 403]
    time.sleep(SETTLE_S)
    assert f"feishu:{user}" not in channel_stack.senders()
    assert feishu.sends() == []


def test_a_redelivered_event_is_answered_once(
    channel_stack: ChannelStack, feishu: FakeFeishu
) -> None:
    user = new_user()
    payload = feishu.message_event("hello", user)
    message_id = payload["event"]["message"]["message_id"]
    assert feishu.deliver_event(channel_stack.rasa_url, payload).status_code == 200
    first = replies(feishu, message_id)
    for _ in range(3):  # Feishu redelivers (newly encrypted and signed each time)
        assert feishu.deliver_event(channel_stack.rasa_url, payload).status_code == 200
    time.sleep(SETTLE_S)
    assert len(feishu.delivered(message_id)) == len(first)
    assert channel_stack.user_texts(f"feishu:{user}") == ["hello"]


def test_api_failures_are_retried(channel_stack: ChannelStack, feishu: FakeFeishu) -> None:
    user = new_user()
    feishu.fail_next(1, 502, path=r"/reply$")
    feishu.rate_limit_next(1)
    message_id = say(channel_stack, feishu, user, "你好")
    (reply,) = replies(feishu, message_id)
    attempts = [c for c in feishu.sends() if c.path.endswith(f"/{message_id}/reply")]
    assert len(attempts) >= 3 and attempts[-1] is reply
    assert FakeFeishu.text_of(attempts[0]) == FakeFeishu.text_of(reply)


def test_an_expired_token_is_fetched_again(channel_stack: ChannelStack, feishu: FakeFeishu) -> None:
    user = new_user()
    replies(feishu, say(channel_stack, feishu, user, "hello"))
    fetched = len(feishu.calls_to("tenant_access_token"))
    feishu.expire_tokens()
    replies(feishu, say(channel_stack, feishu, user, "are you a bot?"))
    assert len(feishu.calls_to("tenant_access_token")) == fetched + 1


def test_a_long_founder_message_is_split(channel_stack: ChannelStack, feishu: FakeFeishu) -> None:
    user = new_user()
    message_id = say(channel_stack, feishu, user, "你好")
    before = len(replies(feishu, message_id))
    # 3,990 characters (the founder's limit is 4,000), 4,275 UTF-16 units: over MAX_CHARS.
    text = "您好，这是店主的详细回复。😀" * 285
    answer = channel_stack.founder(f"feishu:{user}", "message", {"text": text})
    assert answer.status_code == 200, answer.text
    parts = [FakeFeishu.text_of(c) for c in replies(feishu, message_id, n=before + 2)[before:]]
    assert len(parts) == 2
    assert all(len(part.encode("utf-16-le")) // 2 <= MAX_CHARS for part in parts)
    assert parts[0].endswith("(1/2)") and parts[1].endswith("(2/2)")
    joined = "".join(re.sub(r"\s*\(\d/\d\)$", "", part) for part in parts)
    assert joined.replace("\n", "") == text


def test_buttons_are_a_card_and_a_press_is_understood(
    channel_stack: ChannelStack, feishu: FakeFeishu
) -> None:
    user = new_user()
    message_id = say(channel_stack, feishu, user, "你是机器人吗？")
    cards = [c for c in replies(feishu, message_id) if FakeFeishu.buttons_of(c)]
    assert cards, [FakeFeishu.text_of(c) for c in feishu.delivered(message_id)]
    buttons = FakeFeishu.buttons_of(cards[0])
    title, value = next(b for b in buttons if "转人工" in b[0])
    press = feishu.card_event(value["payload"], user, "om_fake_card")
    assert feishu.deliver_event(channel_stack.rasa_url, press).status_code == 200
    events = wait_for(
        lambda: channel_stack.events(f"feishu:{user}", "user")[1:] or None,
        REPLY_TIMEOUT_S,
        "the button press",
    )
    assert events[0]["parse_data"]["intent"]["name"] == "human_handoff", (title, events[0])
    answers = replies(feishu, user)  # a new message to the presser, not a reply to the card
    assert all(call.query.get("receive_id_type") == ["open_id"] for call in answers), answers
    assert feishu.delivered("om_fake_card") == []


def test_a_press_in_a_group_is_answered_privately_to_the_presser(
    channel_stack: ChannelStack, feishu: FakeFeishu
) -> None:
    """A card forwarded to a group (its value says nothing of the group, or anything): the
    press is the presser's private conversation and its answer never reaches the group."""
    user, group = new_user(), "oc_group" + secrets.token_hex(8)
    for extra in ({}, {"group": False}):
        press = feishu.card_event(
            "/human_handoff", user, "om_group_card", chat_id=group, value=extra
        )
        assert feishu.deliver_event(channel_stack.rasa_url, press).status_code == 200
    answers = replies(feishu, user, n=2)
    assert all(call.query.get("receive_id_type") == ["open_id"] for call in answers), answers
    time.sleep(SETTLE_S)
    assert feishu.delivered(group) == [] and feishu.delivered("om_group_card") == []
    assert f"feishu:{user}@{group}" not in channel_stack.senders()
    assert len(channel_stack.user_texts(f"feishu:{user}")) == 2


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\x00\xff\xfe binary",
        b'{"encrypt": "%%%"}',
        b'{"encrypt": "' + b"A" * 64 + b'"}',
        b"[" * 5000 + b"]" * 5000,
        '{"schema": "2.0", "header": {"event_id": "\ud800"}}'.encode("utf-8", "surrogatepass"),
    ],
)
def test_hostile_bodies(channel_stack: ChannelStack, feishu: FakeFeishu, body: bytes) -> None:
    answer = feishu.deliver(channel_stack.rasa_url, body, headers=feishu.signed_headers(body))
    assert answer.status_code in (200, 400, 403), answer.text  # 403: no verification token
    unsigned = feishu.deliver(channel_stack.rasa_url, body)
    assert unsigned.status_code in (401, 405)
    assert feishu.sends() == []


def test_hostile_texts_are_cleaned_or_refused_politely(
    channel_stack: ChannelStack, feishu: FakeFeishu
) -> None:
    user = new_user()
    nasty = "订单\x00\x07\u202e<script>alert(1)</script>' OR 1=1; --\ud800"
    payload = feishu.message_event("", user, content=json.dumps({"text": nasty}))
    assert feishu.deliver_event(channel_stack.rasa_url, payload).status_code == 200
    replies(feishu, payload["event"]["message"]["message_id"])
    (stored,) = channel_stack.user_texts(f"feishu:{user}")
    assert "\x00" not in stored and "\ud800" not in stored and "<script>" in stored
    huge = feishu.message_event("很长" * 40_000, new_user())
    answer = feishu.deliver_event(channel_stack.rasa_url, huge)
    assert answer.status_code in (200, 413)
    big = feishu.encrypted(feishu.message_event("x" * 300_000, new_user()))
    answer = feishu.deliver(channel_stack.rasa_url, big, headers=feishu.signed_headers(big))
    assert answer.status_code == 413
    # Another customer is still answered.
    replies(feishu, say(channel_stack, feishu, new_user(), "hello"))
