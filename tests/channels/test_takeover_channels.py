"""The founder takes over a messaging conversation: Rasa's founder route reaches the customer.

Through the real Rasa server (``channel_stack``) and the fake Telegram Bot API: a customer
writes on Telegram; the founder pauses the bot (the customer's next message is recorded and
the bot stays silent), writes through ``POST /webhooks/widget/founder/<id>/message`` (the
route the console's ``RasaBridge`` uses) and the message reaches the customer's chat: once,
retried after a platform failure, split into numbered parts when it is longer than a Telegram
message (counted in UTF-16 units, as Telegram counts); then resumes the bot. A REST
conversation's founder message is answered as before (nothing sent to any platform).
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

import httpx
import pytest

from tests.channels.conftest import ChannelStack
from tests.channels.fakes.telegram import MAX_TEXT_CHARS, FakeTelegram
from tests.e2e.stack import wait_for

REPLY_TIMEOUT_S = 60.0
#: How long the bot gets to (wrongly) answer a paused conversation.
SILENCE_S = 3.0
PART_RE = re.compile(r" \((\d+)/(\d+)\)$")


@pytest.fixture()
def telegram(channel_stack: ChannelStack) -> FakeTelegram:
    fake = channel_stack.fakes.get("telegram")
    if not isinstance(fake, FakeTelegram):
        pytest.fail("the Telegram fake is not in the channel stack")
    fake.reset()
    return fake


def _new_user() -> int:
    return 10**9 + secrets.randbelow(10**9)


def _texts(fake: FakeTelegram, user: int) -> list[str]:
    """Texts of the successful sends to a chat (200 answers), oldest first."""
    texts = []
    for call in fake.calls_to(r"/sendMessage$"):
        body = call.json if isinstance(call.json, dict) else {}
        if str(body.get("chat_id")) == str(user):
            texts.append(str(body.get("text", "")))
    return texts


def _wait_sends(fake: FakeTelegram, user: int, n: int) -> list[str]:
    return list(
        wait_for(
            lambda: t if len(t := _texts(fake, user)) >= n else None,
            REPLY_TIMEOUT_S,
            f"{n} sendMessage call(s) to {user}",
        )
    )


def _say(stack: ChannelStack, fake: FakeTelegram, user: int, text: str) -> None:
    answer = fake.post_update(stack.rasa_url, fake.message_update(text, user))
    assert answer.status_code == 200, answer.text


def _start_conversation(stack: ChannelStack, fake: FakeTelegram) -> tuple[int, str, int]:
    user = _new_user()
    _say(stack, fake, user, "你好")
    sends = len(_wait_sends(fake, user, 1))
    time.sleep(0.5)  # every reply of the greeting turn has gone out
    return user, f"telegram:{user}", max(sends, len(_texts(fake, user)))


def test_the_founder_takes_over_a_telegram_conversation(
    channel_stack: ChannelStack, telegram: FakeTelegram
) -> None:
    user, sender, sends = _start_conversation(channel_stack, telegram)

    assert channel_stack.founder(sender, "pause").json() == {"ok": True, "paused": True}
    _say(channel_stack, telegram, user, "我要退款，订单一直没到")
    wait_for(
        lambda: "我要退款，订单一直没到" in channel_stack.user_texts(sender),
        REPLY_TIMEOUT_S,
        "the paused conversation's message in the tracker",
    )
    time.sleep(SILENCE_S)
    assert len(_texts(telegram, user)) == sends, "the bot answered while paused"

    text = "您好，我是店主。我已经为您安排退款，三个工作日内到账。 / Hi, the owner here: refund on its way."
    answer = channel_stack.founder(sender, "message", {"text": text})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["ok"] is True
    assert (body["channel"], body["delivered"]) == ("telegram", True)
    assert _texts(telegram, user)[sends:] == [text]
    founder_events = [
        e for e in channel_stack.events(sender, "bot") if (e.get("metadata") or {}).get("author")
    ]
    assert [e["text"] for e in founder_events] == [text]

    assert channel_stack.founder(sender, "resume").json() == {"ok": True, "paused": False}
    before = len(_texts(telegram, user))
    _say(channel_stack, telegram, user, "谢谢")
    _wait_sends(telegram, user, before + 1)


def test_a_founder_message_is_retried_after_a_platform_failure(
    channel_stack: ChannelStack, telegram: FakeTelegram
) -> None:
    user, sender, sends = _start_conversation(channel_stack, telegram)
    telegram.fail_next(1, 502, path="sendMessage")
    telegram.rate_limit_next(1, retry_after=1)
    started = time.monotonic()
    answer = channel_stack.founder(sender, "message", {"text": "稍等，我查一下。 / One moment."})
    assert answer.json()["delivered"] is True
    assert time.monotonic() - started >= 1.0  # Telegram's retry_after was honoured
    attempts = [
        c
        for c in telegram.calls_to(r"/sendMessage$")
        if str((c.json or {}).get("chat_id")) == str(user)
    ]
    assert len(attempts) == sends + 3
    assert all(
        (c.json or {}).get("text") == "稍等，我查一下。 / One moment." for c in attempts[-3:]
    )


def test_a_long_founder_message_is_split_into_numbered_parts(
    channel_stack: ChannelStack, telegram: FakeTelegram
) -> None:
    user, sender, sends = _start_conversation(channel_stack, telegram)
    sentence = "您的退款已经处理完成，请注意查收🙏。"  # the emoji is 2 UTF-16 units
    text = sentence * (3990 // len(sentence))
    assert len(text) <= 4000 < len(text.encode("utf-16-le")) // 2 and len(text) > 0
    utf16 = len(text.encode("utf-16-le")) // 2
    assert utf16 > MAX_TEXT_CHARS
    answer = channel_stack.founder(sender, "message", {"text": text})
    assert answer.json()["delivered"] is True
    parts = _texts(telegram, user)[sends:]
    assert len(parts) == 2
    for index, part in enumerate(parts, start=1):
        assert len(part.encode("utf-16-le")) // 2 <= MAX_TEXT_CHARS
        match = PART_RE.search(part)
        assert match is not None and match.groups() == (str(index), "2")
        assert PART_RE.sub("", part).endswith("。")
    assert "".join(PART_RE.sub("", p) for p in parts) == text
    # The tracker keeps the founder's message whole.
    assert channel_stack.bot_texts(sender)[-1] == text


def test_a_founder_message_to_a_rest_conversation_is_not_sent_to_a_platform(
    channel_stack: ChannelStack, telegram: FakeTelegram
) -> None:
    sender = f"rest-{secrets.token_hex(6)}"
    reply = httpx.post(
        f"{channel_stack.rasa_url}/webhooks/rest/webhook",
        json={"sender": sender, "message": "hello"},
        timeout=REPLY_TIMEOUT_S,
    )
    assert reply.status_code == 200
    telegram.reset()
    answer = channel_stack.founder(sender, "message", {"text": "Hi from the owner"})
    body: dict[str, Any] = answer.json()
    assert body["ok"] is True
    assert "channel" not in body and "delivered" not in body
    assert telegram.calls_to("sendMessage") == []


def test_a_founder_message_cannot_be_steered_by_a_rest_clients_metadata(
    channel_stack: ChannelStack, telegram: FakeTelegram
) -> None:
    """A REST client writing ``channel_address`` into its metadata gets nothing sent there."""
    user = _new_user()
    sender = f"rest-{secrets.token_hex(6)}"
    reply = httpx.post(
        f"{channel_stack.rasa_url}/webhooks/rest/webhook",
        json={
            "sender": sender,
            "message": "hello",
            "metadata": {"channel_address": {"chat_id": user}},
        },
        timeout=REPLY_TIMEOUT_S,
    )
    assert reply.status_code == 200
    telegram.reset()
    answer = channel_stack.founder(sender, "message", {"text": "Hi"})
    assert "delivered" not in answer.json()
    assert _texts(telegram, user) == []
