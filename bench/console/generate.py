"""Fills a seeded store with conversations and messages up to a target volume.

Usage::

    SHOP_DATABASE_URL=sqlite:///var/bench/shop.db .venv/bin/python -m analytics seed
    SHOP_DATABASE_URL=sqlite:///var/bench/shop.db .venv/bin/python -m bench.console.generate \
        --conversations 100000 --messages 1000000

Conversations are copied, with new ids, senders, times and small variations, from the
seeded shop's own scripted conversations (real customers, intents, actions, sentiment),
spread over the two years of history; every conversation gets ``messages / conversations``
messages (user and bot turns alternating).
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select

from analytics.core.settings import get_settings
from analytics.store.db import make_engine, make_sessionmaker
from analytics.store.models import Conversation, Customer, Message

BATCH_CONVERSATIONS = 5000
EXTRA_WORDS = ("please", "thanks", "asap", "again", "today", "谢谢", "麻烦", "尽快", "急", "好吗")


def generate(url: str, conversations: int, messages: int, seed: int = 7) -> dict[str, float]:
    """Adds conversations and messages until the store holds the targets.

    Args:
        url: The store.
        conversations: Target number of conversations.
        messages: Target number of messages.
        seed: Random seed.

    Returns:
        Counts and seconds.
    """
    rng = random.Random(seed)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    started = time.perf_counter()
    with sessions() as db:
        have_conv = db.scalar(select(func.count(Conversation.id))) or 0
        have_msg = db.scalar(select(func.count(Message.id))) or 0
        customers = list(db.scalars(select(Customer.id)))
        templates: list[list[dict[str, Any]]] = []
        for conv_id in db.scalars(select(Conversation.id).limit(2000)):
            rows = (
                db.execute(
                    select(
                        Message.role,
                        Message.text,
                        Message.language,
                        Message.intent,
                        Message.confidence,
                        Message.entities,
                        Message.action,
                        Message.sentiment,
                    )
                    .where(Message.conversation_id == conv_id)
                    .order_by(Message.created_at)
                )
                .mappings()
                .all()
            )
            if rows:
                templates.append([dict(r) for r in rows])
        last_id = db.scalar(select(func.max(Conversation.id))) or 0
        last_msg = db.scalar(select(func.max(Message.id))) or 0
    if not templates:
        raise SystemExit("seed the store first: python -m analytics seed")
    to_add = max(0, conversations - have_conv)
    per_conv = max(2, math.ceil((messages - have_msg) / max(1, to_add)))
    now = datetime.now(UTC)
    span = timedelta(days=730).total_seconds()
    conv_id = last_id
    msg_id = last_msg
    done = 0
    while done < to_add:
        n = min(BATCH_CONVERSATIONS, to_add - done)
        conv_rows: list[dict[str, Any]] = []
        msg_rows: list[dict[str, Any]] = []
        for _ in range(n):
            conv_id += 1
            template = rng.choice(templates)
            start = now - timedelta(seconds=rng.random() * span)
            anonymous = rng.random() < 0.2
            t = start
            lang = template[0]["language"] or "zh"
            for k in range(per_conv):
                base = template[k % len(template)]
                msg_id += 1
                text = base["text"]
                if k >= len(template) or rng.random() < 0.3:
                    text = f"{text} {rng.choice(EXTRA_WORDS)}"
                msg_rows.append(
                    {
                        "id": msg_id,
                        "conversation_id": conv_id,
                        "event_key": f"bench-{conv_id}-{k}",
                        "role": base["role"],
                        "text": text,
                        "language": base["language"],
                        "intent": base["intent"],
                        "confidence": None
                        if base["confidence"] is None
                        else round(min(0.99, max(0.2, base["confidence"] + rng.gauss(0, 0.1))), 3),
                        "entities": base["entities"],
                        "action": base["action"],
                        "sentiment": base["sentiment"],
                        "created_at": t,
                    }
                )
                t += timedelta(seconds=rng.randint(3, 90))
            recent = (now - t).days < 3
            handoff = rng.random() < 0.05
            conv_rows.append(
                {
                    "id": conv_id,
                    "sender_id": f"bench-{conv_id}",
                    "customer_id": None if anonymous else rng.choice(customers),
                    "channel": rng.choice(("web", "web", "web", "wechat", "rest")),
                    "language": lang if lang in ("zh", "en") else "zh",
                    "started_at": start,
                    "last_message_at": t,
                    "needs_handoff": handoff,
                    "handoff_reason": "complaint" if handoff else None,
                    "status": "open" if recent or (handoff and rng.random() < 0.3) else "resolved",
                    "rating": rng.choice((None, None, 1, 2, 3, 4, 5, 5)),
                    "reviewed": not recent and rng.random() < 0.8,
                }
            )
        with engine.begin() as conn:
            conn.execute(insert(Conversation), conv_rows)
            conn.execute(insert(Message), msg_rows)
        done += n
        print(f"  {have_conv + done:,} conversations, {msg_id:,} messages", file=sys.stderr)
    engine.dispose()
    return {
        "conversations": have_conv + done,
        "messages": msg_id,
        "seconds": round(time.perf_counter() - started, 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--console-facts",
        action="store_true",
        help="also build the console's summaries now (else its first request starts that "
        "in the background)",
    )
    args = parser.parse_args(argv)
    url = args.database_url or get_settings().database_url
    print(generate(url, args.conversations, args.messages, args.seed))
    if args.console_facts:
        from web.console.facts import refresh

        engine = make_engine(url)
        started = time.perf_counter()
        try:
            count = refresh(engine)
        finally:
            engine.dispose()
        print(f"console summaries: {count} conversations in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
