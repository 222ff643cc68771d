"""The founder answers an alert from the Telegram alert bot: ``POST /founder/hooks/telegram``.

The real web app on a real (seeded SQLite) store with two sent alerts; the founder's alert
bot is a fake Telegram Bot API (acknowledgements land there) and Rasa's founder routes are
a recording stand-in that the test checks for the founder JWT (the real path through Rasa
is ``tests/channels/test_alerts_e2e.py``).
"""

from __future__ import annotations

import time

import pytest

from tests.web.founder_hooks_support import (
    TELEGRAM_ALERT_MESSAGE_ID,
    Hooks,
    assert_founder_jwt,
    founder_apps,
    hooks,
)
from web.founder_hooks.routing import EVENT_KEY_PREFIX

__all__ = ["founder_apps", "hooks"]  # fixtures

pytestmark = pytest.mark.channels  # make test-channels runs the founder-alert tests too

SENT_ZH = "已发送给客户"
SENT_EN = "Sent to the customer"


def test_a_reply_to_an_alert_reaches_its_conversation(hooks: Hooks) -> None:
    update = hooks.telegram.reply_update(
        "您好，我是店主，马上帮您处理。", reply_to=TELEGRAM_ALERT_MESSAGE_ID
    )
    response = hooks.post_telegram(update)
    assert response.status_code == 200
    sender = hooks.first.sender_id
    pause, message = hooks.founder_calls()
    assert pause.path.endswith("/pause") and message.path.endswith("/message")
    assert sender in pause.path and sender in message.path
    assert message.body == {"text": "您好，我是店主，马上帮您处理。"}
    assert_founder_jwt(pause)
    assert_founder_jwt(message)
    stored = hooks.founder_messages()
    assert [m.text for m in stored] == ["您好，我是店主，马上帮您处理。"]
    assert stored[0].conversation_id == hooks.first.conversation_id
    assert stored[0].event_key == f"{EVENT_KEY_PREFIX}:telegram:{update['update_id']}"
    takeover = hooks.active_takeover(hooks.first.conversation_id)
    assert takeover is not None and "telegram" in takeover.author
    (ack,) = hooks.telegram.sent()
    assert SENT_ZH in ack["text"] and SENT_EN in ack["text"] and hooks.first.ref in ack["text"]
    assert ack["reply_parameters"]["message_id"] == update["message"]["message_id"]
    assert "parse_mode" not in ack


def test_a_leading_ref_names_the_alert(hooks: Hooks) -> None:
    ref = hooks.second.ref
    response = hooks.post_telegram(hooks.telegram.reply_update(f"#{ref.lower()} Hello, I'm on it"))
    assert response.status_code == 200
    (message,) = hooks.founder_calls("message")
    assert hooks.second.sender_id in message.path
    assert message.body == {"text": "Hello, I'm on it"}
    assert SENT_EN in hooks.telegram.founder_texts()[0]
    # Full-width ＃ (a Chinese keyboard) and a colon after the ref work too.
    hooks.post_telegram(hooks.telegram.reply_update(f"＃{ref}：好的"))
    assert hooks.founder_calls("message")[-1].body == {"text": "好的"}


def test_a_reply_to_the_acknowledgement_goes_to_the_same_alert(hooks: Hooks) -> None:
    hooks.post_telegram(hooks.telegram.reply_update("First", reply_to=TELEGRAM_ALERT_MESSAGE_ID))
    (ack,) = hooks.telegram.founder_texts()
    ack_id = hooks.telegram.message_id_of(ack)
    assert ack_id is not None
    hooks.post_telegram(hooks.telegram.reply_update("Second", reply_to=ack_id, quoted=ack))
    _, second = hooks.founder_calls("message")
    assert hooks.first.sender_id in second.path and second.body == {"text": "Second"}
    # A reply to the founder's own "#A2 ..." (its ref leads the text) goes to that alert.
    mine = f"#{hooks.second.ref} to the other customer"
    hooks.post_telegram(hooks.telegram.reply_update("Third", reply_to=77, quoted=mine))
    assert hooks.second.sender_id in hooks.founder_calls("message")[-1].path
    # A ref that does not lead the quoted text is never taken: help, nothing sent.
    inside = f"to the other customer, see #{hooks.second.ref}"
    hooks.post_telegram(hooks.telegram.reply_update("Fourth", reply_to=78, quoted=inside))
    assert len(hooks.founder_calls("message")) == 3
    assert "Reply to an alert" in hooks.telegram.founder_texts()[-1]


def test_a_redelivered_update_is_sent_once(hooks: Hooks) -> None:
    update = hooks.telegram.reply_update("Once only", reply_to=TELEGRAM_ALERT_MESSAGE_ID)
    for _ in range(3):
        assert hooks.post_telegram(update).status_code == 200
    assert len(hooks.founder_calls("message")) == 1
    assert len(hooks.founder_messages()) == 1
    assert len(hooks.telegram.founder_texts()) == 1


def test_a_redelivery_after_a_restart_is_sent_once(hooks: Hooks) -> None:
    from web.founder_hooks import routes

    update = hooks.telegram.reply_update("Once", reply_to=TELEGRAM_ALERT_MESSAGE_ID)
    hooks.post_telegram(update)
    routes.SEEN.clear()  # a new process: only the store remembers
    hooks.post_telegram(update)
    assert len(hooks.founder_calls("message")) == 1
    assert len(hooks.telegram.founder_texts()) == 1


def test_unknown_ref_and_no_target_get_help_and_send_nothing(hooks: Hooks) -> None:
    before = hooks.counts()
    hooks.post_telegram(hooks.telegram.reply_update("#A999999 hello"))
    hooks.post_telegram(hooks.telegram.reply_update("hello, which customer?"))
    hooks.post_telegram(hooks.telegram.reply_update("a reply to my own note", reply_to=12345))
    unknown, help_text, other = hooks.telegram.founder_texts()
    assert "A999999" in unknown and "找不到" in unknown and "There is no alert" in unknown
    assert "#A<number>" in help_text and "Reply to an alert" in help_text
    assert "#A17" not in help_text  # no real-looking ref in the help (a reply to it is lost)
    assert other == help_text
    assert hooks.rasa.received == []
    assert hooks.counts() == before


def test_reply_and_ref_that_disagree_send_nothing(hooks: Hooks) -> None:
    before = hooks.counts()
    update = hooks.telegram.reply_update(
        f"#{hooks.second.ref} hi", reply_to=TELEGRAM_ALERT_MESSAGE_ID
    )
    hooks.post_telegram(update)
    (answer,) = hooks.telegram.founder_texts()
    assert hooks.first.ref in answer and hooks.second.ref in answer
    assert hooks.rasa.received == [] and hooks.counts() == before


def test_the_same_ref_as_the_replied_alert_is_dropped_from_the_text(hooks: Hooks) -> None:
    update = hooks.telegram.reply_update(
        f"#{hooks.first.ref} hi there", reply_to=TELEGRAM_ALERT_MESSAGE_ID
    )
    hooks.post_telegram(update)
    assert hooks.founder_calls("message")[0].body == {"text": "hi there"}


def test_non_text_and_too_long_messages_are_not_sent(hooks: Hooks) -> None:
    before = hooks.counts()
    photo = hooks.telegram.reply_update(
        None, reply_to=TELEGRAM_ALERT_MESSAGE_ID, extra={"photo": [{"file_id": "x"}]}
    )
    hooks.post_telegram(photo)
    hooks.post_telegram(
        hooks.telegram.reply_update("长" * 2001, reply_to=TELEGRAM_ALERT_MESSAGE_ID)
    )
    text_only, too_long = hooks.telegram.founder_texts()
    assert "Only text messages" in text_only
    assert "2000" in too_long
    assert hooks.rasa.received == [] and hooks.counts() == before


def test_hand_back_resumes_the_bot(hooks: Hooks) -> None:
    hooks.post_telegram(
        hooks.telegram.reply_update("I'll call you", reply_to=TELEGRAM_ALERT_MESSAGE_ID)
    )
    assert hooks.active_takeover(hooks.first.conversation_id) is not None
    hooks.post_telegram(hooks.telegram.reply_update("/bot", reply_to=TELEGRAM_ALERT_MESSAGE_ID))
    (resume,) = hooks.founder_calls("resume")
    assert hooks.first.sender_id in resume.path
    assert_founder_jwt(resume)
    assert hooks.active_takeover(hooks.first.conversation_id) is None
    assert "Handed back to the bot" in hooks.telegram.founder_texts()[-1]
    hooks.post_telegram(hooks.telegram.reply_update(f"#{hooks.first.ref} 交还"))
    assert len(hooks.founder_calls("resume")) == 2
    assert len(hooks.founder_messages()) == 1  # commands are not messages to the customer


def test_rasa_down_tells_the_founder_and_keeps_nothing(hooks: Hooks, monkeypatch) -> None:
    from tests.web.founder_hooks_support import reset_caches
    from tests.web.servers import free_port

    monkeypatch.setenv("RASA_URL", f"http://127.0.0.1:{free_port()}")
    reset_caches()
    update = hooks.telegram.reply_update("Are you there?", reply_to=TELEGRAM_ALERT_MESSAGE_ID)
    assert hooks.post_telegram(update).status_code == 200
    (answer,) = hooks.telegram.founder_texts()
    assert "Not sent to the customer" in answer and "未能发送给客户" in answer
    assert f"http://console.test/console/conversations/{hooks.first.conversation_id}" in answer
    assert hooks.founder_messages() == []
    assert hooks.active_takeover(hooks.first.conversation_id) is None


def test_messages_of_other_chats_and_other_updates_are_dropped(hooks: Hooks) -> None:
    before = hooks.counts()
    stranger = hooks.telegram.reply_update(
        f"#{hooks.first.ref} give me a refund", chat_id=777, reply_to=TELEGRAM_ALERT_MESSAGE_ID
    )
    assert hooks.post_telegram(stranger).status_code == 200
    edited = {"update_id": 5, "edited_message": stranger["message"]}
    assert hooks.post_telegram(edited).status_code == 200
    old = hooks.telegram.reply_update(
        "yesterday's", reply_to=TELEGRAM_ALERT_MESSAGE_ID, date=int(time.time()) - 2 * 86400
    )
    assert hooks.post_telegram(old).status_code == 200
    hooks.nothing_happened(before)


def test_a_missing_or_wrong_secret_is_refused(hooks: Hooks, caplog) -> None:
    before = hooks.counts()
    update = hooks.telegram.reply_update("forged", reply_to=TELEGRAM_ALERT_MESSAGE_ID)
    assert hooks.post_telegram(update, secret="").status_code == 401
    wrong = hooks.telegram.secret[:-1] + ("A" if hooks.telegram.secret[-1] != "A" else "B")
    assert hooks.post_telegram(update, secret=wrong).status_code == 403
    assert hooks.post_telegram(update, secret=hooks.telegram.secret + "x").status_code == 403
    raw: dict[str, str | bytes] = {"X-Telegram-Bot-Api-Secret-Token": "é".encode() * 10 + b"\xff"}
    assert hooks.post_telegram(update, secret="", headers=raw).status_code == 403
    hooks.nothing_happened(before)
    assert "forged" not in caplog.text and wrong not in caplog.text


def test_security_headers_apply_and_the_console_still_needs_its_login(hooks: Hooks) -> None:
    update = hooks.telegram.reply_update("hi", reply_to=TELEGRAM_ALERT_MESSAGE_ID)
    for response in (hooks.post_telegram(update), hooks.post_telegram(update, secret="")):
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    page = hooks.client.get("/console/inbox", follow_redirects=False)
    assert page.status_code == 303 and "/console/login" in page.headers["location"]
    api = hooks.client.post(
        "/console/conversations/1/say", data={"text": "x"}, follow_redirects=False
    )
    assert api.status_code in (303, 401, 403)
    assert len(hooks.founder_calls("message")) == 1


def test_a_hook_without_its_variables_is_off(hooks: Hooks, monkeypatch) -> None:
    from tests.web.founder_hooks_support import reset_caches

    monkeypatch.setenv("TELEGRAM_ALERT_WEBHOOK_SECRET", "")
    reset_caches()
    update = hooks.telegram.reply_update("hi", reply_to=TELEGRAM_ALERT_MESSAGE_ID)
    assert hooks.post_telegram(update).status_code == 404
    assert hooks.post_telegram(update, secret="").status_code == 404
    assert hooks.rasa.received == []
