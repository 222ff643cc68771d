"""The Slack channel's door and client (bot/channels/messaging/slack.py).

Signatures held to ``tests/fixtures/channel_vectors.json`` (``slack``: Slack's documented
worked example and a vector computed with openssl); real Sanic requests through
verify/parse/acknowledge; ``send`` against a loopback server answering as the Web API does.
The path through a real Rasa server is in tests/channels/test_slack.py.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from sanic.response import HTTPResponse

from bot.channels.messaging.base import OutMessage, PlatformError
from bot.channels.messaging.slack import (
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    SECTION_MAX_CHARS,
    SlackInput,
    plain_text,
    signature,
)
from tests.bot.channels.test_telegram import VECTORS, Scripted, ScriptedAPI, run, sanic_request

DOC = VECTORS["slack"]
SECRET = "leafbean-test-signing-secret"
TOKEN = "xoxb-1-test"


def channel(api_url: str = "http://127.0.0.1:9") -> SlackInput:
    return SlackInput(bot_token=TOKEN, signing_secret=SECRET, api_url=api_url)


def signed(
    body: bytes | str,
    *,
    timestamp: int | None = None,
    secret: str = SECRET,
    content_type: str = "application/json",
) -> Any:
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "Content-Type": content_type,
        HEADER_TIMESTAMP: stamp,
        HEADER_SIGNATURE: signature(secret, stamp, raw),
    }
    return sanic_request("POST", raw, headers)


def envelope(event: dict[str, Any], event_id: str = "Ev01") -> str:
    return json.dumps(
        {
            "type": "event_callback",
            "event_id": event_id,
            "event": event,
            "authorizations": [{"user_id": "UBOT", "is_bot": True}],
        }
    )


DM = {"type": "message", "channel_type": "im", "channel": "D1", "user": "U1", "text": "你好"}


def test_the_signature_vectors() -> None:
    for vector in DOC["signatures"]:
        body = vector["body"].encode("utf-8")
        assert signature(vector["signing_secret"], vector["timestamp"], body) == vector["signature"]
        slack = SlackInput(bot_token=TOKEN, signing_secret=vector["signing_secret"])
        headers = {HEADER_TIMESTAMP: vector["timestamp"], HEADER_SIGNATURE: vector["signature"]}
        request = sanic_request("POST", body, headers)
        assert slack.verify(request, now=float(vector["timestamp"]) + 299) is None
        stale = slack.verify(request, now=float(vector["timestamp"]) + 301)
        assert isinstance(stale, HTTPResponse) and stale.status == 403
        tampered = sanic_request("POST", body + b" ", headers)
        assert slack.verify(tampered, now=float(vector["timestamp"])).status == 403  # type: ignore[union-attr]


def test_missing_forged_and_replayed_requests_are_refused() -> None:
    slack = channel()
    body = envelope(DM)
    assert slack.verify(signed(body)) is None
    assert slack.verify(sanic_request("POST", body, {})).status == 401  # type: ignore[union-attr]
    no_signature = sanic_request("POST", body, {HEADER_TIMESTAMP: str(int(time.time()))})
    assert slack.verify(no_signature).status == 401  # type: ignore[union-attr]
    assert slack.verify(signed(body, secret="other")).status == 403  # type: ignore[union-attr]
    old = signed(body, timestamp=int(time.time()) - 600)
    assert slack.verify(old).status == 403  # type: ignore[union-attr]
    future = signed(body, timestamp=int(time.time()) + 600)
    assert slack.verify(future).status == 403  # type: ignore[union-attr]
    for stamp in ("-1", "1e9", "١٢٣", "9" * 400):
        request = sanic_request(
            "POST", body, {HEADER_TIMESTAMP: stamp, HEADER_SIGNATURE: signature(SECRET, stamp, b"")}
        )
        assert slack.verify(request).status == 403, stamp  # type: ignore[union-attr]
    assert (
        SlackInput(bot_token=TOKEN, signing_secret="").verify(signed(body, secret="")).status == 403
    )  # type: ignore[union-attr]


def test_url_verification_answers_the_challenge() -> None:
    answer = channel().parse(signed(json.dumps({"type": "url_verification", "challenge": "c-1"})))
    assert isinstance(answer, HTTPResponse) and json.loads(answer.body) == {"challenge": "c-1"}
    bad = channel().parse(signed(json.dumps({"type": "url_verification", "challenge": 5})))
    assert isinstance(bad, HTTPResponse) and bad.status == 400


def test_direct_messages_and_mentions_are_taken_bots_and_edits_are_not() -> None:
    slack = channel()
    parsed = slack.parse(signed(envelope({**DM, "text": "a &amp; b &lt;3 <https://x.test|x>"})))
    assert isinstance(parsed, list) and len(parsed) == 1
    assert (parsed[0].delivery_id, parsed[0].user_id) == ("Ev01", "U1")
    assert parsed[0].text == "a & b <3 x" and parsed[0].address == {"channel": "D1"}
    mention = {
        "type": "app_mention",
        "channel": "C1",
        "user": "U2",
        "text": "<@UBOT> 退款",
        "ts": "9.1",
    }
    parsed = slack.parse(signed(envelope(mention)))
    assert isinstance(parsed, list) and parsed[0].text == "退款"
    assert parsed[0].address == {"channel": "U2"}  # answered in the DM, not the channel
    threaded = slack.parse(signed(envelope({**DM, "thread_ts": "7.7"})))
    assert isinstance(threaded, list) and threaded[0].address == {
        "channel": "D1",
        "thread_ts": "7.7",
    }
    ignored = [
        {**DM, "bot_id": "B1"},
        {**DM, "user": "UBOT"},
        {**DM, "subtype": "message_changed"},
        {**DM, "channel_type": "channel"},
        {k: v for k, v in DM.items() if k != "user"},
        {**DM, "text": 5},
        {"type": "reaction_added", "user": "U1"},
    ]
    for event in ignored:
        assert slack.parse(signed(envelope(event))) == [], event
    assert slack.parse(signed(json.dumps({"type": "app_rate_limited"}))) == []


def test_a_button_press_is_its_value() -> None:
    payload = {
        "type": "block_actions",
        "user": {"id": "U1"},
        "channel": {"id": "D1"},
        "trigger_id": "123.456.abc",
        "container": {"type": "message", "thread_ts": "5.5"},
        "actions": [{"type": "button", "value": "/affirm", "action_id": "button-0"}],
    }
    body = urlencode({"payload": json.dumps(payload)})
    parsed = channel().parse(signed(body, content_type="application/x-www-form-urlencoded"))
    assert isinstance(parsed, list) and len(parsed) == 1
    assert parsed[0].delivery_id == "action:123.456.abc" and parsed[0].text == "/affirm"
    assert parsed[0].address == {"channel": "D1", "thread_ts": "5.5"}
    payload["channel"] = {"id": "C0PUBLIC"}
    body = urlencode({"payload": json.dumps(payload)})
    parsed = channel().parse(signed(body, content_type="application/x-www-form-urlencoded"))
    assert isinstance(parsed, list) and parsed[0].address == {"channel": "U1"}
    for broken in ("payload=%7B", "payload=5", "x=1", "payload=%ff%fe"):
        answer = channel().parse(signed(broken, content_type="application/x-www-form-urlencoded"))
        assert isinstance(answer, HTTPResponse) and answer.status == 400, broken


@pytest.mark.parametrize(
    "body", [b"", b"\xff\xfe", b"[]", b"null", b"{" * 10_000, '{"type": "\udcff"}']
)
def test_malformed_bodies_are_400(body: bytes | str) -> None:
    answer = channel().parse(signed(body))
    assert isinstance(answer, HTTPResponse) and answer.status == 400


def test_buttons_become_blocks_and_text_is_escaped() -> None:
    slack = channel()
    body = slack.request_of(
        {"channel": "D1", "thread_ts": "1.2"},
        OutMessage("1 < 2 & 3", tuple((f"选项 {i}" + "x" * 80, f"/p{i}") for i in range(30))),
    )
    assert body["channel"] == "D1" and body["thread_ts"] == "1.2"
    assert body["text"] == "1 &lt; 2 &amp; 3"
    section, first, second = body["blocks"]
    assert section["text"] == {"type": "mrkdwn", "text": "1 &lt; 2 &amp; 3"}
    assert len(first["elements"]) == 25 and len(second["elements"]) == 5
    assert all(len(e["text"]["text"]) <= 75 for e in first["elements"])
    assert first["elements"][0]["value"] == "/p0"
    heavy = slack.request_of({"channel": "D1"}, OutMessage("<" * SECTION_MAX_CHARS, (("a", "b"),)))
    sections = [b for b in heavy["blocks"] if b["type"] == "section"]
    assert all(len(s["text"]["text"]) <= SECTION_MAX_CHARS for s in sections)
    assert "".join(s["text"]["text"] for s in sections) == "&lt;" * SECTION_MAX_CHARS
    assert "blocks" not in slack.request_of({"channel": "D1"}, OutMessage("hi"))


def test_plain_text_undoes_slack_formatting() -> None:
    assert (
        plain_text("<@U1> hi <mailto:a@b.c|a@b.c> &gt; <https://e.test>")
        == "hi a@b.c > https://e.test"
    )


def test_send_maps_ok_false_and_rate_limits() -> None:
    answers = [
        Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "3"}),
        Scripted(200, {"ok": False, "error": "channel_not_found"}),
        Scripted(200, {"ok": False, "error": "internal_error"}),
        Scripted(503, None),
        Scripted(200, {"ok": True, "ts": "1.1"}),
    ]

    async def scenario() -> tuple[ScriptedAPI, list[PlatformError | None]]:
        results: list[PlatformError | None] = []
        async with ScriptedAPI(answers) as api:
            slack = channel(api.url)
            for _ in range(5):
                try:
                    await slack.send({"channel": "D1"}, OutMessage("你好"))
                    results.append(None)
                except PlatformError as error:
                    results.append(error)
        return api, results

    api, (rate, missing, internal, down, fine) = run(scenario())
    assert rate is not None and rate.retryable and rate.retry_after == 3.0
    assert missing is not None and not missing.retryable
    assert internal is not None and internal.retryable
    assert down is not None and down.retryable
    assert fine is None
    path, headers, body = api.calls[-1]
    assert path == "/chat.postMessage" and headers["Authorization"] == f"Bearer {TOKEN}"
    assert body == {"channel": "D1", "text": "你好"}
