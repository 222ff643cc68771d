"""Drives the chat widget in a page the way a customer does (and reads what they see)."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
from playwright.sync_api import Locator, Page, expect

REPLY_TIMEOUT_MS = 30_000
JWT_LIFETIME_S = 300


def founder_jwt(secret: str) -> str:
    """The bearer token the console sends to Rasa (HS256, role admin, 5 minutes)."""
    claims = {
        "user": {"username": "founder", "role": "admin"},
        "exp": int(time.time()) + JWT_LIFETIME_S,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


class Widget:
    """The widget on one page (its shadow root is open, so CSS locators reach inside)."""

    def __init__(self, page: Page) -> None:
        """Wraps the widget of ``page``."""
        self.page = page

    @classmethod
    def visit(
        cls,
        page: Page,
        web_url: str,
        *,
        customer: str | None = None,
        lang: str | None = None,
        open_at_start: bool = False,
    ) -> Widget:
        """Opens the demo shop (as ``customer`` if given) and waits for the widget."""
        query: dict[str, str] = {}
        if customer:
            query["customer"] = customer
        if lang:
            query["lang"] = lang
        if open_at_start:
            query["open"] = "1"
        page.goto(f"{web_url}/shop" + (f"?{urlencode(query)}" if query else ""))
        widget = cls(page)
        expect(widget.launcher).to_be_visible()
        return widget

    # -- parts -------------------------------------------------------------------------
    @property
    def launcher(self) -> Locator:
        """The round launcher button."""
        return self.page.locator(".lb-launcher")

    @property
    def panel(self) -> Locator:
        """The chat panel."""
        return self.page.locator(".lb-panel")

    @property
    def input(self) -> Locator:
        """The message box."""
        return self.page.locator(".lb-input")

    @property
    def log(self) -> Locator:
        """The message list (role=log)."""
        return self.page.locator(".lb-log")

    def bubbles(self, role: str) -> Locator:
        """Bubbles of ``user``, ``bot`` (greeting excluded) or ``founder`` messages."""
        return self.page.locator(f".lb-msg.lb-{role}:not(.lb-greeting) .lb-bubble")

    def messages(self) -> Locator:
        """Every message except the greeting, in order."""
        return self.page.locator(".lb-msg:not(.lb-greeting)")

    # -- actions -----------------------------------------------------------------------
    def open(self) -> None:
        """Opens the panel (if closed) and waits until the widget is connected."""
        if not self.panel.is_visible():
            self.launcher.click()
        expect(self.panel).to_be_visible()
        self.wait_online()

    def wait_online(self) -> None:
        """Waits until the session is confirmed and its history loaded."""
        expect(self.page.locator(".lb-status[data-state='online']")).to_have_count(1)

    def send(self, text: str) -> None:
        """Types ``text`` and presses Enter."""
        self.input.fill(text)
        self.input.press("Enter")

    def ask(self, text: str) -> str:
        """Sends ``text`` and returns the text of the bot's replies to it."""
        before = self.bubbles("bot").count()
        self.send(text)
        return self.wait_for_bot(before)

    def wait_for_bot(self, before: int) -> str:
        """Waits for bot messages beyond the first ``before`` and returns their texts."""
        expect(self.bubbles("bot")).not_to_have_count(before, timeout=REPLY_TIMEOUT_MS)
        expect(self.page.locator(".lb-typing")).to_be_hidden(timeout=REPLY_TIMEOUT_MS)
        return "\n".join(self.bubbles("bot").all_inner_texts()[before:])

    def stored(self) -> dict[str, Any]:
        """The widget's stored state (session id, queue) of this site and customer."""
        raw = self.page.evaluate(
            """() => { for (const k of Object.keys(localStorage))
                         if (k.startsWith('leafbean-widget:')) return localStorage.getItem(k);
                       return null; }"""
        )
        return json.loads(raw) if raw else {}

    def wait_new_session(self, old: str) -> str:
        """Waits until the widget holds a session id other than ``old`` and returns it."""
        self.page.wait_for_function(
            """(old) => { for (const k of Object.keys(localStorage))
                           if (k.startsWith('leafbean-widget:')) {
                             const s = JSON.parse(localStorage.getItem(k)).sessionId;
                             return typeof s === 'string' && s.length > 0 && s !== old; }
                         return false; }""",
            arg=old,
            timeout=REPLY_TIMEOUT_MS,
        )
        return self.session_id()

    def session_id(self) -> str:
        """The current conversation's session id (the Rasa sender id)."""
        session = self.stored().get("sessionId")
        assert isinstance(session, str) and session, "the widget has no session yet"
        return session


def history(rasa_url: str, jwt_secret: str, session_id: str) -> dict[str, Any]:
    """The widget channel's history of a session (read with the founder's JWT)."""
    response = httpx.get(
        f"{rasa_url}/webhooks/widget/history/{session_id}",
        headers={"Authorization": f"Bearer {founder_jwt(jwt_secret)}"},
        timeout=10,
    )
    response.raise_for_status()
    return dict(response.json())


def founder(rasa_url: str, jwt_secret: str, session_id: str, what: str, **body: Any) -> None:
    """Calls a founder route of the widget channel (what the console does)."""
    response = httpx.post(
        f"{rasa_url}/webhooks/widget/founder/{session_id}/{what}",
        json=body,
        headers={"Authorization": f"Bearer {founder_jwt(jwt_secret)}"},
        timeout=10,
    )
    response.raise_for_status()
