"""End to end: a customer who writes Traditional Chinese is answered in Traditional Chinese.

The real Rasa server (``bot.nlg.ScriptAwareNLG``, as in ``bot/endpoints.yml``), the real
action server and store, over REST. The main environment has no OpenCC, so the replies are
checked against pairs of common characters (Simplified, Traditional) that the domain's
Chinese responses use. A second Rasa server on the same tracker store continues the
conversation: the script is read back from the tracker, not kept in one process.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from analytics.demo.customers import DEMO_ZH, DEMO_ZH_LATEST_ORDER
from tests.e2e.stack import (
    Process,
    identity,
    rasa_server_with,
    say,
    write_endpoints,
)

pytestmark = pytest.mark.e2e

HAN = re.compile("[\u4e00-\u9fff]")
#: (Simplified, Traditional) characters that differ in every Traditional standard.
PAIRS = (
    "订訂 单單 发發 货貨 请請 吗嗎 们們 这這 说說 还還 没沒 时時 对對 问問 题題 阅閱 积積 帮幫 运運"
)
SIMPLIFIED_ONLY = {pair[0] for pair in PAIRS.split()}
TRADITIONAL_ONLY = {pair[1] for pair in PAIRS.split()}


def bot_texts(replies: list[dict]) -> str:
    """The bot's own reply texts (founder messages, if any, left out)."""
    return "\n".join(r.get("text") or "" for r in replies if r.get("author") != "founder")


def is_traditional(text: str) -> bool:
    """Chinese text with Traditional characters and none of the Simplified-only ones."""
    chars = set(text)
    return bool(HAN.search(text)) and bool(chars & TRADITIONAL_ONLY) and not chars & SIMPLIFIED_ONLY


def is_simplified(text: str) -> bool:
    """Chinese text with Simplified characters and none of the Traditional-only ones."""
    chars = set(text)
    return bool(chars & SIMPLIFIED_ONLY) and not chars & TRADITIONAL_ONLY


def new_sender() -> str:
    """A fresh conversation id."""
    return f"e2e-trad-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def second_rasa(
    env: dict[str, str],
    stack_dir: Path,
    actions_proc: Process,
    rasa: Process,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Process]:
    """Another Rasa server on the same tracker store (and action server) as ``rasa``."""
    endpoints = write_endpoints(stack_dir, actions_proc.url)  # the same file, same stores
    with rasa_server_with(env, tmp_path_factory.mktemp("rasa2"), endpoints) as process:
        yield process


def test_traditional_in_traditional_out_with_the_customers_order(
    rasa: Process, secret: str
) -> None:
    sender, metadata = new_sender(), identity(DEMO_ZH, secret)
    reply = bot_texts(say(rasa.url, sender, "我的訂單到哪了", metadata))
    assert DEMO_ZH_LATEST_ORDER in reply
    assert is_traditional(reply), reply
    # A neutral message keeps Traditional.
    again = bot_texts(say(rasa.url, sender, "好的", metadata))
    assert not HAN.search(again) or is_traditional(again), again


def test_simplified_and_english_are_untouched(rasa: Process, secret: str) -> None:
    metadata = identity(DEMO_ZH, secret)
    zh = bot_texts(say(rasa.url, new_sender(), "我的订单到哪了", metadata))
    assert DEMO_ZH_LATEST_ORDER in zh and is_simplified(zh), zh
    en = bot_texts(say(rasa.url, new_sender(), "where is my order?", metadata))
    assert DEMO_ZH_LATEST_ORDER in en and not HAN.search(en), en


def test_the_script_holds_across_rasa_servers(
    rasa: Process, second_rasa: Process, secret: str
) -> None:
    sender, metadata = new_sender(), identity(DEMO_ZH, secret)
    first = bot_texts(say(rasa.url, sender, "請問我的訂單到哪了", metadata))
    assert is_traditional(first), first
    # The next, neutral message reaches the other server: still Traditional.
    second = bot_texts(say(second_rasa.url, sender, f"{DEMO_ZH_LATEST_ORDER}", metadata))
    assert DEMO_ZH_LATEST_ORDER in second
    assert is_traditional(second), second
    # And a Simplified message there switches back.
    third = bot_texts(say(second_rasa.url, sender, "我的订单到哪了", metadata))
    assert is_simplified(third), third
