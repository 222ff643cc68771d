"""Facebook Messenger through the real Rasa server, against the fake Send API.

Deliveries are signed as Meta signs them (``X-Hub-Signature-256``). Covers: the
``hub.challenge`` verification, zh and en answered in their language, missing and forged
signatures refused with nothing stored, a redelivered batch answered once, Send API failures
(rate limit code 32, HTTP 5xx) retried, a long founder message split under 2,000 characters,
buttons as quick replies (at most 13, titles within 20 characters) and a quick reply
answered, several messages of one batch, and hostile bodies.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.channels.conftest import ChannelStack
from tests.channels.fakes.facebook import MAX_TEXT_CHARS, FakeFacebook
from tests.e2e.stack import wait_for

HAN = re.compile(r"[\u4e00-\u9fff]")
REPLY_TIMEOUT_S = 60.0
SETTLE_S = 2.0
PART_SUFFIX = re.compile(r" \((\d+)/(\d+)\)$")


@pytest.fixture()
def facebook(channel_stack: ChannelStack) -> FakeFacebook:
    fake = channel_stack.fakes["facebook"]
    assert isinstance(fake, FakeFacebook)
    fake.reset()
    return fake


def new_user() -> str:
    return str(10**15 + secrets.randbelow(10**15))


def sent(fake: FakeFacebook, psid: str, n: int = 1) -> list[dict[str, Any]]:
    """Waits for ``n`` Send API calls to ``psid``; returns their messages."""

    def ok() -> list[dict[str, Any]] | None:
        found = [b["message"] for b in fake.sent(psid) if b.get("message", {}).get("text")]
        return found if len(found) >= n else None

    return list(wait_for(ok, REPLY_TIMEOUT_S, f"{n} Messenger message(s) to {psid}"))


def say(stack: ChannelStack, fake: FakeFacebook, psid: str, text: str, **kw: Any) -> Any:
    return fake.post_batch(stack.rasa_url, fake.batch(fake.message_event(text, psid, **kw)))


def test_the_hub_challenge(channel_stack: ChannelStack, facebook: FakeFacebook) -> None:
    answer = facebook.verify_webhook(channel_stack.rasa_url)
    assert (answer.status_code, answer.text) == (200, "1158201444")
    wrong = facebook.verify_webhook(channel_stack.rasa_url, token="guess")
    assert wrong.status_code == 403 and "1158201444" not in wrong.text


@pytest.mark.parametrize(
    ("text", "chinese"), [("我的订单到哪了", True), ("where is my order?", False)]
)
def test_a_message_is_answered_in_its_language(
    channel_stack: ChannelStack, facebook: FakeFacebook, text: str, chinese: bool
) -> None:
    psid = new_user()
    answer = say(channel_stack, facebook, psid, text)
    assert (answer.status_code, answer.text) == (200, "EVENT_RECEIVED")
    reply = "\n".join(m["text"] for m in sent(facebook, psid))
    assert bool(HAN.search(reply)) is chinese, reply
    assert channel_stack.user_texts(f"facebook:{psid}") == [text]
    call = facebook.calls_to("/me/messages")[0]
    assert call.headers["authorization"] == f"Bearer {facebook.page_token}"
    assert "access_token" not in call.query  # the token is not in the URL
    assert call.json["messaging_type"] == "RESPONSE"


def test_bad_signatures_are_refused_and_store_nothing(
    channel_stack: ChannelStack, facebook: FakeFacebook
) -> None:
    psid = new_user()
    body = facebook.batch(facebook.message_event("我的订单到哪了", psid))
    url = channel_stack.rasa_url
    assert facebook.post_batch(url, body, signature="").status_code == 401
    assert facebook.post_batch(url, body, secret="not-the-app-secret").status_code == 403
    assert facebook.post_batch(url, body, signature="sha256=" + "0" * 64).status_code == 403
    raw = json.dumps(body).encode()
    old_sha1 = {"X-Hub-Signature": "sha1=" + "0" * 40, "Content-Type": "application/json"}
    assert facebook.deliver(url, raw, headers=old_sha1).status_code == 401
    time.sleep(SETTLE_S)
    assert f"facebook:{psid}" not in channel_stack.senders()
    assert facebook.sent(psid) == []
    # Signed properly, the same message is then processed: the refusals claimed nothing.
    assert facebook.post_batch(url, body).status_code == 200
    sent(facebook, psid)


def test_a_redelivered_batch_is_answered_once(
    channel_stack: ChannelStack, facebook: FakeFacebook
) -> None:
    psid = new_user()
    body = facebook.batch(facebook.message_event("你好", psid))
    with ThreadPoolExecutor(3) as pool:
        answers = list(
            pool.map(lambda _: facebook.post_batch(channel_stack.rasa_url, body), range(3))
        )
    assert [a.status_code for a in answers] == [200, 200, 200]
    first = sent(facebook, psid)
    time.sleep(SETTLE_S)
    assert facebook.post_batch(channel_stack.rasa_url, body).status_code == 200
    time.sleep(SETTLE_S)
    assert len(facebook.sent(psid)) == len(first)
    assert channel_stack.user_texts(f"facebook:{psid}") == ["你好"]


def test_a_batch_of_two_people(channel_stack: ChannelStack, facebook: FakeFacebook) -> None:
    first, second = new_user(), new_user()
    body = facebook.batch(
        facebook.message_event("你好", first), facebook.message_event("hello", second)
    )
    assert facebook.post_batch(channel_stack.rasa_url, body).status_code == 200
    assert HAN.search(sent(facebook, first)[0]["text"])
    assert not HAN.search(sent(facebook, second)[0]["text"])


def test_send_failures_are_retried(channel_stack: ChannelStack, facebook: FakeFacebook) -> None:
    psid = new_user()
    facebook.rate_limit_next(1)
    facebook.fail_next(1, 500, json={"error": {"message": "An unknown error occurred", "code": 1}})
    assert say(channel_stack, facebook, psid, "hello").status_code == 200
    calls = facebook.wait_for_calls(3, "/me/messages", timeout=REPLY_TIMEOUT_S)
    assert calls[0].json == calls[1].json == calls[2].json
    sent(facebook, psid)


def test_a_long_founder_message_is_split(
    channel_stack: ChannelStack, facebook: FakeFacebook
) -> None:
    psid = new_user()
    say(channel_stack, facebook, psid, "你好")
    before = len(sent(facebook, psid))
    text = "\n".join(
        f"{i}. 我们的乌龙茶来自高山茶园，每一批都由店主亲自品鉴后才上架。" * 3 for i in range(30)
    )
    assert MAX_TEXT_CHARS < len(text) <= 4000
    answer = channel_stack.founder(f"facebook:{psid}", "message", {"text": text})
    assert answer.status_code == 200, answer.text
    parts = [m["text"] for m in sent(facebook, psid, before + 2)[before:]]
    assert all(len(p) <= MAX_TEXT_CHARS for p in parts)
    assert len(parts) == int(PART_SUFFIX.search(parts[0]).group(2))  # type: ignore[union-attr]
    joined = "".join(PART_SUFFIX.sub("", p) for p in parts)
    assert re.sub(r"\s", "", joined) == re.sub(r"\s", "", text)


def test_buttons_are_quick_replies_and_a_quick_reply_is_answered(
    channel_stack: ChannelStack, facebook: FakeFacebook
) -> None:
    psid = new_user()
    say(channel_stack, facebook, psid, "我想修改收货地址")
    with_quick = [m for m in sent(facebook, psid) if "quick_replies" in m]
    assert with_quick, facebook.sent(psid)
    quick = with_quick[-1]["quick_replies"][0]
    assert quick["content_type"] == "text" and len(quick["title"]) <= 20
    before = len(facebook.sent(psid))
    answer = say(channel_stack, facebook, psid, quick["title"], quick_reply=quick["payload"])
    assert answer.status_code == 200
    sent(facebook, psid, before + 1)
    assert channel_stack.user_texts(f"facebook:{psid}")[-1] == quick["payload"]


def test_hostile_bodies(channel_stack: ChannelStack, facebook: FakeFacebook) -> None:
    url = channel_stack.rasa_url
    for body in (b"", b"\x00\xff\xfe" * 100, b"\xc3\x28", b"[]", b"{" * 50_000, b"null"):
        answer = facebook.post_batch(url, body)
        assert answer.status_code == 400, (body[:10], answer.status_code)
    assert facebook.post_batch(url, b"x" * (300 * 1024)).status_code == 413
    hostile_get = facebook.verify_webhook(url, challenge="<script>alert(1)</script>")
    assert hostile_get.status_code == 400 and "<script>" not in hostile_get.text
    psid = new_user()
    template = json.dumps(facebook.batch(facebook.message_event("PLACEHOLDER", psid)))
    raw = template.replace("PLACEHOLDER", "你好\\u0000\\u0007\\ud800 there\\u001b").encode()
    assert facebook.post_batch(url, raw).status_code == 200
    sent(facebook, psid)
    stored = channel_stack.user_texts(f"facebook:{psid}")
    assert stored and "\x00" not in stored[0] and "\ud800" not in stored[0]
    for text in ("", "长" * 20_000):
        assert say(channel_stack, facebook, new_user(), text).status_code < 500
    flooder = new_user()
    with ThreadPoolExecutor(8) as pool:
        codes = list(
            pool.map(
                lambda i: say(channel_stack, facebook, flooder, f"刷屏 {i}").status_code, range(40)
            )
        )
    assert all(code < 500 for code in codes), codes
    other = new_user()
    assert say(channel_stack, facebook, other, "hello").status_code == 200
    sent(facebook, other)
