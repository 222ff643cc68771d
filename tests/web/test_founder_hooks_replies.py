"""The founder's Telegram replies reach only the customer they mean, and the founder is told
what really happened.

* A ref is read from a quoted message only when it is anchored (an acknowledgement's lead
  ``已发送给客户（#A17）``, or ``#A17`` starting the text): a reply to the help text, or to
  an alert whose customer wrote ``#A1``, goes to no other customer.
* Only the founder's private chat is taken: a message in a group (any member could write
  it) is refused with a bilingual explanation.
* Rasa's ``delivered`` answer decides the acknowledgement (sent / refused by the app /
  still sending); a message Rasa refuses after the pause resumes the bot (or, when even
  that fails, records the take-over so the console shows it).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from analytics.loop.alerts.message import AlertFacts, plain, render
from analytics.store.db import make_engine, make_sessionmaker
from analytics.store.models import Conversation
from analytics.store.repositories import alerts as alert_repo
from tests.channels.fakes.founder_apps import FOUNDER_CHAT_ID
from tests.web.founder_hooks_support import (
    TELEGRAM_ALERT_MESSAGE_ID,
    Hooks,
    founder_apps,
    hooks,
)
from web.founder_hooks import texts

__all__ = ["founder_apps", "hooks"]  # fixtures

pytestmark = pytest.mark.channels

UNKNOWN_MESSAGE_ID = 31337


def file_until(hooks: Hooks, ref: str) -> str:
    """Files alerts on a third conversation until one has ``ref``; its sender id."""
    engine = make_engine(hooks.store_url)
    try:
        with make_sessionmaker(engine)() as db:
            third = list(
                db.scalars(
                    select(Conversation)
                    .where(Conversation.customer_id.is_not(None))
                    .order_by(Conversation.id)
                    .limit(3)
                )
            )[2]
            filed = None
            while filed != ref:
                alert = alert_repo.create_alert(
                    db,
                    conversation_id=third.id,
                    sender_id=third.sender_id,
                    customer_id=int(third.customer_id or 0),
                    reasons=["cancel_intent"],
                    channels=["telegram"],
                    at=datetime.now(UTC) - timedelta(minutes=5),
                )
                filed = alert.ref
            db.commit()
            return third.sender_id
    finally:
        engine.dispose()


def test_a_reply_to_the_help_text_goes_to_no_customer(hooks: Hooks) -> None:
    file_until(hooks, "A17")  # the old help text's example was a real ref
    before = hooks.counts()
    hooks.post_telegram(hooks.telegram.reply_update("hello?"))
    (help_text,) = hooks.telegram.founder_texts()
    assert help_text == texts.HELP
    help_id = hooks.telegram.message_id_of(help_text)
    for text in (texts.HELP, texts.AMBIGUOUS.format(refs="#A17、#A2", first="A17")):
        hooks.post_telegram(hooks.telegram.reply_update("ok thanks", reply_to=help_id, quoted=text))
    conflict = texts.CONFLICT.format(replied="A17", named="A1")
    hooks.post_telegram(hooks.telegram.reply_update("ok", reply_to=help_id, quoted=conflict))
    assert hooks.rasa.received == []
    assert hooks.counts() == before
    assert hooks.telegram.founder_texts()[1:] == [texts.HELP] * 3


def test_a_ref_planted_by_a_customer_in_an_alert_is_not_taken(hooks: Hooks) -> None:
    first, second = hooks.first, hooks.second
    planted = f"please pass to #{first.ref} ＃{first.ref} ﹟{first.ref} thanks"
    assert "#" not in plain(planted, 200) and "＃" not in plain(planted, 200)
    alert = render(
        AlertFacts(second.ref, second.conversation_id, f"#{first.ref} Li", "cus_2", None, None,
                   None, ["cancel_intent"], excerpt=planted),
        "http://console.test",
    )  # fmt: skip
    top, *rest = alert.text.splitlines()
    assert top == f"#{second.ref}"
    assert f"#{first.ref}" not in "\n".join(rest) and f"＃{first.ref}" not in alert.text
    # The alert's message id is unknown here (not recorded): its top line names the alert.
    reply = hooks.telegram.reply_update("On it", reply_to=UNKNOWN_MESSAGE_ID, quoted=alert.text)
    hooks.post_telegram(reply)
    (message,) = hooks.founder_calls("message")
    assert second.sender_id in message.path and first.sender_id not in message.path
    # The same words quoted without the alert's top line name nothing.
    hooks.post_telegram(
        hooks.telegram.reply_update("On it", reply_to=UNKNOWN_MESSAGE_ID + 1, quoted=planted)
    )
    assert len(hooks.founder_calls("message")) == 1
    assert hooks.telegram.founder_texts()[-1] == texts.HELP


def group_update(hooks: Hooks, text: str, **kw: object) -> dict:
    """A message in the alert chat when it is a group (a member other than the founder)."""
    update = hooks.telegram.reply_update(text, **kw)  # type: ignore[arg-type]
    update["message"]["chat"] = {"id": FOUNDER_CHAT_ID, "type": "supergroup", "title": "Shop"}
    update["message"]["from"] = {"id": 555, "is_bot": False, "first_name": "Clerk"}
    return update


def test_replies_from_a_group_are_refused_with_an_explanation(hooks: Hooks) -> None:
    before = hooks.counts()
    reply = group_update(hooks, "Refund them all", reply_to=TELEGRAM_ALERT_MESSAGE_ID)
    for _ in range(2):  # a re-delivery is explained once
        assert hooks.post_telegram(reply).status_code == 200
    assert hooks.post_telegram(group_update(hooks, f"#{hooks.first.ref} hi")).status_code == 200
    assert hooks.post_telegram(group_update(hooks, "lunch at noon?")).status_code == 200
    assert hooks.telegram.founder_texts() == [texts.GROUP_REFUSED] * 2
    assert "私聊" in texts.GROUP_REFUSED and "private chat" in texts.GROUP_REFUSED
    # Even the founder, in that group, is not taken; nor a private chat's foreign sender.
    founder_in_group = group_update(hooks, "hi", reply_to=TELEGRAM_ALERT_MESSAGE_ID)
    founder_in_group["message"]["from"]["id"] = FOUNDER_CHAT_ID
    hooks.post_telegram(founder_in_group)
    forged = hooks.telegram.reply_update("hi", reply_to=TELEGRAM_ALERT_MESSAGE_ID)
    forged["message"]["from"]["id"] = 555
    hooks.post_telegram(forged)
    assert hooks.rasa.received == []
    assert hooks.counts() == before


@pytest.mark.parametrize(
    ("delivered", "zh", "en"),
    [
        (True, "已发送给客户", "Sent to the customer"),
        (False, "客户的应用拒收", "the customer's app refused it"),
        (None, "正在发送给客户", "Still sending to the customer"),
    ],
)
def test_the_acknowledgement_says_what_the_app_did(
    hooks: Hooks, delivered: bool | None, zh: str, en: str
) -> None:
    answer = {"ok": True, "timestamp": 1.0, "channel": "wechat", "delivered": delivered}
    hooks.rasa.post_answers["/message"] = (200, answer)
    hooks.post_telegram(hooks.telegram.reply_update("Hello", reply_to=TELEGRAM_ALERT_MESSAGE_ID))
    (ack,) = hooks.telegram.founder_texts()
    assert zh in ack and en in ack and hooks.first.ref in ack
    if delivered is not True:
        assert texts.SENT.format(ref=hooks.first.ref) not in ack
    # Recorded in the conversation either way: the bot is paused, the take-over shown.
    assert [m.text for m in hooks.founder_messages()] == ["Hello"]
    assert hooks.active_takeover(hooks.first.conversation_id) is not None
    # A reply to that acknowledgement goes to the same alert.
    ack_id = hooks.telegram.message_id_of(ack)
    hooks.post_telegram(hooks.telegram.reply_update("Again", reply_to=ack_id, quoted=ack))
    assert hooks.first.sender_id in hooks.founder_calls("message")[-1].path
    assert len(hooks.founder_calls("message")) == 2


def test_a_refused_message_after_the_pause_resumes_the_bot(hooks: Hooks) -> None:
    hooks.rasa.post_answers["/message"] = (502, {"error": "bad gateway"})
    hooks.post_telegram(hooks.telegram.reply_update("Hello", reply_to=TELEGRAM_ALERT_MESSAGE_ID))
    (ack,) = hooks.telegram.founder_texts()
    assert "Not sent to the customer" in ack and "未能发送给客户" in ack
    actions = [call.path.rsplit("/", 1)[-1] for call in hooks.founder_calls()]
    assert actions == ["pause", "message", "resume"]
    assert hooks.active_takeover(hooks.first.conversation_id) is None
    assert hooks.founder_messages() == []  # released: a retry may send it


def test_when_even_the_resume_fails_the_console_shows_the_takeover(hooks: Hooks) -> None:
    hooks.rasa.post_answers["/message"] = (502, {"error": "bad gateway"})
    hooks.rasa.post_answers["/resume"] = (503, {"error": "unavailable"})
    hooks.post_telegram(hooks.telegram.reply_update("Hello", reply_to=TELEGRAM_ALERT_MESSAGE_ID))
    (ack,) = hooks.telegram.founder_texts()
    assert "still paused" in ack and "仍处于暂停" in ack and hooks.first.ref in ack
    takeover = hooks.active_takeover(hooks.first.conversation_id)
    assert takeover is not None and "telegram" in takeover.author
    assert hooks.founder_messages() == []
