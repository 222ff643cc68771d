"""Traditional in, Traditional out, at both doors of a real ``rasa run``.

The shared door server (``tests/bot/door_server.py``: the newest trained model, the real
action server, ``bot.nlg.ScriptAwareNLG`` as in ``bot/endpoints.yml``). Over REST and over
the widget's socket.io: a customer writing Traditional Chinese gets only Traditional replies,
also after a neutral "好的"; Simplified stays Simplified, English stays English; the
widget's history shows what the customer saw; the founder's own words are never converted.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import pytest

pytest.importorskip("opencc")

from bot.channels.script import script_evidence  # noqa: E402
from tests.bot.door_server import DoorServer, http  # noqa: E402
from tests.bot.test_widget_channel import Client, history, run  # noqa: E402

pytestmark = pytest.mark.rasa_env

HAN = re.compile("[\u4e00-\u9fff]")


def rest_answer(server: DoorServer, sender: str, text: str) -> list[dict[str, Any]]:
    """The REST answer to one message (bot replies, and founder messages marked as such)."""
    reply = http(f"{server.url}/webhooks/rest/webhook", {"sender": sender, "message": text})
    assert reply.status == 200, reply.body
    return list(reply.body)


def rest(server: DoorServer, sender: str, text: str) -> list[str]:
    """The bot's own reply texts to one REST message."""
    texts = [
        m.get("text") or ""
        for m in rest_answer(server, sender, text)
        if m.get("author") != "founder"
    ]
    assert texts, f"no reply to {text!r}"
    return texts


def traditional(texts: list[str]) -> bool:
    """Chinese replies with Traditional characters and not one Simplified-only character."""
    joined = "\n".join(texts)
    trad, simp = script_evidence(joined)
    return bool(HAN.search(joined)) and trad > 0 and simp == 0


def simplified(texts: list[str]) -> bool:
    """Chinese replies without any Traditional-only character."""
    joined = "\n".join(texts)
    trad, simp = script_evidence(joined)
    return trad == 0 and simp > 0


def test_rest_traditional_in_traditional_out_and_sticky(door_server: DoorServer) -> None:
    sender = f"trad-{uuid.uuid4().hex[:8]}"
    first = rest(door_server, sender, "我的訂單到哪了")
    assert traditional(first), first
    assert any("登錄" in t for t in first), first  # not signed in: asked to sign in
    again = rest(door_server, sender, "好的")  # neutral: still Traditional
    assert traditional(again), again
    # The tracker holds what the customer saw.
    bot_texts = [
        e["text"]
        for e in door_server.tracker(sender)["events"]
        if e["event"] == "bot" and e["text"]
    ]
    assert bot_texts and all(script_evidence(t)[1] == 0 for t in bot_texts), bot_texts
    # Switching to Simplified switches the replies back.
    assert simplified(rest(door_server, sender, "我的订单到哪了"))


def test_rest_simplified_and_english_are_untouched(door_server: DoorServer) -> None:
    zh = rest(door_server, f"hans-{uuid.uuid4().hex[:8]}", "我的订单到哪了")
    assert simplified(zh) and any("登录" in t for t in zh), zh
    en = rest(door_server, f"en-{uuid.uuid4().hex[:8]}", "where is my order?")
    assert not HAN.search("\n".join(en)), en


def test_the_founders_words_in_a_traditional_conversation_stay_as_written(
    door_server: DoorServer,
) -> None:
    sender = f"trad-{uuid.uuid4().hex[:8]}"
    assert traditional(rest(door_server, sender, "請問可以退款嗎"))
    said = http(
        f"{door_server.url}/webhooks/widget/founder/{sender}/message",
        {"text": "你好，我是店主，这就帮你处理"},
        token=door_server.founder_jwt(),
    )
    assert said.status == 200, said.body
    founder = [
        e["text"]
        for e in door_server.tracker(sender)["events"]
        if e["event"] == "bot" and (e.get("metadata") or {}).get("author") == "founder"
    ]
    assert founder == ["你好，我是店主，这就帮你处理"]
    # A REST answer that carries it (docs/channels-rest.md) carries it as written, and the
    # founder's Simplified does not turn the conversation Simplified.
    answer = rest_answer(door_server, sender, "好的")
    carried = [m["text"] for m in answer if m.get("author") == "founder"]
    assert carried in ([], ["你好，我是店主，这就帮你处理"])
    assert traditional([m.get("text") or "" for m in answer if m.get("author") != "founder"])


def test_widget_traditional_in_traditional_out(door_server: DoorServer) -> None:
    async def scenario() -> tuple[list[Any], list[Any], str, str | None]:
        client = Client(door_server)
        session = await client.start()
        ack = await client.say("我的訂單到哪了", "w1")
        assert ack["ok"], ack
        await asyncio.sleep(0.5)
        first = [m.get("text") or "" for m in client.named("bot_uttered")]
        ack = await client.say("好的", "w2")
        assert ack["ok"], ack
        await asyncio.sleep(0.5)
        every = [m.get("text") or "" for m in client.named("bot_uttered")]
        await client.close()
        return first, every, session, client.token

    first, every, session, token = run(scenario())
    assert traditional(first), first
    assert len(every) > len(first) and traditional(every[len(first) :]), every
    # A reload shows the same Traditional replies.
    body = history(door_server, session, token).body
    shown = [m["text"] for m in body["messages"] if m["role"] == "bot"]
    assert shown == every


def test_widget_simplified_stays_simplified(door_server: DoorServer) -> None:
    async def scenario() -> list[str]:
        client = Client(door_server)
        await client.start()
        assert (await client.say("我的订单到哪了", "s1"))["ok"]
        await asyncio.sleep(0.5)
        texts = [m.get("text") or "" for m in client.named("bot_uttered")]
        await client.close()
        return texts

    texts = run(scenario())
    assert simplified(texts), texts
