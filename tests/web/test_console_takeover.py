"""End to end: the founder takes over a live widget conversation from the console, and
retrains the bot from the console.

Everything is real: a seeded SQLite store, the action server and the Rasa server (with the
widget channel and its SQL event broker) started by the helpers of ``tests/e2e/stack.py``,
the ingest worker (``python -m analytics.loop.ingest``) that puts the conversation into the
store, and the web app (demo shop with the built widget, and the console) under uvicorn.
A customer chats in the widget in one Chromium profile; the founder works in the console
in another.
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from analytics.store.db import make_engine, make_sessionmaker
from analytics.store.models import ROLE_FOUNDER, Conversation, Message
from tests.e2e.stack import (
    JWT_SECRET,
    REPO,
    Process,
    action_server,
    base_env,
    free_port,
    rasa_server,
    say,
    start,
)
from web.rasa_auth import rasa_headers

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

playwright_api = pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, Page, expect  # noqa: E402

from tests.browser.chat import Widget  # noqa: E402
from tests.browser.chromium import CHROMIUM, CHROMIUM_ARGS, require_browser  # noqa: E402

CUSTOMERS = 60
STORE_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class LiveStack:
    """The running product as this test sees it."""

    rasa_url: str
    web_url: str
    shop_url: str
    password: str
    workdir: Path


@pytest.fixture(scope="module")
def live_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    """Seeded store, action server, Rasa (widget channel), ingest worker and the web app."""
    require_browser()
    workdir = tmp_path_factory.mktemp("takeover")
    url = f"sqlite:///{workdir / 'shop.db'}"
    password = secrets.token_hex(8)
    env = base_env(url, secrets.token_hex(16))
    port = free_port()  # known before Rasa starts: its socket.io door admits this origin only
    env.update(  # RASA_JWT_SECRET comes with base_env: the console signs its calls with it
        DEMO_MODE="on",
        SITE_ORIGINS=f"http://127.0.0.1:{port}",
        SESSION_SECRET=secrets.token_hex(16),
        CONSOLE_USER="founder",
        CONSOLE_PASSWORD=password,
        CONSOLE_NLU_DIR=str(workdir / "nlu_data"),
        CONSOLE_TEST_CONVERSATIONS_DIR=str(workdir / "conversations"),
        CONSOLE_WORK_DIR=str(workdir / "console"),
        CONSOLE_MODELS_DIR=str(workdir / "models"),
    )
    shutil.copytree(REPO / "nlu_data", workdir / "nlu_data")
    subprocess.run(
        [sys.executable, "-m", "analytics", "seed", "--customers", str(CUSTOMERS)],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
    )
    with (
        action_server(env, workdir) as actions,
        rasa_server(env, workdir, actions.url) as rasa,
    ):
        ingest_log = (workdir / "ingest.log").open("wb")
        ingest = subprocess.Popen(
            [
                sys.executable, "-m", "analytics.loop.ingest", "--source", "sql",
                "--events-db", str(workdir / "events.db"), "--poll-interval", "0.2",
            ],
            cwd=REPO, env=env, stdout=ingest_log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        web: Process = start(
            "web",
            [
                sys.executable, "-m", "uvicorn", "web.app:create_app", "--factory",
                "--host", "127.0.0.1", "--port", str(port),
            ],
            dict(env, RASA_URL=rasa.url, RASA_PUBLIC_URL=rasa.url),
            workdir,
            f"http://127.0.0.1:{port}/health",
        )  # fmt: skip
        try:
            yield LiveStack(rasa.url, web.url, url, password, workdir)
        finally:
            web.stop()
            ingest.terminate()
            try:
                ingest.wait(timeout=20)
            except subprocess.TimeoutExpired:
                ingest.kill()
            ingest_log.close()


@pytest.fixture(scope="module")
def browser(live_stack: LiveStack) -> Iterator[Browser]:
    """Headless Debian Chromium."""
    with playwright_api.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _page(browser: Browser, locale: str) -> Page:
    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 860})
    context.set_default_timeout(30_000)
    return context.new_page()


def _conversation_id(stack: LiveStack, sender_id: str) -> int:
    """Waits until the ingest worker has stored the widget's conversation."""
    engine = make_engine(stack.shop_url)
    try:
        deadline = time.monotonic() + STORE_TIMEOUT_S
        while time.monotonic() < deadline:
            with make_sessionmaker(engine)() as db:
                found = db.scalar(
                    select(Conversation.id).where(Conversation.sender_id == sender_id)
                )
            if found is not None:
                return int(found)
            time.sleep(0.3)
    finally:
        engine.dispose()
    log = (stack.workdir / "ingest.log").read_text(errors="replace")[-3000:]
    raise AssertionError(f"conversation {sender_id} never reached the store:\n{log}")


def _login(stack: LiveStack) -> tuple[httpx.Client, dict[str, str]]:
    """An HTTP client with the founder's session, and headers with its CSRF token."""
    client = httpx.Client(base_url=stack.web_url, timeout=30)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/console/login").text)
    assert token
    client.post(
        "/console/login",
        data={"username": "founder", "password": stack.password, "csrf_token": token.group(1)},
    )
    page = client.get("/console/teach").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf, page[:500]
    return client, {"X-CSRF-Token": csrf.group(1), "Accept": "application/json"}


def _founder_messages(stack: LiveStack, conversation_id: int) -> list[str]:
    engine = make_engine(stack.shop_url)
    try:
        with make_sessionmaker(engine)() as db:
            return list(
                db.scalars(
                    select(Message.text).where(
                        Message.conversation_id == conversation_id, Message.role == ROLE_FOUNDER
                    )
                )
            )
    finally:
        engine.dispose()


def _wait_for_founder_messages(
    stack: LiveStack, conversation_id: int, expected: list[str], timeout_s: float = 10.0
) -> list[str]:
    deadline = time.monotonic() + timeout_s
    found = _founder_messages(stack, conversation_id)
    while found != expected and time.monotonic() < deadline:
        time.sleep(0.2)
        found = _founder_messages(stack, conversation_id)
    return found


def test_founder_takes_over_a_live_widget_conversation_and_hands_back(
    live_stack: LiveStack, browser: Browser
) -> None:
    # The customer opens the shop's chat widget and gets a bot answer.
    customer = _page(browser, "zh-CN")
    widget = Widget.visit(customer, live_stack.web_url)
    widget.open()
    assert widget.ask("你好").strip()
    sender_id = widget.session_id()
    conversation_id = _conversation_id(live_stack, sender_id)

    # The founder signs in and opens that conversation.
    founder = _page(browser, "zh-CN")
    founder.goto(f"{live_stack.web_url}/console/login")
    founder.fill("input[name=username]", "founder")
    founder.fill("input[name=password]", live_stack.password)
    founder.click("button[type=submit]")
    expect(founder).to_have_url(f"{live_stack.web_url}/console/inbox")
    founder.goto(f"{live_stack.web_url}/console/conversations/{conversation_id}")
    expect(founder.locator(".conversation")).to_contain_text("你好")

    # Take over: the bot pauses; the founder's message reaches the customer's widget.
    founder.click("#take-over")
    expect(founder.locator("#say-text")).to_be_visible()
    reply = f"您好，我是店主小叶，马上帮您看 #{secrets.token_hex(2)}"
    founder.fill("#say-text", reply)
    founder.locator("#say-form button[type=submit]").click()
    expect(widget.bubbles("founder").last).to_contain_text(reply, timeout=30_000)
    # The console delivers first and then stores the message: wait for the store.
    assert _wait_for_founder_messages(live_stack, conversation_id, [reply]) == [reply]

    # While taken over, the bot stays silent.
    bot_before = widget.bubbles("bot").count()
    widget.send("好的，谢谢")
    customer.wait_for_timeout(4_000)
    expect(widget.bubbles("bot")).to_have_count(bot_before)

    # Hand back: the customer's next message gets a bot answer again.
    founder.click("#hand-back")
    expect(founder.locator("#take-over")).to_be_visible()
    customer.wait_for_timeout(1_000)
    answer = widget.ask("你们有什么推荐的茶吗")
    assert answer.strip(), "the bot answers again after hand-back"
    expect(founder.locator(".conversation")).to_contain_text(reply)


def test_a_founder_message_is_stored_once(live_stack: LiveStack) -> None:
    sender = f"dedup-{secrets.token_hex(4)}"
    assert say(live_stack.rasa_url, sender, "你好")
    conversation_id = _conversation_id(live_stack, sender)
    with httpx.Client(base_url=live_stack.web_url, timeout=30) as client:
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/console/login").text)
        assert token
        client.post(
            "/console/login",
            data={"username": "founder", "password": live_stack.password,
                  "csrf_token": token.group(1)},
        )  # fmt: skip
        page = client.get(f"/console/conversations/{conversation_id}").text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert csrf
        headers = {"X-CSRF-Token": csrf.group(1), "Accept": "application/json"}
        assert client.post(f"/console/conversations/{conversation_id}/takeover", headers=headers)
        text = f"店主在此 {secrets.token_hex(3)}"
        said = client.post(
            f"/console/conversations/{conversation_id}/say", data={"text": text}, headers=headers
        )
        assert said.json()["ok"] is True
        client.post(f"/console/conversations/{conversation_id}/handback", headers=headers)
    time.sleep(3)  # the ingest worker polls every 0.2 s
    engine = make_engine(live_stack.shop_url)
    try:
        with make_sessionmaker(engine)() as db:
            roles = list(
                db.scalars(
                    select(Message.role).where(
                        Message.conversation_id == conversation_id, Message.text == text
                    )
                )
            )
    finally:
        engine.dispose()
    assert roles == [ROLE_FOUNDER]


RETRAIN_TIMEOUT_S = 900.0


def _retrain(stack: LiveStack) -> dict[str, object]:
    """Presses Retrain (the console's POST) and waits for the job to finish."""
    client, headers = _login(stack)
    try:
        started = client.post("/console/teach/retrain", headers=headers)
        assert started.status_code == 200, started.text
        deadline = time.monotonic() + RETRAIN_TIMEOUT_S
        while time.monotonic() < deadline:
            job = client.get("/console/api/retrain").json()
            if job["status"] != "running":
                return dict(job)
            time.sleep(2)
    finally:
        client.close()
    raise AssertionError(f"retraining did not finish within {RETRAIN_TIMEOUT_S} s: {job}")


def _loaded_model(stack: LiveStack) -> str:
    response = httpx.get(  # Rasa runs with --jwt-secret: /status wants the console's JWT
        f"{stack.rasa_url}/status", headers=rasa_headers(JWT_SECRET), timeout=30
    )
    response.raise_for_status()
    return str(response.json()["model_file"])


def _write_corrections(stack: LiveStack, lang: str, examples: dict[str, list[str]]) -> None:
    body = 'version: "3.1"\nnlu:\n' + "".join(
        f"- intent: {intent}\n  examples: |\n" + "".join(f"    - {e}\n" for e in lines)
        for intent, lines in examples.items()
    )
    (stack.workdir / "nlu_data" / lang / "corrections.yml").write_text(body, encoding="utf-8")


def _topic_examples(stack: LiveStack, lang: str, intent: str) -> list[str]:
    from ruamel.yaml import YAML

    found: list[str] = []
    for path in sorted((stack.workdir / "nlu_data" / lang).glob("*.yml")):
        for item in YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))["nlu"]:
            if item.get("intent") == intent:
                found += [
                    line.strip()[2:]
                    for line in item["examples"].splitlines()
                    if line.strip().startswith("- ") and "[" not in line
                ]
    return found


def _f1(stack: LiveStack, job: dict[str, object], part: str) -> float:
    from web.console.retrain import intent_f1

    return intent_f1(stack.workdir / "console" / "retrain" / str(job["id"]) / f"results_{part}")


def test_retrain_swaps_the_model_only_when_it_is_at_least_as_good(
    live_stack: LiveStack,
) -> None:
    from web.console.retrain import at_least_as_good

    before = _loaded_model(live_stack)
    # Worse: the "corrections" relabel the customers' order questions as greetings.
    wrong = _topic_examples(live_stack, "zh", "order_status") + _topic_examples(
        live_stack, "en", "order_status"
    )
    assert len(wrong) > 20
    _write_corrections(live_stack, "zh", {"greet": [w for w in wrong if re.search("[一-鿿]", w)]})
    _write_corrections(
        live_stack, "en", {"greet": [w for w in wrong if not re.search("[一-鿿]", w)]}
    )
    job = _retrain(live_stack)
    assert job["status"] == "done", job
    result = job["result"]
    assert isinstance(result, dict)
    baseline, candidate = _f1(live_stack, job, "baseline"), _f1(live_stack, job, "candidate")
    assert (result["baseline_f1"], result["candidate_f1"]) == (
        round(baseline, 4),
        round(candidate, 4),
    )
    assert candidate < baseline and not at_least_as_good(candidate, baseline)
    assert result["swapped"] is False
    assert _loaded_model(live_stack) == before  # the running bot keeps its model

    # At least as good: a few correct paraphrases; the full model is trained and loaded.
    (live_stack.workdir / "nlu_data" / "en" / "corrections.yml").unlink()
    _write_corrections(
        live_stack,
        "zh",
        {"order_status": ["我买的东西寄到哪里了呀", "帮我瞧瞧包裹现在在哪"]},
    )
    job = _retrain(live_stack)
    assert job["status"] == "done", job
    result = job["result"]
    assert isinstance(result, dict)
    baseline, candidate = _f1(live_stack, job, "baseline"), _f1(live_stack, job, "candidate")
    assert at_least_as_good(candidate, baseline)
    assert result["swapped"] is True, result
    model = Path(str(result["model"]))
    assert model.exists() and model.parent == live_stack.workdir / "models"
    assert Path(_loaded_model(live_stack)).name == model.name
    replies = say(live_stack.rasa_url, f"after-swap-{secrets.token_hex(3)}", "我的订单到哪了")
    assert replies, "the swapped-in model answers"
