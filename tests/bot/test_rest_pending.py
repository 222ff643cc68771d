"""The delivery rule of founder messages over REST (``bot.channels.rest_pending.ledger_of``).

Real Rasa events, in the order a tracker would hold them; the REST door's behaviour against a
running server is in ``tests/bot/test_rest_channel.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
from rasa.shared.core.events import (
    ActionExecuted,
    AgentUttered,
    BotUttered,
    ConversationPaused,
    Event,
    SessionStarted,
    UserUttered,
)

from bot.channels.rest_pending import (
    FounderMessage,
    delivery_mark,
    founder_message,
    is_delivery_mark,
    ledger_of,
)

pytestmark = pytest.mark.rasa_env


def user(message_id: str, customer: str | None = None, channel: str = "rest") -> UserUttered:
    metadata: dict[str, Any] = {"verified_customer_id": customer} if customer else {}
    return UserUttered("hi", input_channel=channel, message_id=message_id, metadata=metadata)


def founder(text: str, image: str | None = None) -> BotUttered:
    return BotUttered(text, {"image": image} if image else {}, {"author": "founder"})


def texts(messages: list[FounderMessage]) -> list[str]:
    return [m.text for m in messages]


def test_a_founder_message_goes_with_the_next_customer_message_only() -> None:
    events: list[Event] = [
        user("m1"),
        BotUttered("bot reply"),
        ConversationPaused(),
        founder("F1"),
        founder("F2"),
        user("m2"),
        founder("F3"),
    ]
    ledger = ledger_of(events)
    assert texts(ledger.carried_by("m1")) == []
    assert texts(ledger.carried_by("m2")) == ["F1", "F2"]
    assert texts(ledger.pending_for(None)) == ["F3"]
    ledger = ledger_of([*events, user("m3")])
    assert texts(ledger.carried_by("m3")) == ["F3"] and ledger.pending_for(None) == []


def test_a_delivery_mark_settles_what_was_pending_for_its_caller() -> None:
    events: list[Event] = [user("m1"), founder("F1"), delivery_mark(None), founder("F2")]
    ledger = ledger_of(events)
    assert texts(ledger.pending_for(None)) == ["F2"]
    ledger = ledger_of([*events, user("m2")])
    assert texts(ledger.carried_by("m2")) == ["F2"]  # F1 went with the fetch, not again


def test_a_message_written_between_a_fetch_and_the_next_message_is_not_lost() -> None:
    # The stream answer fetches first (a mark), then the customer message lands.
    events: list[Event] = [user("m1"), founder("F1"), delivery_mark(None)]
    events += [founder("F2"), user("m2")]
    assert texts(ledger_of(events).carried_by("m2")) == ["F2"]


def test_a_verified_customers_messages_reach_only_that_customer() -> None:
    events: list[Event] = [user("m1", "cus_1"), founder("for cus_1")]
    assert ledger_of(events).pending_for(None) == []
    assert ledger_of(events).pending_for("cus_2") == []
    assert texts(ledger_of(events).pending_for("cus_1")) == ["for cus_1"]
    # Someone else's message neither receives nor consumes it, nor does their fetch.
    events += [user("x1"), user("x2", "cus_2"), delivery_mark(None), delivery_mark("cus_2")]
    ledger = ledger_of(events)
    assert ledger.carried_by("x1") == [] and ledger.carried_by("x2") == []
    assert texts(ledger.pending_for("cus_1")) == ["for cus_1"]
    events.append(user("m2", "cus_1"))
    assert texts(ledger_of(events).carried_by("m2")) == ["for cus_1"]


def test_the_owner_is_the_customer_verified_before_the_message_was_written() -> None:
    # Anonymous so far: the sender id is the credential. Verified later: only that customer.
    events: list[Event] = [user("m1"), founder("F1"), user("m2", "cus_1"), founder("F2")]
    events += [user("m3")]  # an unverified message after the customer was verified
    ledger = ledger_of(events)
    assert texts(ledger.carried_by("m2")) == ["F1"]
    assert ledger.carried_by("m3") == []
    assert texts(ledger.pending_for("cus_1")) == ["F2"]


def test_only_rest_conversations_are_served_over_rest() -> None:
    events: list[Event] = [user("w1", channel="widget"), founder("pushed over the socket")]
    ledger = ledger_of(events)
    assert ledger.pending_for(None) == []
    events += [user("r1")]  # a REST message with that sender id does not get it either
    assert ledger_of(events).carried_by("r1") == []
    # ... and a founder message with no customer message before it is nobody's.
    assert ledger_of([founder("F")]).pending_for(None) == []


def test_sessions_bot_replies_and_other_events_do_not_deliver() -> None:
    events: list[Event] = [user("m1"), founder("F1"), BotUttered("bot", metadata={})]
    events += [ActionExecuted("action_session_start"), SessionStarted()]
    events += [AgentUttered("not a mark", metadata={"delivered": "widget"}), user("m2")]
    assert texts(ledger_of(events).carried_by("m2")) == ["F1"]


def test_what_counts_as_a_founder_message() -> None:
    event = founder("hello")
    assert founder_message(event) == FounderMessage("hello", event.timestamp)
    picture = founder_message(founder("", "https://shop.test/a.png"))
    assert picture is not None and picture.image == "https://shop.test/a.png"
    assert founder_message(founder("", "javascript:alert(1)")) is None  # nothing to show
    unsafe = founder_message(founder("look", "data:image/png;base64,AAAA"))
    assert unsafe is not None and unsafe.image is None
    assert founder_message(BotUttered("bot reply")) is None
    assert founder_message(BotUttered("x", metadata={"author": "Founder"})) is None
    assert founder_message(user("m1")) is None
    assert is_delivery_mark(delivery_mark("cus_1")) and not is_delivery_mark(user("m1"))


def test_the_reply_item_is_marked_as_from_the_founder() -> None:
    item = FounderMessage("您好", 1700000000.5, "https://shop.test/a.png").reply("rest-1")
    assert item == {
        "recipient_id": "rest-1",
        "text": "您好",
        "author": "founder",
        "timestamp": 1700000000.5,
        "image": "https://shop.test/a.png",
    }


def test_a_mark_survives_a_round_trip_through_json() -> None:
    mark = delivery_mark("cus_1")
    again = Event.from_parameters(mark.as_dict())
    assert is_delivery_mark(again) and again.metadata["customer"] == "cus_1"
    stored = Event.from_parameters(founder("F").as_dict())
    assert founder_message(stored) is not None
