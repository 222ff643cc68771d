"""Hostile requests at the founder hooks: refused (4xx) or made harmless, nothing stored.

Empty, huge (declared and chunked), binary and invalid UTF-8 bodies, JSON that is not an
update, lone surrogates and control characters in the founder's text, XML with DTDs and
entities (XXE, "billion laughs"), and floods (the per-address rate limit).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from tests.channels.fakes.founder_apps import FOUNDER_WECOM_USER, new_msg_id
from tests.channels.fakes.wecom import message_xml
from tests.web.founder_hooks_support import (
    TELEGRAM_ALERT_MESSAGE_ID,
    Hooks,
    founder_apps,
    hooks,
    reset_caches,
)
from web.founder_hooks.door import MAX_BODY_BYTES

__all__ = ["founder_apps", "hooks"]  # fixtures

pytestmark = pytest.mark.channels  # make test-channels runs the founder-alert tests too

BAD_TELEGRAM_BODIES = [
    b"",
    b"\x00\x01\x02\xff\xfe" * 100,
    b'{"update_id": 1, "message": {"text": "\xff\xfe"}}',  # invalid UTF-8
    b"[]",
    b'"update"',
    b"null",
    b'{"update_id": true, "message": {}}',
    b'{"update_id": 1e300}',
    b'{"update_id": 99999999999999999999999999}',
    b"[" * 30000 + b"]" * 30000,
    b'{"update_id": 1, "message": ' * 2000 + b"{}" + b"}" * 2000,
]


@pytest.mark.parametrize("body", BAD_TELEGRAM_BODIES, ids=range(len(BAD_TELEGRAM_BODIES)))
def test_bodies_that_are_not_updates_are_refused(hooks: Hooks, body: bytes) -> None:
    before = hooks.counts()
    response = hooks.post_telegram(body)
    # 400, or 200 for JSON deep but valid: an update that is not a message of the chat
    assert response.status_code in (200, 400), response.text
    hooks.nothing_happened(before)


def test_huge_bodies_are_refused_unread(hooks: Hooks) -> None:
    before = hooks.counts()
    huge = b'{"update_id": 1, "pad": "' + b"x" * (MAX_BODY_BYTES + 10) + b'"}'
    assert hooks.post_telegram(huge).status_code == 413

    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"x" * 8192

    chunked = hooks.client.post(
        "/founder/hooks/telegram",
        content=chunks(),
        headers={"X-Telegram-Bot-Api-Secret-Token": hooks.telegram.secret},
    )
    assert chunked.status_code == 413
    # Without the secret, the size does not matter: refused before the body is read.
    assert hooks.post_telegram(huge, secret="").status_code == 401
    encrypted = hooks.wecom.encrypt("x")
    big_xml = b"<xml><Encrypt>" + b"A" * (MAX_BODY_BYTES + 10) + b"</Encrypt></xml>"
    response = hooks.client.post(
        "/founder/hooks/wecom", content=big_xml, params=hooks.wecom.signed_params(encrypted)
    )
    assert response.status_code == 413
    hooks.nothing_happened(before)


def test_lone_surrogates_and_control_characters_are_cleaned(hooks: Hooks) -> None:
    raw = json.dumps(hooks.telegram.reply_update("ok", reply_to=TELEGRAM_ALERT_MESSAGE_ID)).replace(
        '"ok"', '"Hi \\ud800 there\\u0000\\u001b[31m\\u202e!"'
    )
    assert hooks.post_telegram(raw).status_code == 200
    (message,) = hooks.founder_calls("message")
    assert message.body == {"text": "Hi \ufffd there[31m!"}
    assert [m.text for m in hooks.founder_messages()] == ["Hi \ufffd there[31m!"]
    only_controls = json.dumps(
        hooks.telegram.reply_update("\u0000\u0007 \u202e", reply_to=TELEGRAM_ALERT_MESSAGE_ID)
    )
    hooks.post_telegram(only_controls)
    assert len(hooks.founder_calls("message")) == 1
    assert "Only text messages" in hooks.telegram.founder_texts()[-1]


XML_ATTACKS = [
    b"",
    b"\x00\xff\xfe binary",
    b"<xml><Encrypt>\xff\xfe</Encrypt></xml>",  # invalid UTF-8
    b"<xml><Encrypt>abc</Encrypt>",  # unclosed
    b"<notxml><Encrypt>abc</Encrypt></notxml>",
    b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b"<xml><Encrypt>&xxe;</Encrypt></xml>",
    b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa">'
    b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
    b"<xml><Encrypt>&c;</Encrypt></xml>",
    b'<!DOCTYPE xml SYSTEM "http://127.0.0.1:9/evil.dtd"><xml><Encrypt>x</Encrypt></xml>',
    b"<xml><Encrypt>&undefined;</Encrypt></xml>",
    b"<xml>" + b"<a>" * 100 + b"</a>" * 100 + b"</xml>",
    b"<xml>" + b"<a>x</a>" * 1000 + b"</xml>",
]


@pytest.mark.parametrize("body", XML_ATTACKS, ids=range(len(XML_ATTACKS)))
def test_hostile_xml_is_refused(hooks: Hooks, body: bytes) -> None:
    before = hooks.counts()
    params = hooks.wecom.signed_params("anything")
    response = hooks.client.post("/founder/hooks/wecom", content=body, params=params)
    assert response.status_code in (400, 403)
    hooks.nothing_happened(before)


def test_signed_garbage_is_refused(hooks: Hooks) -> None:
    """A correct signature over an Encrypt that is not a WeCom ciphertext."""
    before = hooks.counts()
    for encrypt in ("not base64 !!", "QUFBQQ==", "A" * 64):
        params = hooks.wecom.signed_params(encrypt)
        envelope = f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>".encode()
        response = hooks.client.post("/founder/hooks/wecom", content=envelope, params=params)
        assert response.status_code == 400
    for inner in ("", "plain text", "<xml><a>&b;</a></xml>", "<!DOCTYPE x><xml/>"):
        assert hooks.post_wecom(inner).status_code == 400
    assert hooks.post_wecom("<xml><MsgType>text</MsgType></xml>").status_code == 200  # nobody's
    hooks.nothing_happened(before)


def test_wecom_text_is_cleaned(hooks: Hooks) -> None:
    text = f"#{hooks.first.ref} 您好\u202e\u200b，\U0001f600\t"
    assert hooks.post_wecom(message_xml(FOUNDER_WECOM_USER, text, new_msg_id())).status_code == 200
    (message,) = hooks.founder_calls("message")
    assert message.body == {"text": "您好，\U0001f600"}
    # Control characters are not XML 1.0: WeCom never sends them, the parser refuses them.
    controls = message_xml(FOUNDER_WECOM_USER, f"#{hooks.first.ref} \x01\x1b", new_msg_id())
    assert hooks.post_wecom(controls).status_code == 400


def test_a_flood_is_rate_limited(hooks: Hooks, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSOLE_RATE_PER_MINUTE", "5")
    reset_caches()
    before = hooks.counts()
    update = hooks.telegram.reply_update("flood", reply_to=TELEGRAM_ALERT_MESSAGE_ID)
    statuses = [hooks.post_telegram(update, secret="wrong").status_code for _ in range(8)]
    assert statuses == [403] * 5 + [429] * 3
    limited = hooks.post_telegram(update)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert limited.headers["X-Frame-Options"] == "DENY"
    assert hooks.client.get("/founder/hooks/wecom").status_code == 429  # one counter per prefix
    assert hooks.client.get("/console/login").status_code == 200  # the console's own counter
    hooks.nothing_happened(before)


def test_refusals_are_logged_rarely_and_without_content(
    hooks: Hooks, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    update = hooks.telegram.reply_update("secret plan", reply_to=TELEGRAM_ALERT_MESSAGE_ID)
    for _ in range(20):
        hooks.post_telegram(update, secret="wrong-secret-value")
    lines = [r for r in caplog.records if "refused" in r.getMessage()]
    assert 1 <= len(lines) <= 2
    assert "secret plan" not in caplog.text and "wrong-secret-value" not in caplog.text
    assert hooks.telegram.secret not in caplog.text and hooks.telegram.token not in caplog.text
