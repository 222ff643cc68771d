"""Telegram through the real Rasa server, against the fake Bot API.

Updates carry the ``X-Telegram-Bot-Api-Secret-Token`` header as Telegram sends it. Covers:
zh and en answered in their language, a missing or wrong secret refused with nothing stored,
a redelivered ``update_id`` answered once, ``sendMessage`` failures (5xx, 429 with
``retry_after``) retried, a long founder message split under 4,096 characters, buttons as an
inline keyboard and a press answered, and hostile bodies with the server still answering.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.channels.conftest import ChannelStack
from tests.channels.fakes.telegram import MAX_TEXT_CHARS, FakeTelegram
from tests.e2e.stack import wait_for

HAN = re.compile(r"[\u4e00-\u9fff]")
REPLY_TIMEOUT_S = 60.0
SETTLE_S = 2.0
PART_SUFFIX = re.compile(r" \((\d+)/(\d+)\)$")


@pytest.fixture()
def telegram(channel_stack: ChannelStack) -> FakeTelegram:
    fake = channel_stack.fakes["telegram"]
    assert isinstance(fake, FakeTelegram)
    fake.reset()
    return fake


def new_user() -> int:
    return 10**9 + secrets.randbelow(10**9)


def sent(fake: FakeTelegram, user: int, n: int = 1) -> list[dict[str, Any]]:
    """Waits for ``n`` successful ``sendMessage`` calls to ``user``'s chat; returns them."""

    def ok() -> list[dict[str, Any]] | None:
        found = [b for b in fake.sent(user) if b.get("text")]
        return found if len(found) >= n else None

    return list(wait_for(ok, REPLY_TIMEOUT_S, f"{n} Telegram message(s) to {user}"))


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def say(stack: ChannelStack, fake: FakeTelegram, user: int, text: str, **kw: Any) -> Any:
    return fake.post_update(stack.rasa_url, fake.message_update(text, user, **kw))


@pytest.mark.parametrize(
    ("text", "chinese"), [("我的订单到哪了", True), ("where is my order?", False)]
)
def test_a_message_is_answered_in_its_language(
    channel_stack: ChannelStack, telegram: FakeTelegram, text: str, chinese: bool
) -> None:
    user = new_user()
    answer = say(channel_stack, telegram, user, text)
    assert answer.status_code == 200
    reply = "\n".join(b["text"] for b in sent(telegram, user))
    assert bool(HAN.search(reply)) is chinese, reply
    assert channel_stack.user_texts(f"telegram:{user}") == [text]
    assert channel_stack.bot_texts(f"telegram:{user}")


@pytest.mark.parametrize(("language", "chinese"), [("zh-hans", True), ("en", False)])
def test_start_is_greeted_in_the_app_language(
    channel_stack: ChannelStack, telegram: FakeTelegram, language: str, chinese: bool
) -> None:
    user = new_user()
    update = telegram.message_update("/start", user)
    update["message"]["from"]["language_code"] = language
    assert telegram.post_update(channel_stack.rasa_url, update).status_code == 200
    reply = "\n".join(b["text"] for b in sent(telegram, user))
    assert bool(HAN.search(reply)) is chinese, reply
    assert "didn't quite get" not in reply and "没太明白" not in reply


def test_a_missing_or_wrong_secret_is_refused_and_stores_nothing(
    channel_stack: ChannelStack, telegram: FakeTelegram
) -> None:
    user = new_user()
    update = telegram.message_update("我的订单到哪了", user)
    assert telegram.post_update(channel_stack.rasa_url, update, secret="").status_code == 401
    assert telegram.post_update(channel_stack.rasa_url, update, secret="wrong").status_code == 403
    near = telegram.secret[:-1] + ("A" if telegram.secret[-1] != "A" else "B")
    assert telegram.post_update(channel_stack.rasa_url, update, secret=near).status_code == 403
    time.sleep(SETTLE_S)
    assert f"telegram:{user}" not in channel_stack.senders()
    assert telegram.sent(user) == []
    # The same update with the right secret is then processed: nothing was claimed.
    assert telegram.post_update(channel_stack.rasa_url, update).status_code == 200
    sent(telegram, user)


def test_a_redelivered_update_is_answered_once(
    channel_stack: ChannelStack, telegram: FakeTelegram
) -> None:
    user = new_user()
    update = telegram.message_update("你好", user)
    with ThreadPoolExecutor(3) as pool:
        answers = list(
            pool.map(lambda _: telegram.post_update(channel_stack.rasa_url, update), range(3))
        )
    assert [a.status_code for a in answers] == [200, 200, 200]
    first = sent(telegram, user)
    time.sleep(SETTLE_S)
    assert telegram.post_update(channel_stack.rasa_url, update).status_code == 200
    time.sleep(SETTLE_S)
    assert len(telegram.sent(user)) == len(first)
    assert channel_stack.user_texts(f"telegram:{user}") == ["你好"]


def test_send_failures_are_retried(channel_stack: ChannelStack, telegram: FakeTelegram) -> None:
    user = new_user()
    telegram.fail_next(
        2,
        502,
        json={"ok": False, "error_code": 502, "description": "Bad Gateway"},
        path="sendMessage",
    )
    assert say(channel_stack, telegram, user, "你好").status_code == 200
    attempts = telegram.wait_for_calls(3, "sendMessage", timeout=REPLY_TIMEOUT_S)
    bodies = [c.json for c in attempts]
    assert bodies[0] == bodies[1] == bodies[2]  # the same message, tried again
    # A 429 is waited out for its retry_after.
    telegram.reset()
    telegram.rate_limit_next(1, retry_after=1)
    assert say(channel_stack, telegram, user, "hello").status_code == 200
    calls = telegram.wait_for_calls(2, "sendMessage", timeout=REPLY_TIMEOUT_S)
    assert calls[1].at - calls[0].at >= 1.0
    assert calls[1].json == calls[0].json


def test_a_long_founder_message_is_split(
    channel_stack: ChannelStack, telegram: FakeTelegram
) -> None:
    user = new_user()
    say(channel_stack, telegram, user, "你好")
    before = len(sent(telegram, user))
    # The founder route takes 4,000 characters; Telegram counts UTF-16 units, in which each
    # emoji counts two: this message is 3,6xx characters but over 4,096 units.
    line = "乌龙茶🍵🍵🍵🍵🍵🍵🍵🍵🍵🍵🍵🍵高山茶园🌿🌿🌿🌿🌿🌿🌿🌿。"
    text = "\n\n".join("\n".join([f"{i}. {line}"] * 20) for i in range(5))
    assert len(text) <= 4000 and utf16(text) > MAX_TEXT_CHARS
    answer = channel_stack.founder(f"telegram:{user}", "message", {"text": text})
    assert answer.status_code == 200, answer.text
    parts = [b["text"] for b in sent(telegram, user, before + 2)[before:]]
    assert all(utf16(p) <= MAX_TEXT_CHARS for p in parts)
    assert all("\ufffd" not in p for p in parts)  # no emoji cut in half
    total = int(PART_SUFFIX.search(parts[0]).group(2))  # type: ignore[union-attr]
    assert total >= 2 and len(parts) == total
    joined = "".join(PART_SUFFIX.sub("", p) for p in parts)
    assert re.sub(r"\s", "", joined) == re.sub(r"\s", "", text)


def test_buttons_are_an_inline_keyboard_and_a_press_is_answered(
    channel_stack: ChannelStack, telegram: FakeTelegram
) -> None:
    user = new_user()
    say(channel_stack, telegram, user, "我想修改收货地址")
    with_buttons = [b for b in sent(telegram, user) if "reply_markup" in b]
    assert with_buttons, telegram.sent(user)
    keyboard = with_buttons[-1]["reply_markup"]["inline_keyboard"]
    button = keyboard[0][0]
    assert button["text"] and button["callback_data"].startswith("/")
    before = len(telegram.sent(user))
    press = telegram.callback_update(button["callback_data"], user)
    answer = telegram.post_update(channel_stack.rasa_url, press)
    assert answer.status_code == 200
    assert answer.json() == {
        "method": "answerCallbackQuery",
        "callback_query_id": press["callback_query"]["id"],
    }
    sent(telegram, user, before + 1)
    assert channel_stack.user_texts(f"telegram:{user}")[-1] == button["callback_data"]


def test_hostile_bodies(channel_stack: ChannelStack, telegram: FakeTelegram) -> None:
    url = channel_stack.rasa_url
    for body in (b"", b"\x00\xff\xfe" * 100, b"\xc3\x28", b"[]", b"{" * 50_000, b"null"):
        answer = telegram.post_update(url, body)
        assert answer.status_code == 400, (body[:10], answer.status_code)
    assert telegram.post_update(url, b"x" * (300 * 1024)).status_code == 413
    # Text with control characters and a lone surrogate: cleaned, stored, answered.
    user = new_user()
    update = telegram.message_update("PLACEHOLDER", user)
    raw = json.dumps(update).replace("PLACEHOLDER", "你好\\u0000\\u0007\\ud800 there\\u001b")
    assert telegram.post_update(url, raw).status_code == 200
    sent(telegram, user)
    stored = channel_stack.user_texts(f"telegram:{user}")
    assert stored and "\x00" not in stored[0] and "\ud800" not in stored[0]
    # An empty and a huge text: no crash, nothing but 200/4xx.
    for text in ("", "   ", "长" * 20_000):
        assert say(channel_stack, telegram, new_user(), text).status_code < 500
    # A flood from one user: every request answered quickly, the server still serves others.
    flooder = new_user()
    with ThreadPoolExecutor(8) as pool:
        codes = list(
            pool.map(
                lambda i: say(channel_stack, telegram, flooder, f"刷屏 {i}").status_code, range(40)
            )
        )
    assert all(code < 500 for code in codes), codes
    other = new_user()
    assert say(channel_stack, telegram, other, "hello").status_code == 200
    sent(telegram, other)


def test_a_long_button_payload_is_found_in_the_tracker(
    channel_stack: ChannelStack, telegram: FakeTelegram
) -> None:
    """A payload over 64 bytes travels as ``lp:<sha256[:40]>`` and is read back from the
    tracker: this Rasa process never rendered the button (it is written to the tracker store
    directly, as another server would have), yet the press carries the full payload."""
    user = new_user()
    sender = f"telegram:{user}"
    say(channel_stack, telegram, user, "你好")
    long_payload = '/human_handoff{"topic": "' + "修改收货地址" * 8 + '"}'
    assert len(long_payload.encode()) > 64
    bot = {
        "event": "bot",
        "timestamp": time.time(),
        "metadata": {},
        "text": "请选择",
        "data": {"buttons": [{"title": "转人工", "payload": long_payload}]},
    }
    with sqlite3.connect(channel_stack.tracker_db) as db:
        db.execute(
            "INSERT INTO events (sender_id, type_name, timestamp, data) VALUES (?, ?, ?, ?)",
            (sender, "bot", bot["timestamp"], json.dumps(bot)),
        )
    key = "lp:" + hashlib.sha256(long_payload.encode()).hexdigest()[:40]
    before = len(channel_stack.user_texts(sender))
    forged = "lp:" + "0" * 40  # no button of this conversation: dropped
    dropped = telegram.post_update(channel_stack.rasa_url, telegram.callback_update(forged, user))
    assert dropped.status_code == 200
    answer = telegram.post_update(channel_stack.rasa_url, telegram.callback_update(key, user))
    assert answer.status_code == 200
    texts = wait_for(
        lambda: channel_stack.user_texts(sender)[before:] or None,
        REPLY_TIMEOUT_S,
        "the pressed payload in the tracker",
    )
    assert texts == [long_payload]
    (event,) = channel_stack.events(sender, "user")[before:]
    assert event["parse_data"]["intent"]["name"] == "human_handoff"
