"""DingTalk (钉钉) robot callbacks through the real Rasa server, against the fake DingTalk.

Callbacks are signed by the fake (standard library, independently of the bot). Covers: zh and
en answered in their language through the robot API (batchSend one to one, groupMessages to a
group), forged and stale signs refused with nothing stored, a valid sign re-used with another
body refused with nothing stored, a redelivered msgId answered once, API failures and an
expired token retried, a long founder message split, numbered buttons and picking "1", the
body's sessionWebhook (DingTalk's or a forged one) never called, and hostile bodies.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.channels.conftest import ChannelStack
from tests.channels.fakes.base import Call, FakePlatform, Reply
from tests.channels.fakes.dingtalk import SESSION_PATH, FakeDingTalk, callback_sign
from tests.e2e.stack import wait_for

HAN = re.compile(r"[\u4e00-\u9fff]")
REPLY_TIMEOUT_S = 60.0
SETTLE_S = 2.0
MAX_CHARS = 2000
ONE_TO_ONE = "/v1.0/robot/oToMessages/batchSend"
GROUP = "/v1.0/robot/groupMessages/send"
#: Simultaneous messages of one person (the door lets 3 be in flight).
FLOOD = 12
VECTORS = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "channel_vectors.json").read_text("utf-8")
)["dingtalk"]


@pytest.fixture()
def dingtalk(channel_stack: ChannelStack) -> FakeDingTalk:
    fake = channel_stack.fakes["dingtalk"]
    assert isinstance(fake, FakeDingTalk)
    fake.reset()
    return fake


def new_user() -> str:
    return "staff" + secrets.token_hex(6)


def replies(fake: FakeDingTalk, target: str, n: int = 1) -> list[Call]:
    """Waits for ``n`` accepted messages to ``target``; returns them all."""
    return list(
        wait_for(
            lambda: fake.delivered(target) if len(fake.delivered(target)) >= n else None,
            REPLY_TIMEOUT_S,
            f"{n} DingTalk message(s) to {target}",
        )
    )


def say(stack: ChannelStack, fake: FakeDingTalk, user: str, text: str, **kwargs: object) -> None:
    answer = fake.deliver_message(stack.rasa_url, fake.message(text, user, **kwargs))  # type: ignore[arg-type]
    assert answer.status_code == 200, answer.text


def test_sign_vectors() -> None:
    for vector in VECTORS["sign_computed"]:
        assert callback_sign(vector["timestamp"], vector["app_secret"]) == vector["sign"]


@pytest.mark.parametrize(
    ("text", "chinese"), [("我的订单到哪了", True), ("where is my order?", False)]
)
def test_a_message_is_answered_in_its_language(
    channel_stack: ChannelStack, dingtalk: FakeDingTalk, text: str, chinese: bool
) -> None:
    user = new_user()
    say(channel_stack, dingtalk, user, f" {text} ")
    calls = replies(dingtalk, user)
    reply = "\n".join(FakeDingTalk.text_of(call) for call in calls)
    assert bool(HAN.search(reply)) is chinese, reply
    assert ("登录" in reply) if chinese else ("sign in" in reply.lower()), reply
    assert {call.path for call in calls} == {ONE_TO_ONE}
    assert calls[0].json["userIds"] == [user]
    assert calls[0].headers["x-acs-dingtalk-access-token"] in dingtalk.tokens
    assert dingtalk.calls_to(SESSION_PATH) == []
    assert channel_stack.user_texts(f"dingtalk:{user}") == [text]


def test_a_group_is_answered_through_group_messages(
    channel_stack: ChannelStack, dingtalk: FakeDingTalk
) -> None:
    user = new_user()
    body = dingtalk.message("你好", user, group=True)
    assert dingtalk.deliver_message(channel_stack.rasa_url, body).status_code == 200
    calls = replies(dingtalk, body["conversationId"])
    assert {call.path for call in calls} == {GROUP}
    assert calls[0].json["openConversationId"] == body["conversationId"]
    assert dingtalk.calls_to(SESSION_PATH) == []


def test_a_reused_sign_with_another_body_is_refused_and_stores_nothing(
    channel_stack: ChannelStack, dingtalk: FakeDingTalk
) -> None:
    """A captured (timestamp, sign) pair cannot carry another message (issue 16 review)."""
    user, victim = new_user(), new_user()
    captured = dingtalk.signed_headers()
    first = json.dumps(dingtalk.message("你好", user)).encode()
    assert dingtalk.deliver(channel_stack.rasa_url, first, headers=captured).status_code == 200
    answered = replies(dingtalk, user)
    dingtalk.message("hello", victim)  # the victim is a known staff member
    forged = dingtalk.message("我的订单到哪了", victim)
    forged["sessionWebhook"] = f"{dingtalk.url}{SESSION_PATH}?session=attacker"
    raw = json.dumps(forged).encode()
    assert dingtalk.deliver(channel_stack.rasa_url, raw, headers=captured).status_code == 401
    # DingTalk redelivering the first message with its own headers: 200, answered once.
    assert dingtalk.deliver(channel_stack.rasa_url, first, headers=captured).status_code == 200
    time.sleep(SETTLE_S)
    assert f"dingtalk:{victim}" not in channel_stack.senders()
    assert dingtalk.delivered(victim) == [] and dingtalk.calls_to(SESSION_PATH) == []
    assert len(dingtalk.delivered(user)) == len(answered)
    assert channel_stack.user_texts(f"dingtalk:{user}") == ["你好"]


def test_forged_and_stale_signs_are_refused_and_store_nothing(
    channel_stack: ChannelStack, dingtalk: FakeDingTalk
) -> None:
    user = new_user()
    raw = json.dumps(dingtalk.message("我的订单到哪了", user)).encode()
    url = channel_stack.rasa_url
    old = str(int(time.time() * 1000) - 3_700_000)
    eleven_minutes = str(int(time.time() * 1000) - 11 * 60 * 1000)  # over our 10 minutes
    statuses = [
        dingtalk.deliver(url, raw).status_code,
        dingtalk.deliver(url, raw, headers=dingtalk.signed_headers(secret="guess")).status_code,
        dingtalk.deliver(url, raw, headers=dingtalk.signed_headers(timestamp=old)).status_code,
        dingtalk.deliver(
            url, raw, headers=dingtalk.signed_headers(timestamp=eleven_minutes)
        ).status_code,
        dingtalk.deliver(
            url, raw, headers={"timestamp": str(int(time.time() * 1000)), "sign": "x" * 44}
        ).status_code,
    ]
    assert statuses == [401, 403, 401, 401, 403]
    time.sleep(SETTLE_S)
    assert f"dingtalk:{user}" not in channel_stack.senders()
    assert dingtalk.sends() == []


def test_a_redelivered_message_is_answered_once(
    channel_stack: ChannelStack, dingtalk: FakeDingTalk
) -> None:
    user = new_user()
    body = dingtalk.message("hello", user)
    assert dingtalk.deliver_message(channel_stack.rasa_url, body).status_code == 200
    first = replies(dingtalk, user)
    for _ in range(3):
        assert dingtalk.deliver_message(channel_stack.rasa_url, body).status_code == 200
    time.sleep(SETTLE_S)
    assert len(dingtalk.delivered(user)) == len(first)
    assert channel_stack.user_texts(f"dingtalk:{user}") == ["hello"]


def test_api_failures_are_retried(channel_stack: ChannelStack, dingtalk: FakeDingTalk) -> None:
    user = new_user()
    dingtalk.fail_next(1, 502, path=ONE_TO_ONE)
    dingtalk.fail_next(1, 429, json={"code": "Throttling.Api", "message": "限流"}, path=ONE_TO_ONE)
    say(channel_stack, dingtalk, user, "你好")
    (reply,) = replies(dingtalk, user)
    attempts = dingtalk.calls_to(ONE_TO_ONE)
    assert len(attempts) >= 3 and attempts[-1] is reply
    assert FakeDingTalk.text_of(attempts[0]) == FakeDingTalk.text_of(reply)


def test_an_expired_token_is_fetched_again(
    channel_stack: ChannelStack, dingtalk: FakeDingTalk
) -> None:
    user = new_user()
    say(channel_stack, dingtalk, user, "hello")
    replies(dingtalk, user)
    fetched = len(dingtalk.calls_to("oauth2/accessToken"))
    dingtalk.expire_tokens()
    say(channel_stack, dingtalk, user, "are you a bot?")
    replies(dingtalk, user, 2)
    assert len(dingtalk.calls_to("oauth2/accessToken")) == fetched + 1


def test_a_long_founder_message_is_split(
    channel_stack: ChannelStack, dingtalk: FakeDingTalk
) -> None:
    user = new_user()
    say(channel_stack, dingtalk, user, "你好")
    before = len(replies(dingtalk, user))
    text = "您好，这是店主的详细回复。" * 250  # 3,250 characters
    answer = channel_stack.founder(f"dingtalk:{user}", "message", {"text": text})
    assert answer.status_code == 200, answer.text
    parts = [FakeDingTalk.text_of(c) for c in replies(dingtalk, user, before + 2)[before:]]
    assert len(parts) == 2 and all(len(part) <= MAX_CHARS for part in parts)
    assert parts[0].endswith("(1/2)") and parts[1].endswith("(2/2)")
    joined = "".join(re.sub(r"\s*\(\d/\d\)$", "", part) for part in parts)
    assert joined.replace("\n", "") == text


def test_buttons_are_numbered_and_1_picks_the_first(
    channel_stack: ChannelStack, dingtalk: FakeDingTalk
) -> None:
    user = new_user()
    say(channel_stack, dingtalk, user, "你是机器人吗？")
    first = replies(dingtalk, user)
    reply = "\n".join(FakeDingTalk.text_of(c) for c in first)
    assert "1. 转人工" in reply, reply
    say(channel_stack, dingtalk, user, "1")
    events = wait_for(
        lambda: channel_stack.events(f"dingtalk:{user}", "user")[1:] or None,
        REPLY_TIMEOUT_S,
        "the second message",
    )
    assert events[0]["parse_data"]["intent"]["name"] == "human_handoff", events[0]
    replies(dingtalk, user, len(first) + 1)  # its answer, before the next test starts


def test_a_foreign_session_webhook_is_never_called(
    channel_stack: ChannelStack, dingtalk: FakeDingTalk
) -> None:
    evil = FakePlatform()
    evil.add_route("*", r"/.*", lambda call: Reply(json={"errcode": 0, "errmsg": "ok"}))
    with evil:
        user = new_user()
        for webhook in (
            f"{evil.url}/robot/sendBySession?session=steal",
            f"http://localhost:{evil.url.rsplit(':', 1)[1]}/robot/sendBySession",
            f"{dingtalk.url}@{evil.url[len('http://') :]}/robot/sendBySession",
        ):
            say(channel_stack, dingtalk, user, "你好", session_webhook=webhook)
        replies(dingtalk, user, 3)
        time.sleep(SETTLE_S)
        assert evil.calls == []
    assert {call.path for call in dingtalk.delivered(user)} == {ONE_TO_ONE}
    assert dingtalk.calls_to(SESSION_PATH) == []


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\x00\xff\xfe binary",
        b"[" * 5000 + b"]" * 5000,
        b'{"msgId": "\xed\xa0\x80", "msgtype": "text", "text": {"content": "x"}}',
        b'{"msgId": 7, "msgtype": "text"}',
    ],
)
def test_hostile_bodies(channel_stack: ChannelStack, dingtalk: FakeDingTalk, body: bytes) -> None:
    answer = dingtalk.deliver(channel_stack.rasa_url, body, headers=dingtalk.signed_headers())
    assert answer.status_code in (200, 400), answer.text
    assert dingtalk.deliver(channel_stack.rasa_url, body).status_code == 401
    assert dingtalk.sends() == []


def test_hostile_texts_are_cleaned_and_others_still_answered(
    channel_stack: ChannelStack, dingtalk: FakeDingTalk
) -> None:
    user = new_user()
    say(channel_stack, dingtalk, user, "订单\x00\x07\u202e<script>x</script>' OR 1=1; --\ud800")
    replies(dingtalk, user)
    (stored,) = channel_stack.user_texts(f"dingtalk:{user}")
    assert "\x00" not in stored and "\ud800" not in stored
    big = json.dumps(dingtalk.message("x" * 300_000, new_user())).encode()
    answer = dingtalk.deliver(channel_stack.rasa_url, big, headers=dingtalk.signed_headers())
    assert answer.status_code == 413
    other = new_user()
    say(channel_stack, dingtalk, other, "hello")
    replies(dingtalk, other)


def test_a_flood_from_one_person_does_not_stop_others(
    channel_stack: ChannelStack, dingtalk: FakeDingTalk
) -> None:
    flooder = new_user()
    bodies = [dingtalk.message(f"hello {i}", flooder) for i in range(FLOOD)]
    with ThreadPoolExecutor(max_workers=FLOOD) as pool:
        statuses = list(
            pool.map(
                lambda b: dingtalk.deliver_message(channel_stack.rasa_url, b).status_code, bodies
            )
        )
    assert set(statuses) <= {200, 429}, statuses
    other = new_user()
    say(channel_stack, dingtalk, other, "你好")
    replies(dingtalk, other)
    time.sleep(SETTLE_S)
    stored = channel_stack.user_texts(f"dingtalk:{flooder}")
    assert set(stored) <= {f"hello {i}" for i in range(FLOOD)} and len(stored) == len(set(stored))
