"""Slack through the real Rasa server, against the fake Web API.

Events are signed as Slack signs them (``v0`` HMAC-SHA256 over ``v0:{timestamp}:{body}``).
Covers: the URL verification challenge, zh and en answered in their language, missing,
forged and stale signatures refused with nothing stored, Slack's retries of an event
(``X-Slack-Retry-Num``) answered once, ``chat.postMessage`` failures (``ratelimited`` with
``Retry-After``, ``internal_error``, 5xx) retried, a long founder message split under the
3,000-character section limit, buttons as Block Kit buttons and a press (interactivity
payload) answered, and hostile bodies.
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
from tests.channels.fakes.slack import SECTION_MAX_CHARS, FakeSlack
from tests.e2e.stack import wait_for

HAN = re.compile(r"[\u4e00-\u9fff]")
REPLY_TIMEOUT_S = 60.0
SETTLE_S = 2.0
PART_SUFFIX = re.compile(r" \((\d+)/(\d+)\)$")


@pytest.fixture()
def slack(channel_stack: ChannelStack) -> FakeSlack:
    fake = channel_stack.fakes["slack"]
    assert isinstance(fake, FakeSlack)
    fake.reset()
    return fake


def new_user() -> str:
    return f"U{secrets.token_hex(5).upper()}"


def posted(fake: FakeSlack, user: str, n: int = 1) -> list[dict[str, Any]]:
    """Waits for ``n`` accepted posts to ``user``'s direct-message channel."""
    channel = f"D{user}"

    def ok() -> list[dict[str, Any]] | None:
        found = [b for b in fake.posted(channel) if b.get("text")]
        return found if len(found) >= n else None

    return list(wait_for(ok, REPLY_TIMEOUT_S, f"{n} Slack post(s) to {channel}"))


def say(stack: ChannelStack, fake: FakeSlack, user: str, text: str, **kw: Any) -> Any:
    return fake.post_event(stack.rasa_url, fake.direct_message(text, user), **kw)


def test_url_verification(channel_stack: ChannelStack, slack: FakeSlack) -> None:
    challenge = {
        "token": "x",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmd",
        "type": "url_verification",
    }
    answer = slack.post_event(channel_stack.rasa_url, challenge)
    assert answer.status_code == 200 and answer.json() == {"challenge": challenge["challenge"]}
    forged = slack.post_event(channel_stack.rasa_url, challenge, secret="not-the-secret")
    assert forged.status_code == 403 and challenge["challenge"] not in forged.text


@pytest.mark.parametrize(
    ("text", "chinese"), [("我的订单到哪了", True), ("where is my order?", False)]
)
def test_a_message_is_answered_in_its_language(
    channel_stack: ChannelStack, slack: FakeSlack, text: str, chinese: bool
) -> None:
    user = new_user()
    assert say(channel_stack, slack, user, text).status_code == 200
    reply = "\n".join(b["text"] for b in posted(slack, user))
    assert bool(HAN.search(reply)) is chinese, reply
    assert channel_stack.user_texts(f"slack:{user}") == [text]
    assert all(c.headers["authorization"] == f"Bearer {slack.token}" for c in slack.calls)


def test_a_mention_is_answered_privately(channel_stack: ChannelStack, slack: FakeSlack) -> None:
    user = new_user()
    envelope = slack.mention("where is my order?", user, channel="C0SHOP")
    assert slack.post_event(channel_stack.rasa_url, envelope).status_code == 200
    wait_for(lambda: slack.posted(user) or None, REPLY_TIMEOUT_S, "a post to the user's DM")
    time.sleep(SETTLE_S)
    assert slack.posted("C0SHOP") == []  # nothing in the shared channel
    assert channel_stack.user_texts(f"slack:{user}") == ["where is my order?"]


def test_bad_signatures_are_refused_and_store_nothing(
    channel_stack: ChannelStack, slack: FakeSlack
) -> None:
    user = new_user()
    envelope = slack.direct_message("我的订单到哪了", user)
    url = channel_stack.rasa_url
    body = json.dumps(envelope).encode()
    assert slack.deliver(url, body, headers={"Content-Type": "application/json"}).status_code == 401
    assert slack.post_event(url, envelope, secret="0" * 32).status_code == 403
    assert slack.post_event(url, envelope, timestamp=int(time.time()) - 3600).status_code == 403
    replayed = slack.signed_headers(body, timestamp=int(time.time()) - 301)
    assert slack.deliver(url, body, headers=replayed).status_code == 403
    tampered = slack.signed_headers(body)
    assert (
        slack.deliver(url, body.replace(b"\\u6211", b"\\u4f60"), headers=tampered).status_code
        == 403
    )
    time.sleep(SETTLE_S)
    assert f"slack:{user}" not in channel_stack.senders()
    assert slack.posted(f"D{user}") == []
    # Signed properly, the same event is then processed: the refusals claimed nothing.
    assert slack.post_event(url, envelope).status_code == 200
    posted(slack, user)


def test_slack_retries_are_answered_once(channel_stack: ChannelStack, slack: FakeSlack) -> None:
    user = new_user()
    envelope = slack.direct_message("你好", user)
    assert slack.post_event(channel_stack.rasa_url, envelope).status_code == 200
    with ThreadPoolExecutor(3) as pool:
        retries = list(
            pool.map(
                lambda n: slack.post_event(channel_stack.rasa_url, envelope, retry_num=n), (1, 2, 3)
            )
        )
    assert [r.status_code for r in retries] == [200, 200, 200]
    first = posted(slack, user)
    time.sleep(SETTLE_S)
    assert len(slack.posted(f"D{user}")) == len(first)
    assert channel_stack.user_texts(f"slack:{user}") == ["你好"]


def test_post_failures_are_retried(channel_stack: ChannelStack, slack: FakeSlack) -> None:
    user = new_user()
    slack.rate_limit_next(1, retry_after=1)
    slack.fail_next(
        1, 200, json={"ok": False, "error": "internal_error"}, path=r"chat\.postMessage"
    )
    slack.fail_next(
        1, 503, json={"ok": False, "error": "service_unavailable"}, path=r"chat\.postMessage"
    )
    assert say(channel_stack, slack, user, "hello").status_code == 200
    calls = slack.wait_for_calls(4, r"chat\.postMessage", timeout=REPLY_TIMEOUT_S)
    assert calls[1].at - calls[0].at >= 1.0  # Retry-After waited out
    assert calls[0].json == calls[1].json == calls[2].json == calls[3].json
    posted(slack, user)


def test_a_permanent_error_is_not_retried(channel_stack: ChannelStack, slack: FakeSlack) -> None:
    user = new_user()
    slack.fail_next(
        1, 200, json={"ok": False, "error": "channel_not_found"}, path=r"chat\.postMessage"
    )
    assert say(channel_stack, slack, user, "hello").status_code == 200
    slack.wait_for_calls(1, r"chat\.postMessage", timeout=REPLY_TIMEOUT_S)
    time.sleep(SETTLE_S * 2)
    first_reply = [c for c in slack.calls_to(r"chat\.postMessage")]
    # The refused message is not sent again (later replies of the same turn may follow).
    assert [c.json for c in first_reply].count(first_reply[0].json) == 1
    assert channel_stack.user_texts(f"slack:{user}") == ["hello"]  # the conversation is kept


def test_a_long_founder_message_is_split(channel_stack: ChannelStack, slack: FakeSlack) -> None:
    user = new_user()
    say(channel_stack, slack, user, "你好")
    before = len(posted(slack, user))
    text = "\n\n".join(
        f"{i}. " + "店主亲自挑选的高山乌龙茶，香气清雅 & 回甘持久。" * 25 for i in range(6)
    )
    assert SECTION_MAX_CHARS < len(text) <= 4000
    answer = channel_stack.founder(f"slack:{user}", "message", {"text": text})
    assert answer.status_code == 200, answer.text
    parts = [b["text"] for b in posted(slack, user, before + 2)[before:]]
    assert all(len(p) <= SECTION_MAX_CHARS for p in parts)
    assert len(parts) == int(PART_SUFFIX.search(parts[0]).group(2))  # type: ignore[union-attr]
    assert "&amp;" in parts[0] and " & " not in parts[0]  # escaped as Slack requires


def test_buttons_are_block_kit_and_a_press_is_answered(
    channel_stack: ChannelStack, slack: FakeSlack
) -> None:
    user = new_user()
    say(channel_stack, slack, user, "I want to change my address")
    with_blocks = [b for b in posted(slack, user) if "blocks" in b]
    assert with_blocks, slack.posted(f"D{user}")
    actions = [b for b in with_blocks[-1]["blocks"] if b["type"] == "actions"][0]
    button = actions["elements"][0]
    assert button["type"] == "button" and button["value"].startswith("/")
    before = len(slack.posted(f"D{user}"))
    press = slack.block_action(button["value"], user)
    answer = slack.post_event(channel_stack.rasa_url, press, form=True)
    assert answer.status_code == 200
    posted(slack, user, before + 1)
    assert channel_stack.user_texts(f"slack:{user}")[-1] == button["value"]
    forged = slack.post_event(channel_stack.rasa_url, press, form=True, secret="x")
    assert forged.status_code == 403


def test_hostile_bodies(channel_stack: ChannelStack, slack: FakeSlack) -> None:
    url = channel_stack.rasa_url
    for body in (b"", b"\x00\xff\xfe" * 100, b"\xc3\x28", b"[]", b"{" * 50_000, b"null"):
        answer = slack.post_event(url, body)
        assert answer.status_code == 400, (body[:10], answer.status_code)
    assert slack.post_event(url, b"x" * (300 * 1024)).status_code == 413
    user = new_user()
    envelope = json.dumps(slack.direct_message("PLACEHOLDER", user))
    raw = envelope.replace("PLACEHOLDER", "你好\\u0000\\u0007\\ud800 there\\u001b").encode()
    assert slack.post_event(url, raw).status_code == 200
    posted(slack, user)
    stored = channel_stack.user_texts(f"slack:{user}")
    assert stored and "\x00" not in stored[0] and "\ud800" not in stored[0]
    for text in ("", "长" * 20_000):
        assert say(channel_stack, slack, new_user(), text).status_code < 500
    flooder = new_user()
    with ThreadPoolExecutor(8) as pool:
        codes = list(
            pool.map(
                lambda i: say(channel_stack, slack, flooder, f"刷屏 {i}").status_code, range(40)
            )
        )
    assert all(code < 500 for code in codes), codes
    other = new_user()
    assert say(channel_stack, slack, other, "hello").status_code == 200
    posted(slack, other)
