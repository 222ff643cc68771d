"""End to end: the running bot answers from the founder's FAQ (issue 15).

A stack of its own (action server and Rasa server) reads a temporary copy of ``knowledge/``
(``KNOWLEDGE_DIR``) with the default reload interval, so a test can add and delete a topic
file and watch the bot pick it up without retraining.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from actions.phrases import render_response
from analytics.core.language import to_traditional
from analytics.demo.customers import DEMO_ZH
from analytics.store.knowledge import load_knowledge
from analytics.store.models import Customer, KnowledgeAnswer, RefundRequest
from tests.actions.domain import DOMAIN
from tests.e2e.stack import Process, action_server, identity, rasa_server, say, texts

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
RELOAD_SECONDS = 10
DEADLINE_SECONDS = 60.0
POLL_SECONDS = 2.0

#: template syntax of every kind in the founder's text (Python format, Rasa slots, shell, %)
BRACES = "{name} {{WELCOME}} {0[answer]} 0[ %s ${x}"
TEAPOTS = """---
topic: teapots
title_zh: 茶壶
title_en: Teapots
---

## 紫砂壶开壶 / Seasoning a Yixing clay teapot {#teapots-seasoning}

<!-- zh -->
新买的紫砂壶开壶很简单：用开水里外烫洗三遍就可以泡茶了，不需要用茶叶煮壶。

<!-- en -->
Seasoning a new Yixing clay teapot is simple: rinse it inside and out three times with boiling water and it is ready, no need to boil it with tea leaves.

## 茶壶刻字 / Engraving a teapot {#teapots-engraving}

<!-- zh -->
紫砂壶可以免费刻字，刻字格式：{BRACES}

<!-- en -->
We engrave teapots for free, in the format: {BRACES}
""".replace("{BRACES}", BRACES)
ENGRAVING_QUESTIONS = {"zh": "紫砂壶可以刻字吗？", "en": "Do you engrave teapots?"}
TEAPOT_ZH = "新买的紫砂壶开壶很简单"
TEAPOT_EN = "Seasoning a new Yixing clay teapot is simple"
TEAPOT_QUESTIONS = {"zh": "紫砂壶怎么开壶？", "en": "How do I season a new Yixing clay teapot?"}


def new_sender() -> str:
    """A fresh conversation id."""
    return f"e2e-kb-{uuid.uuid4().hex[:10]}"


def reply(rasa: Process, text: str, metadata: dict | None = None) -> str:
    """The bot's reply texts to one message in a new conversation."""
    return texts(say(rasa.url, new_sender(), text, metadata))


def fallback(language: str) -> str:
    """The fallback reply's text in a language."""
    return render_response(DOMAIN["responses"], "utter_fallback", language)


def unknown(language: str) -> str:
    """The "I don't know, shall I ask the founder" reply's text in a language."""
    return render_response(DOMAIN["responses"], "utter_knowledge_unknown", language)


@pytest.fixture(scope="module")
def kb_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repository's knowledge folder the tests may change."""
    folder = tmp_path_factory.mktemp("kb") / "knowledge"
    folder.mkdir()
    for path in (REPO / "knowledge").glob("*.md"):
        shutil.copy(path, folder / path.name)
    return folder


@pytest.fixture(scope="module")
def kb_rasa(
    env: dict[str, str], kb_folder: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Process]:
    """Rasa and the action server, answering from ``kb_folder``."""
    kb_env = {
        **env,
        "KNOWLEDGE_DIR": str(kb_folder),
        "KNOWLEDGE_RELOAD_SECONDS": str(RELOAD_SECONDS),
    }
    workdir = tmp_path_factory.mktemp("kb_stack")
    with (
        action_server(kb_env, workdir) as actions,
        rasa_server(kb_env, workdir, actions.url) as rasa,
    ):
        yield rasa


def wait_for_reply(rasa: Process, question: str, check: str, present: bool) -> float:
    """Asks ``question`` until ``check`` is (or is no longer) in the reply; the seconds it took."""
    started = time.monotonic()
    while True:
        text = reply(rasa, question)
        if (check in text) == present:
            return time.monotonic() - started
        if time.monotonic() - started > DEADLINE_SECONDS:
            pytest.fail(f"after {DEADLINE_SECONDS} s the reply to {question!r} is still {text!r}")
        time.sleep(POLL_SECONDS)


def source_line(passage_id: str, language: str) -> str:
    """The source line the bot appends to an answer from ``passage_id`` (the FAQ as shipped)."""
    passage = next(p for p in load_knowledge(REPO / "knowledge") if p.id == passage_id)
    if language == "en":
        return f"Source: {passage.topic_title_en} > {passage.title_en}"
    return f"来源：{passage.topic_title_zh} >「{passage.title_zh}」"


@pytest.mark.parametrize(
    ("question", "passage_text", "passage_id", "language"),
    [
        ("支持七天无理由退货吗", "7 天内", "returns-refunds-policy", "zh"),
        ("How long do refunds take?", "refund", "returns-refunds-refund-time", "en"),
    ],
    ids=["zh", "en"],
)
def test_a_knowledge_question_is_answered_with_its_source(
    kb_rasa: Process, question: str, passage_text: str, passage_id: str, language: str
) -> None:
    text = reply(kb_rasa, question)
    assert source_line(passage_id, language) in text, text
    assert passage_text in text, text


def test_a_traditional_chinese_question_is_answered_in_traditional_chinese(
    kb_rasa: Process,
) -> None:
    text = reply(kb_rasa, "支持七天無理由退貨嗎")
    assert "簽收後 7 天內" in text, text
    assert to_traditional(source_line("returns-refunds-policy", "zh")) in text, text


def test_an_english_question_on_a_chinese_only_passage_quotes_the_chinese_text(
    kb_rasa: Process,
) -> None:
    text = reply(kb_rasa, "Do you accept freight collect shipping?")
    assert text.startswith(
        "This answer is only written in Chinese, so I'm quoting the Chinese text:"
    )
    assert "到付" in text
    assert source_line("shipping-freight-collect", "en") in text


def test_a_new_knowledge_file_is_answered_within_60_s_and_a_deleted_one_is_no_longer_used(
    kb_rasa: Process, kb_folder: Path
) -> None:
    for language, question in TEAPOT_QUESTIONS.items():
        assert TEAPOT_ZH not in reply(kb_rasa, question)
        assert TEAPOT_EN not in reply(kb_rasa, question), language
    path = kb_folder / "teapots.md"
    path.write_text(TEAPOTS, encoding="utf-8")
    took_zh = wait_for_reply(kb_rasa, TEAPOT_QUESTIONS["zh"], TEAPOT_ZH, present=True)
    assert "来源：茶壶 >「紫砂壶开壶」" in reply(kb_rasa, TEAPOT_QUESTIONS["zh"])
    english = reply(kb_rasa, TEAPOT_QUESTIONS["en"])
    assert TEAPOT_EN in english and "Source: Teapots > Seasoning a Yixing clay teapot" in english
    assert took_zh <= DEADLINE_SECONDS
    # the founder's text reaches the customer as written, template syntax and all
    assert f"紫砂壶可以免费刻字，刻字格式：{BRACES}" in reply(kb_rasa, ENGRAVING_QUESTIONS["zh"])
    english = reply(kb_rasa, ENGRAVING_QUESTIONS["en"])
    assert f"We engrave teapots for free, in the format: {BRACES}" in english
    path.unlink()
    took_gone = wait_for_reply(kb_rasa, TEAPOT_QUESTIONS["en"], TEAPOT_EN, present=False)
    print(f"\nnew file answered after {took_zh:.1f} s, deleted file unused after {took_gone:.1f} s")
    for question in TEAPOT_QUESTIONS.values():
        text = reply(kb_rasa, question)
        assert TEAPOT_ZH not in text and TEAPOT_EN not in text


@pytest.mark.parametrize(
    "noise",
    ["\x00\x1b[31m\u202e", " {answer}{0[x]}{{}} %s ${jndi:ldap://x} <script>alert(1)</script>"],
    ids=["controls", "templates"],
)
def test_a_hostile_question_gets_a_polite_answer(kb_rasa: Process, noise: str) -> None:
    text = reply(kb_rasa, "How long do refunds take?" + noise)
    answered = source_line("returns-refunds-refund-time", "en") in text
    assert answered or text == unknown("en"), text
    assert "<script>" not in text and "jndi" not in text


@pytest.mark.parametrize(
    ("message", "language"),
    [
        ("What's the weather going to be like in Hangzhou tomorrow?", "en"),
        ("Tell me a joke about cats", "en"),
        ("Who do you think will win the next election?", "en"),
        ("明天杭州会下雨吗", "zh"),
        ("帮我写一下数学作业", "zh"),
    ],
)
def test_out_of_scope_messages_get_the_fallback(
    kb_rasa: Process, message: str, language: str
) -> None:
    text = reply(kb_rasa, message)
    assert text in (fallback(language), unknown(language)), text


POLICY_QUESTIONS = [
    "What is your return policy?",
    "How long do refunds take?",
    "支持七天无理由退货吗",
    "退款一般多久到账",
]


def test_policy_questions_file_nothing_and_are_answered_from_the_faq(
    kb_rasa: Process, secret: str, shop_url: str
) -> None:
    engine = create_engine(shop_url)
    with Session(engine) as session:
        customer = session.scalars(select(Customer).where(Customer.external_id == DEMO_ZH)).one()
        count = select(func.count()).select_from(RefundRequest)
        before = session.scalar(count.where(RefundRequest.customer_id == customer.id))
    senders = []
    for question in POLICY_QUESTIONS:
        sender = new_sender()
        senders.append(sender)
        say(kb_rasa.url, sender, question, identity(DEMO_ZH, secret))
    with Session(engine) as session:
        after = session.scalar(count.where(RefundRequest.customer_id == customer.id))
        logged = session.scalars(
            select(KnowledgeAnswer).where(KnowledgeAnswer.sender_id.in_(senders))
        ).all()
    engine.dispose()
    assert after == before
    assert sorted(r.sender_id for r in logged) == sorted(senders)
    assert all(r.customer_id == customer.id for r in logged)
    assert all(r.passage_id and r.passage_id.startswith("returns-refunds-") for r in logged), [
        (r.question, r.passage_id) for r in logged
    ]
