"""The chat widget in Debian Chromium against the real Rasa server, action server and web app."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from analytics.demo.customers import DEMO_EN, DEMO_EN_LATEST_ORDER, DEMO_ZH, DEMO_ZH_LATEST_ORDER
from analytics.store.models import Conversation
from tests.browser.chat import Widget, founder, founder_jwt, history
from tests.browser.conftest import REPO, SCREENSHOTS, SENDER_PER_MINUTE, Stack, new_context

pytestmark = pytest.mark.browser
HAN = re.compile(r"[\u4e00-\u9fff]")
README_SCREENSHOT = REPO / "docs" / "img" / "widget.png"


def save_screenshot(page: Page, name: str) -> Path:
    """Saves a screenshot of the page as a test artifact."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def user_texts(stack: Stack, session_id: str) -> list[str]:
    """The user messages the server stored for a session, in order."""
    return [
        m["text"]
        for m in history(stack.rasa_url, stack.jwt_secret, session_id)["messages"]
        if m["role"] == "user"
    ]


def user_texts_raw(stack: Stack, session_id: str) -> list[str]:
    """The texts Rasa stored for the user's messages (payloads, not button titles)."""
    response = httpx.get(
        f"{stack.rasa_url}/conversations/{session_id}/tracker",
        headers={"Authorization": f"Bearer {founder_jwt(stack.jwt_secret)}"},
        timeout=10,
    )
    response.raise_for_status()
    return [e["text"] for e in response.json()["events"] if e["event"] == "user"]


def test_chinese_and_english_messages_get_replies_in_their_language(
    page: Page, stack: Stack
) -> None:
    widget = Widget.visit(page, stack.web_url)
    widget.open()
    # Record whether the typing indicator shows while the bot answers.
    page.evaluate(
        """() => { const root = document.querySelector('[data-leafbean-widget]').shadowRoot;
                   const typing = root.querySelector('.lb-typing'); window.__typingSeen = [];
                   new MutationObserver(() => { if (!typing.hidden)
                       window.__typingSeen.push(typing.textContent); })
                     .observe(typing, {attributes: true, childList: true, subtree: true}); }"""
    )
    # Shipping questions are answered from the FAQ (knowledge/shipping.md), with its source.
    chinese = widget.ask("运费怎么算？")
    assert "包邮" in chinese and "来源" in chinese, chinese
    english = widget.ask("How much is shipping?")
    assert "Source:" in english and "99" in english and not HAN.search(english), english
    assert any("助手正在输入" in seen for seen in page.evaluate("window.__typingSeen"))
    # Timestamps on every message, the user's own on the right side.
    times = page.locator(".lb-msg:not(.lb-greeting) time").all_inner_texts()
    assert len(times) >= 4 and all(re.fullmatch(r"\d{2}:\d{2}", t) for t in times), times


def test_quick_reply_sends_its_payload_and_shows_its_title(page: Page, stack: Stack) -> None:
    widget = Widget.visit(page, stack.web_url, lang="en")
    widget.open()
    widget.ask("what's the capital of mongolia in 1820 quantum")  # fallback offers buttons
    buttons = page.locator(".lb-quick button")
    expect(buttons.first).to_be_visible()
    button = buttons.filter(has_text="Talk to a person")
    title = button.inner_text()
    before = widget.bubbles("bot").count()
    button.click()
    widget.wait_for_bot(before)
    expect(widget.bubbles("user").last).to_have_text(title)
    stored = history(stack.rasa_url, stack.jwt_secret, widget.session_id())["messages"]
    last_user = [m for m in stored if m["role"] == "user"][-1]
    assert last_user["text"] == title  # the history shows the title too...
    assert (
        user_texts_raw(stack, widget.session_id())[-1] == "/human_handoff"
    )  # ...Rasa got the payload


def test_reload_and_second_tab_continue_the_same_conversation(
    context: BrowserContext, page: Page, stack: Stack
) -> None:
    widget = Widget.visit(page, stack.web_url)
    widget.open()
    reply = widget.ask("你们的运费是多少")
    # Rasa sends a reply's paragraphs as separate messages live (the FAQ answer, then its
    # source); the history keeps the one bot event, so its bubble holds both.
    assert "来源" in reply, reply
    answer = widget.bubbles("bot").first.text_content() or ""
    session = widget.session_id()
    page.reload()
    widget.open()
    expect(widget.bubbles("user")).to_have_text(["你们的运费是多少"])
    expect(widget.bubbles("bot").first).to_contain_text(answer)
    assert widget.session_id() == session

    other = Widget.visit(context.new_page(), stack.web_url)
    other.open()
    expect(other.bubbles("user")).to_have_text(["你们的运费是多少"])
    assert other.session_id() == session
    other.ask("谢谢")
    # The first tab sees what the second one sent, and the bot's answer.
    expect(widget.bubbles("user")).to_have_text(["你们的运费是多少", "谢谢"])
    expect(widget.bubbles("bot")).to_have_count(other.bubbles("bot").count())


def test_signed_in_customer_gets_their_order_and_anonymous_is_asked_to_sign_in(
    browser: Browser, page: Page, stack: Stack
) -> None:
    signed_in = Widget.visit(page, stack.web_url, customer=DEMO_ZH)
    signed_in.open()
    expect(page.locator(".lb-identity")).to_contain_text("王小明")
    reply = signed_in.ask("我的订单到哪了")
    assert DEMO_ZH_LATEST_ORDER in reply and HAN.search(reply), reply

    english_context = new_context(browser, locale="en-US")
    try:
        emily = Widget.visit(english_context.new_page(), stack.web_url, customer=DEMO_EN)
        emily.open()
        reply = emily.ask("where is my order?")
        assert DEMO_EN_LATEST_ORDER in reply and not HAN.search(reply), reply
    finally:
        english_context.close()

    anonymous_context = new_context(browser)
    try:
        anonymous = Widget.visit(anonymous_context.new_page(), stack.web_url)
        anonymous.open()
        reply = anonymous.ask("我的订单到哪了")
        assert "登录" in reply and "LB" not in reply, reply
    finally:
        anonymous_context.close()


def test_html_from_anyone_is_shown_as_text(page: Page, stack: Stack) -> None:
    payload = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script><b>bold</b>'
    widget = Widget.visit(page, stack.web_url, lang="en")
    widget.open()
    widget.ask(payload)
    expect(widget.bubbles("user").last).to_have_text(payload)
    # The founder's console sends HTML, a javascript: link, a real link and a picture.
    picture = f"{stack.web_url}/static/demo/teacup.svg"
    founder(
        stack.rasa_url,
        stack.jwt_secret,
        widget.session_id(),
        "message",
        text=f"{payload} javascript:alert(1) see https://example.com/tea?x=1.",
        image=picture,
    )
    bubble = widget.bubbles("founder").last
    expect(bubble).to_contain_text(payload)
    save_screenshot(page, "widget-html-as-text")
    page.reload()
    widget.open()  # and again when rendered from the history
    bubble = widget.bubbles("founder").last
    expect(bubble).to_contain_text("javascript:alert(1)")
    links = bubble.locator("a")
    expect(links).to_have_count(1)
    expect(links).to_have_attribute("href", "https://example.com/tea?x=1")
    expect(links).to_have_attribute("rel", re.compile(r"\bnoopener\b"))
    expect(links).to_have_attribute("target", "_blank")
    image = bubble.locator("img")
    expect(image).to_have_attribute("src", picture)
    expect(image).to_have_attribute("alt", "Image")
    expect(page.locator(".lb-log b, .lb-log script, .lb-log img:not(.lb-image)")).to_have_count(0)
    assert page.evaluate("window.__xss") is None


def test_messages_typed_offline_arrive_once_and_in_order(
    context: BrowserContext, page: Page, stack: Stack
) -> None:
    widget = Widget.visit(page, stack.web_url)
    widget.open()
    widget.ask("你好")
    session = widget.session_id()
    context.set_offline(True)
    expect(page.locator(".lb-status[data-state='offline']")).to_have_count(1)
    widget.send("第一条：运费多少")
    widget.send("第二条：谢谢")
    pending = page.locator(".lb-msg.lb-user[data-status='pending']")
    expect(pending).to_have_count(2)
    expect(pending.first).to_contain_text("等待发送")
    save_screenshot(page, "widget-offline-queue")
    assert [item["text"] for item in widget.stored()["queue"]] == [
        "第一条：运费多少",
        "第二条：谢谢",
    ]
    time.sleep(1.0)  # nothing leaves the browser while offline
    assert user_texts(stack, session) == ["你好"]

    context.set_offline(False)
    expect(page.locator(".lb-msg.lb-user[data-status='sent']")).to_have_count(3)
    expect(page.locator(".lb-typing")).to_be_hidden()
    assert user_texts(stack, session) == ["你好", "第一条：运费多少", "第二条：谢谢"]
    assert widget.stored()["queue"] == []
    page.reload()
    widget.open()
    expect(widget.bubbles("user")).to_have_text(["你好", "第一条：运费多少", "第二条：谢谢"])


def test_rating_is_stored_with_the_conversation(page: Page, stack: Stack) -> None:
    widget = Widget.visit(page, stack.web_url, customer=DEMO_ZH)
    widget.open()
    widget.ask("我的订单到哪了")
    page.locator(".lb-end").click()
    expect(page.locator(".lb-rating")).to_contain_text("这次对话你满意吗？")
    page.locator(".lb-stars button[data-rating='4']").click()
    expect(page.locator(".lb-rating-result")).to_have_text("谢谢你的评价！")
    engine = create_engine(stack.shop_url)
    with Session(engine) as session:
        conversation = session.scalars(
            select(Conversation).where(Conversation.sender_id == widget.session_id())
        ).one()
        # The rating alone never says who the customer is (the doors' verified identity,
        # through the ingest worker, does).
        assert conversation.rating == 4
    engine.dispose()
    # A new chat starts a new session.
    old = widget.session_id()
    page.locator(".lb-new").click()
    assert widget.wait_new_session(old) != old  # the server confirmed a new session
    widget.wait_online()
    expect(widget.messages()).to_have_count(0)


def test_founder_takeover_shows_in_the_widget(page: Page, stack: Stack) -> None:
    widget = Widget.visit(page, stack.web_url)
    widget.open()
    widget.ask("我要找真人")
    session = widget.session_id()
    founder(stack.rasa_url, stack.jwt_secret, session, "pause")
    expect(page.locator(".lb-banner")).to_have_text("店主已加入对话，智能助手暂停回复。")
    founder(stack.rasa_url, stack.jwt_secret, session, "typing", on=True)
    expect(page.locator(".lb-typing")).to_contain_text("店主正在输入")
    founder(stack.rasa_url, stack.jwt_secret, session, "message", text="你好，我是店主阿叶。")
    expect(widget.bubbles("founder")).to_have_text(["你好，我是店主阿叶。"])
    expect(page.locator(".lb-msg.lb-founder .lb-author")).to_have_text("店主")
    expect(page.locator(".lb-typing")).to_be_hidden()
    save_screenshot(page, "widget-founder-joined")
    bot_before = widget.bubbles("bot").count()
    widget.send("好的，谢谢")
    expect(page.locator(".lb-msg.lb-user[data-status='sent']")).to_have_count(2)
    time.sleep(1.0)
    expect(widget.bubbles("bot")).to_have_count(bot_before)  # the bot stays quiet
    page.reload()
    widget.open()
    expect(page.locator(".lb-banner")).to_be_visible()  # the state survives a reload
    founder(stack.rasa_url, stack.jwt_secret, session, "resume")
    expect(page.locator(".lb-banner")).to_be_hidden()
    expect(page.locator(".lb-system")).to_contain_text("智能助手继续为你服务")
    roles = [m["role"] for m in history(stack.rasa_url, stack.jwt_secret, session)["messages"]]
    assert (
        "founder" in roles and history(stack.rasa_url, stack.jwt_secret, session)["paused"] is False
    )


def test_unread_badge_counts_messages_while_closed(page: Page, stack: Stack) -> None:
    widget = Widget.visit(page, stack.web_url)
    widget.open()
    widget.ask("你好")
    page.keyboard.press("Escape")
    expect(widget.panel).to_be_hidden()
    badge = page.locator(".lb-badge")
    expect(badge).to_be_hidden()
    founder(stack.rasa_url, stack.jwt_secret, widget.session_id(), "message", text="还在吗？")
    founder(
        stack.rasa_url, stack.jwt_secret, widget.session_id(), "message", text="有问题随时找我。"
    )
    expect(badge).to_have_text("2")
    expect(widget.launcher).to_have_attribute("aria-label", re.compile("2 条未读消息"))
    widget.launcher.click()
    expect(badge).to_be_hidden()


def test_long_messages_are_limited_with_a_clear_note(page: Page, stack: Stack) -> None:
    widget = Widget.visit(page, stack.web_url, lang="en")
    widget.open()
    counter = page.locator(".lb-counter")
    # The box takes at most 2,000 characters, and says how many there are.
    widget.input.fill("茶" * 2001)
    assert len(widget.input.input_value()) == 2000
    expect(counter).to_have_text("2000/2000")
    expect(widget.input).to_have_attribute("maxlength", "2000")
    widget.input.fill("茶" * 1500)
    expect(counter).to_be_hidden()
    widget.input.fill("茶" * 1700)
    expect(counter).to_have_text("1700/2000")
    # Text put there by other means is still refused with a note.
    widget.input.evaluate("(box) => { box.value = '茶'.repeat(2001); }")
    widget.input.dispatch_event("input")
    note = page.locator(".lb-note")
    expect(note).to_be_visible()
    expect(note).to_contain_text("limited to 2000 characters")
    expect(page.locator(".lb-send")).to_be_disabled()
    widget.input.press("Enter")
    expect(widget.messages()).to_have_count(0)
    widget.input.fill("茶" * 2000)
    expect(note).to_be_hidden()
    expect(page.locator(".lb-send")).to_be_enabled()


def test_too_many_messages_show_the_channels_notice_and_are_sent_later(
    context: BrowserContext, page: Page, stack: Stack
) -> None:
    widget = Widget.visit(page, stack.web_url)
    widget.open()
    widget.ask("你好")
    # Queue more messages than a sender may send in a minute, then let them go at once.
    context.set_offline(True)
    expect(page.locator(".lb-status[data-state='offline']")).to_have_count(1)
    for i in range(SENDER_PER_MINUTE):
        widget.send(f"第 {i + 1} 条")
    context.set_offline(False)
    note = page.locator(".lb-note")
    expect(note).to_contain_text("消息发得太快了", timeout=60_000)
    expect(note).to_contain_text("too fast")
    pending = page.locator(".lb-msg.lb-user[data-status='pending']")
    expect(pending.first).to_contain_text("消息发得太快了")
    # Nothing is lost: the refused ones stay queued for after the wait.
    assert widget.stored()["queue"], "the refused messages are still queued"
    sent = user_texts(stack, widget.session_id())
    assert len(sent) == SENDER_PER_MINUTE and sent[0] == "你好"


def test_the_session_token_rotates_and_the_session_id_alone_opens_nothing(
    browser: Browser, page: Page, stack: Stack
) -> None:
    widget = Widget.visit(page, stack.web_url)
    widget.open()
    widget.ask("我的地址是秘密")
    stored = widget.stored()
    session, token = stored["sessionId"], stored["sessionToken"]
    assert token.startswith("v1.")
    page.reload()
    widget.open()
    expect(widget.bubbles("user")).to_have_text(["我的地址是秘密"])
    again = widget.stored()
    assert again["sessionId"] == session and again["sessionToken"] != token
    # Another browser that learned only the session id gets a conversation of its own.
    other_context = new_context(browser)
    try:
        other = Widget.visit(other_context.new_page(), stack.web_url)
        other.open()
        other.page.evaluate(
            """(session) => { for (const k of Object.keys(localStorage))
                                if (k.startsWith('leafbean-widget:'))
                                  localStorage.setItem(k, JSON.stringify(
                                    {sessionId: session, queue: [], rated: {}})); }""",
            session,
        )
        other.page.reload()
        other.open()
        assert other.session_id() != session
        expect(other.bubbles("user")).to_have_count(0)
    finally:
        other_context.close()
    # The HTTP history answers only with a token, and never to another site.
    url = f"{stack.rasa_url}/webhooks/widget/history/{session}"
    assert httpx.get(url, timeout=10).status_code == 401
    headers = {"Authorization": f"Bearer {again['sessionToken']}"}
    assert httpx.get(url, headers=headers, timeout=10).status_code == 200
    evil = {**headers, "Origin": "https://evil.example"}
    assert httpx.get(url, headers=evil, timeout=10).status_code == 403


def test_language_follows_the_page_and_can_be_switched(browser: Browser, stack: Stack) -> None:
    context = new_context(browser, locale="en-US")
    try:
        page = context.new_page()
        widget = Widget.visit(page, stack.web_url)  # no lang: the browser's (Accept-Language)
        widget.open()
        greeting = page.locator(".lb-greeting .lb-bubble")
        expect(greeting).to_contain_text("I'm the shop's assistant")
        page.locator(".lb-lang").click()
        expect(greeting).to_contain_text("我是店里的智能助手")
        expect(widget.input).to_have_attribute("placeholder", re.compile("输入消息"))
        page.reload()
        widget.open()  # the choice is remembered
        expect(greeting).to_contain_text("我是店里的智能助手")
    finally:
        context.close()


def test_keyboard_only_use_and_screen_reader_regions(page: Page, stack: Stack) -> None:
    widget = Widget.visit(page, stack.web_url, lang="en")
    widget.launcher.focus()
    page.keyboard.press("Enter")
    expect(widget.panel).to_be_visible()
    expect(widget.launcher).to_have_attribute("aria-expanded", "true")
    widget.wait_online()
    expect(widget.input).to_be_focused()
    expect(widget.log).to_have_attribute("aria-live", "polite")
    expect(widget.log).to_have_attribute("role", "log")
    page.keyboard.type("How much is shipping?")
    page.keyboard.press("Enter")
    widget.wait_for_bot(0)
    page.keyboard.press("Escape")
    expect(widget.panel).to_be_hidden()
    expect(widget.launcher).to_be_focused()


def test_mobile_layout_fills_the_screen(browser: Browser, stack: Stack) -> None:
    context = new_context(browser, mobile=True)
    try:
        page = context.new_page()
        widget = Widget.visit(page, stack.web_url)
        widget.open()
        box = widget.panel.bounding_box()
        assert box is not None
        assert box["x"] == 0 and box["width"] == 390 and box["height"] == 844, box
        widget.ask("运费怎么算？")
        expect(widget.input).to_be_in_viewport()
    finally:
        context.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("mobile", [False, True], ids=["desktop", "mobile"])
def test_screenshots_of_the_open_widget(
    browser: Browser, stack: Stack, lang: str, mobile: bool
) -> None:
    context = new_context(browser, locale="zh-CN" if lang == "zh" else "en-US", mobile=mobile)
    try:
        page = context.new_page()
        customer = DEMO_ZH if lang == "zh" else DEMO_EN
        widget = Widget.visit(page, stack.web_url, customer=customer, lang=lang)
        widget.open()
        if lang == "zh":
            widget.ask("我的订单到哪了")
            widget.ask("有什么推荐的茶吗")
        else:
            widget.ask("where is my order?")
            widget.ask("can you recommend a coffee?")
        page.locator(".lb-input").blur()
        path = save_screenshot(page, f"widget-{lang}-{'mobile' if mobile else 'desktop'}")
        assert path.stat().st_size > 10_000
    finally:
        context.close()


def test_demo_page_shows_anonymous_and_signed_in_side_by_side(page: Page, stack: Stack) -> None:
    page.set_viewport_size({"width": 1400, "height": 980})
    page.goto(f"{stack.web_url}/?lang=zh")
    anonymous = page.frame_locator("iframe").nth(0)
    signed_in = page.frame_locator("iframe").nth(1)
    for frame in (anonymous, signed_in):
        expect(frame.locator(".lb-status[data-state='online']")).to_have_count(1)
        frame.locator(".lb-input").fill("我的订单到哪了")
        frame.locator(".lb-input").press("Enter")
    expect(anonymous.locator(".lb-msg.lb-bot:not(.lb-greeting)")).to_contain_text(["登录"])
    expect(signed_in.locator(".lb-msg.lb-bot:not(.lb-greeting)").first).to_contain_text(
        DEMO_ZH_LATEST_ORDER
    )
    expect(page.locator("pre").first).to_contain_text("data-server-url")
    path = save_screenshot(page, "demo-side-by-side")
    # The README's picture: written when missing or asked for (UPDATE_README_SCREENSHOT=1).
    if not README_SCREENSHOT.exists() or os.environ.get("UPDATE_README_SCREENSHOT") == "1":
        README_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(path) as picture:  # 128 colours: a small file for the repository
            small = picture.convert("RGB").quantize(colors=128, dither=Image.Dither.NONE)
            small.save(README_SCREENSHOT, optimize=True)
