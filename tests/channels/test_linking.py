"""Account linking through the real Rasa server, on Telegram (docs/channels/linking.md).

An unlinked user gets no personal data; ``/start <code>`` links; then the same question is
answered with the customer's own data; forged, expired and reused codes are refused politely;
unlink works; a user is only ever linked to someone else's data by that person's code. On
DingTalk a link command in a group chat is refused (answers there reach the whole group) and
the code still links in the private chat. The fakes are part of the suite: a missing one is
a failure, never a skip.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
import time

import pytest

from analytics.core.identity import sign_link_code
from analytics.demo.customers import DEMO_EN, DEMO_EN_LATEST_ORDER, DEMO_ZH, DEMO_ZH_LATEST_ORDER
from tests.channels.conftest import ChannelStack
from tests.channels.fakes.dingtalk import FakeDingTalk
from tests.channels.fakes.telegram import FakeTelegram
from tests.e2e.stack import wait_for

LINKED = "Linked: this chat is now connected to your account"
INVALID = "This link code is invalid or has expired"
USED = "This link code has already been used"
UNLINKED = "Unlinked: this chat is no longer connected to your account"
SENDER_RE = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")
PRIVATE_ONLY = "please send the link code in a private chat with me"
ORDER_EN = "where is my order?"
ORDER_ZH = "我的订单到哪了"
QUIET_S = 1.5
TIMEOUT_S = 60.0


@pytest.fixture()
def telegram(channel_stack: ChannelStack) -> FakeTelegram:
    fake = channel_stack.fakes["telegram"]
    assert isinstance(fake, FakeTelegram)
    return fake


@pytest.fixture()
def dingtalk(channel_stack: ChannelStack) -> FakeDingTalk:
    fake = channel_stack.fakes["dingtalk"]
    assert isinstance(fake, FakeDingTalk)
    return fake


def ask(stack: ChannelStack, fake: FakeTelegram, user: int, text: str) -> str:
    """Sends a message as Telegram user ``user``; returns everything the bot sent back."""
    before = len(fake.sent_texts(user))
    answer = fake.post_update(stack.rasa_url, fake.message_update(text, user))
    assert answer.status_code == 200, answer.text
    deadline = time.monotonic() + TIMEOUT_S
    seen, stable_since = before, time.monotonic()
    while time.monotonic() < deadline:
        now = len(fake.sent_texts(user))
        if now != seen:
            seen, stable_since = now, time.monotonic()
        elif now > before and time.monotonic() - stable_since >= QUIET_S:
            break
        time.sleep(0.1)
    replies = fake.sent_texts(user)[before:]
    assert replies, f"no reply to {text!r}: {stack.rasa.tail()}"
    return "\n".join(replies)


def code_for(stack: ChannelStack, customer: str, ttl: int = 900) -> str:
    return sign_link_code(customer, int(time.time()) + ttl, stack.secret)


def binding(stack: ChannelStack, user: int | str, channel: str = "telegram") -> str | None:
    with sqlite3.connect(stack.tracker_db) as db:
        row = db.execute(
            "SELECT customer_id FROM channel_bindings WHERE channel = ? AND user_id = ?",
            (channel, str(user)),
        ).fetchone()
    return None if row is None else str(row[0])


def dingtalk_says(
    stack: ChannelStack, fake: FakeDingTalk, staff: str, text: str, *, group: bool
) -> str:
    """Sends a DingTalk message (in a group or privately); returns the bot's next answer."""
    body = fake.message(text, staff, group=group)
    target = str(body["conversationId"]) if group else staff
    before = len(fake.delivered(target))
    answer = fake.deliver_message(stack.rasa_url, body)
    assert answer.status_code == 200, answer.text
    wait_for(lambda: fake.delivered(target)[before:], TIMEOUT_S, f"an answer to {text!r}")
    time.sleep(QUIET_S)  # let a multi-part answer arrive
    return "\n".join(fake.text_of(call) for call in fake.delivered(target)[before:])


def body_conversation(fake: FakeDingTalk, staff: str) -> str:
    """The group conversation id the fake gives ``staff``'s group messages."""
    return str(fake.message("", staff, group=True)["conversationId"])


def sender_id_of(channel: str, user_id: str) -> str:
    """The conversation id the bot gives a platform user (bot/channels/messaging/conversation.py)."""
    plain = f"{channel}:{user_id}"
    if SENDER_RE.match(plain):
        return plain
    return f"{channel}:h" + hashlib.sha256(user_id.encode()).hexdigest()[:40]


def test_an_unlinked_user_gets_no_personal_data_until_the_code_links_them(
    channel_stack: ChannelStack, telegram: FakeTelegram
) -> None:
    user = telegram.next_id()
    anonymous = ask(channel_stack, telegram, user, ORDER_EN)
    assert DEMO_EN_LATEST_ORDER not in anonymous and "LB9" not in anonymous
    # The domain's Telegram variation: how to link here, not "sign in on the website".
    assert "link code" in anonymous and "open the chat again" not in anonymous, anonymous
    code = code_for(channel_stack, DEMO_EN)
    assert LINKED in ask(channel_stack, telegram, user, f"/start {code}")
    assert binding(channel_stack, user) == DEMO_EN
    # The command is the channel's business: never a message in the conversation.
    assert not any(code in text for text in channel_stack.user_texts(f"telegram:{user}"))
    assert DEMO_EN_LATEST_ORDER in ask(channel_stack, telegram, user, ORDER_EN)


def test_chinese_link_command_then_chinese_answer(
    channel_stack: ChannelStack, telegram: FakeTelegram
) -> None:
    user = telegram.next_id()
    assert "绑定码" in ask(channel_stack, telegram, user, ORDER_ZH)
    reply = ask(channel_stack, telegram, user, f"绑定 {code_for(channel_stack, DEMO_ZH)}")
    assert "已绑定" in reply
    assert DEMO_ZH_LATEST_ORDER in ask(channel_stack, telegram, user, ORDER_ZH)


def test_forged_expired_and_reused_codes_are_refused_politely(
    channel_stack: ChannelStack, telegram: FakeTelegram
) -> None:
    owner, thief = telegram.next_id(), telegram.next_id()
    good = code_for(channel_stack, DEMO_EN)
    forged = sign_link_code(DEMO_EN, int(time.time()) + 900, channel_stack.secret + "x")
    expired = code_for(channel_stack, DEMO_EN, ttl=-60)
    for bad in (forged, expired, good[:-3], "<script>alert(1)</script>"):
        assert INVALID in ask(channel_stack, telegram, thief, f"/start {bad}")
    assert binding(channel_stack, thief) is None
    assert LINKED in ask(channel_stack, telegram, owner, f"/start {good}")
    assert USED in ask(channel_stack, telegram, thief, f"/link {good}")
    assert binding(channel_stack, thief) is None
    assert DEMO_EN_LATEST_ORDER not in ask(channel_stack, telegram, thief, ORDER_EN)


def test_unlink_makes_the_chat_anonymous_again(
    channel_stack: ChannelStack, telegram: FakeTelegram
) -> None:
    user = telegram.next_id()
    ask(channel_stack, telegram, user, f"/start {code_for(channel_stack, DEMO_EN)}")
    assert binding(channel_stack, user) == DEMO_EN
    assert UNLINKED in ask(channel_stack, telegram, user, "/unlink")
    assert binding(channel_stack, user) is None
    assert DEMO_EN_LATEST_ORDER not in ask(channel_stack, telegram, user, ORDER_EN)


def test_linking_with_another_customers_code_replaces_the_binding(
    channel_stack: ChannelStack, telegram: FakeTelegram
) -> None:
    user = telegram.next_id()
    ask(channel_stack, telegram, user, f"/start {code_for(channel_stack, DEMO_EN)}")
    ask(channel_stack, telegram, user, f"/start {code_for(channel_stack, DEMO_ZH)}")
    assert binding(channel_stack, user) == DEMO_ZH
    reply = ask(channel_stack, telegram, user, ORDER_ZH)
    assert DEMO_ZH_LATEST_ORDER in reply and DEMO_EN_LATEST_ORDER not in reply


def test_a_link_command_in_a_group_chat_is_refused_and_the_code_still_links_privately(
    channel_stack: ChannelStack, dingtalk: FakeDingTalk
) -> None:
    staff = "staff" + secrets.token_hex(6)
    code = code_for(channel_stack, DEMO_EN)
    refused = dingtalk_says(channel_stack, dingtalk, staff, f"link {code}", group=True)
    assert PRIVATE_ONLY in refused and "群聊" in refused, refused
    assert LINKED not in refused
    with sqlite3.connect(channel_stack.tracker_db) as db:
        stored = db.execute(
            "SELECT user_id FROM channel_bindings WHERE channel = 'dingtalk' AND user_id LIKE ?",
            (f"{staff}%",),
        ).fetchall()
    assert stored == []
    # The group's conversation gets no personal data and no verified customer.
    anonymous = dingtalk_says(channel_stack, dingtalk, staff, ORDER_EN, group=True)
    assert DEMO_EN_LATEST_ORDER not in anonymous
    group_user = f"{staff}@{body_conversation(dingtalk, staff)}"
    group_events = channel_stack.events(sender_id_of("dingtalk", group_user), "user")
    assert group_events, "the group's message is not in the tracker"
    for event in group_events:
        assert "verified_customer_id" not in (event.get("metadata") or {})
    # The same code, sent in the private chat with the robot, links.
    assert LINKED in dingtalk_says(channel_stack, dingtalk, staff, f"绑定 {code}", group=False)
    assert binding(channel_stack, staff, "dingtalk") == DEMO_EN
    # Still nothing personal in the group, even now that the person is linked.
    assert DEMO_EN_LATEST_ORDER not in dingtalk_says(
        channel_stack, dingtalk, staff, ORDER_EN, group=True
    )
