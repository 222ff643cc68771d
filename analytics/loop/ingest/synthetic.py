"""Rasa-shaped event streams for tests and benchmarks of the ingest worker.

The events have exactly the fields Rasa 3.6 publishes through its event brokers (checked
against a real ``rasa run`` with the SQL broker): per turn a ``user`` event with
``parse_data`` (``intent``, ``entities``, ``language``) and ``metadata`` (for a signed-in
customer ``verified_customer_id``, as a door leaves it after checking the claim), a
``slot`` event, ``user_featurization``, the ``action``, the ``bot`` reply and
``action_listen``. :func:`write_sql_broker_rows` appends them to a database with the table
of Rasa's SQL event broker.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, text

from analytics.core.identity import VERIFIED_KEY
from analytics.core.language import cjk_count, latin_letter_count
from analytics.core.vocabulary import LANG_EN, LANG_MIXED, LANG_ZH

_TURNS: tuple[tuple[str, str, str, str], ...] = (
    # text, intent, action, bot reply
    ("我的订单到哪了", "order_status", "action_order_status", "订单 LB100234 已发出。"),
    ("where is my order?", "order_status", "action_order_status", "Order LB100234 is on its way."),
    ("快递太慢了，太失望了", "complain", "action_complain", "非常抱歉给你带来不好的体验。"),
    (
        "I want a refund, it arrived damaged",
        "refund_request",
        "action_refund_request",
        "I've filed a refund request.",
    ),
    ("我想取消订阅", "cancel_subscription", "action_cancel_subscription", "确定要取消订阅吗？"),
    ("谢谢，茶很好喝", "thank", "utter_thank", "不客气！"),
    ("my phone is +44 20 7946 0958", "update_account", "action_update_account", "Thanks, noted."),
    ("有什么推荐的吗", "ask_recommendation", "action_recommend", "最近大家都喜欢西湖龙井。"),
)


def turn_events(
    sender_id: str,
    user_text: str,
    intent: str,
    ts: float,
    *,
    action: str = "action_default",
    reply: str = "OK",
    language: str | None = None,
    metadata: dict[str, Any] | None = None,
    confidence: float = 0.93,
    entities: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The events Rasa publishes for one user turn.

    Args:
        sender_id: The conversation.
        user_text: What the customer typed.
        intent: The predicted intent.
        ts: The user event's timestamp (seconds since the epoch); later events follow it.
        action: The action the bot ran.
        reply: The bot's text.
        language: ``zh``, ``en`` or ``mixed`` (guessed from the text if omitted).
        metadata: The user event's metadata (``verified_customer_id``: :func:`identity`).
        confidence: Intent confidence.
        entities: Extracted entities.

    Returns:
        Six events in publication order.
    """
    if language is None:
        has_zh, has_en = cjk_count(user_text) > 0, latin_letter_count(user_text) > 0
        language = LANG_MIXED if has_zh and has_en else (LANG_ZH if has_zh else LANG_EN)
    message_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{sender_id}:{ts!r}").hex
    meta = dict(metadata or {})
    base = {"model_id": "synthetic", "assistant_id": "leafbean"}
    return [
        {
            "sender_id": sender_id,
            "event": "user",
            "timestamp": ts,
            "metadata": {**meta, **base},
            "text": user_text,
            "parse_data": {
                "intent": {"name": intent, "confidence": confidence},
                "entities": entities or [],
                "text": user_text,
                "message_id": message_id,
                "metadata": meta,
                "language": language,
                "intent_ranking": [{"name": intent, "confidence": confidence}],
            },
            "input_channel": "rest",
            "message_id": message_id,
        },
        {"sender_id": sender_id, "event": "slot", "timestamp": ts + 0.01, "metadata": base,
         "name": "language", "value": language},
        {"sender_id": sender_id, "event": "user_featurization", "timestamp": ts + 0.02,
         "metadata": base, "use_text_for_featurization": False},
        {"sender_id": sender_id, "event": "action", "timestamp": ts + 0.03, "metadata": base,
         "name": action, "policy": "RulePolicy", "confidence": 1.0, "action_text": None,
         "hide_rule_turn": False},
        {"sender_id": sender_id, "event": "bot", "timestamp": ts + 0.04,
         "metadata": {"utter_action": f"utter_{intent}", **base}, "text": reply,
         "data": {"buttons": None}},
        {"sender_id": sender_id, "event": "action", "timestamp": ts + 0.05, "metadata": base,
         "name": "action_listen", "policy": "RulePolicy", "confidence": 1.0,
         "action_text": None, "hide_rule_turn": False},
    ]  # fmt: skip


def identity(customer_id: str) -> dict[str, str]:
    """The metadata a door leaves on a message once it has verified the customer's claim.

    Args:
        customer_id: The external id.

    Returns:
        ``{"verified_customer_id": customer_id}``.
    """
    return {VERIFIED_KEY: customer_id}


def synthetic_stream(
    n_turns: int,
    *,
    customers: list[str],
    start_ts: float,
    seed: int = 0,
    senders: int = 50,
) -> Iterator[dict[str, Any]]:
    """A stream of interleaved conversations (6 events per turn).

    ``senders`` conversations are open at any time; each lasts 2 to 8 turns and is then
    replaced by a new one (sender ids ``synthetic-<seed>-<n>``), 70% of them signed in as a
    customer drawn from ``customers``.

    Args:
        n_turns: Number of user turns.
        customers: External ids to draw signed-in senders from (empty: all anonymous).
        start_ts: Timestamp of the first event.
        seed: Random seed.
        senders: Number of concurrent conversations.

    Yields:
        Events in publication order.
    """
    rng = random.Random(seed)
    opened = 0

    def new_conversation() -> list[Any]:
        nonlocal opened
        opened += 1
        who: dict[str, str] = {}
        if customers and rng.random() < 0.7:
            who = identity(rng.choice(customers))
        return [f"synthetic-{seed}-{opened}", rng.randint(2, 8), who]

    active = [new_conversation() for _ in range(senders)]
    ts = start_ts
    for i in range(n_turns):
        slot = rng.randrange(senders)
        sender, remaining, who = active[slot]
        turn = _TURNS[i % len(_TURNS)] if rng.random() < 0.5 else rng.choice(_TURNS)
        text_, intent, action, reply = turn
        yield from turn_events(sender, text_, intent, ts, action=action, reply=reply, metadata=who)
        active[slot][1] = remaining - 1
        if remaining - 1 <= 0:
            active[slot] = new_conversation()
        ts += 0.1 + rng.random()


def ensure_sql_broker_table(engine: Engine) -> None:
    """Create Rasa's SQL event broker table (``events``: id, sender_id, data) if missing.

    Args:
        engine: The events database.
    """
    pk = "SERIAL PRIMARY KEY" if engine.dialect.name == "postgresql" else "INTEGER PRIMARY KEY"
    with engine.begin() as conn:
        conn.execute(
            text(f"CREATE TABLE IF NOT EXISTS events (id {pk}, sender_id VARCHAR(255), data TEXT)")
        )


def write_sql_broker_rows(engine: Engine, events: list[dict[str, Any]]) -> None:
    """Append events as Rasa's SQL broker does (one row per event, JSON text).

    Args:
        engine: The events database (table created if missing).
        events: The events.
    """
    ensure_sql_broker_table(engine)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO events (sender_id, data) VALUES (:s, :d)"),
            [{"s": e.get("sender_id"), "d": json.dumps(e)} for e in events],
        )
