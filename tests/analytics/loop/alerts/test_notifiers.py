"""Each notifier against a local fake speaking its platform's documented protocol.

The fakes (tests/channels/fakes/: Telegram, WeCom, and alert_sinks.py) check what the
platforms check (tokens, Feishu's and DingTalk's signatures, our webhook's HMAC) and
answer the platforms' own errors; the e-mail goes to a local aiosmtpd server with STARTTLS
and a login.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from analytics.core.settings import Settings
from analytics.loop.alerts.message import AlertFacts, render
from analytics.loop.alerts.notifiers import build_notifiers
from analytics.loop.alerts.notifiers.base import AlertText, NotifierError
from analytics.loop.alerts.notifiers.dingtalk import DingTalkNotifier, dingtalk_sign
from analytics.loop.alerts.notifiers.email import EmailNotifier
from analytics.loop.alerts.notifiers.feishu import FeishuNotifier, feishu_sign
from analytics.loop.alerts.notifiers.slack import SlackNotifier
from analytics.loop.alerts.notifiers.telegram import TelegramNotifier
from analytics.loop.alerts.notifiers.webhook import WebhookNotifier, webhook_signature
from analytics.loop.alerts.notifiers.wecom import WeComNotifier
from tests.channels.fakes.alert_sinks import (
    FakeAlertReceiver,
    FakeDingTalkRobot,
    FakeFeishuBot,
    FakeSlackWebhook,
    SmtpSink,
)
from tests.channels.fakes.telegram import FakeTelegram
from tests.channels.fakes.wecom import AGENT_ID, CORP_ID, SECRET, FakeWeCom

pytestmark = pytest.mark.channels

CHAT_ID = "424242"
FOUNDER = "founder.li"
HOSTILE_NAME = '<!channel> <at user_id="all">所有人</at> & <b>Eve</b>'


def _alert(name: str = "李娜", ref: str = "A7") -> AlertText:
    return render(
        AlertFacts(
            ref=ref,
            conversation_id=7,
            customer_name=name,
            customer_external_id="cus_0003",
            segment="loyal",
            risk=0.81,
            level="high",
            reasons=["cancel_intent", "risk_high"],
            risk_reasons=[
                {
                    "code": "cancel_intent",
                    "contribution": 1.5,
                    "en": "wants to cancel the subscription",
                    "zh": "提出要取消订阅",
                }
            ],
            excerpt="我要取消订阅",
        ),
        "https://console.example.test",
    )


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def wecom() -> Iterator[FakeWeCom]:
    with FakeWeCom() as fake:
        yield fake


def test_telegram_sends_plain_text_and_returns_the_message_id(telegram: FakeTelegram) -> None:
    notifier = TelegramNotifier(telegram.token, CHAT_ID, telegram.url)
    message_id = notifier.send(_alert(HOSTILE_NAME))
    (sent,) = telegram.sent(CHAT_ID)
    assert "parse_mode" not in sent  # plain text: no markup of the customer's
    assert HOSTILE_NAME in sent["text"]
    assert "流失风险：高（81%）" in sent["text"] and "Churn risk: high (81%)" in sent["text"]
    assert "https://console.example.test/console/conversations/7" in sent["text"]
    assert message_id is not None and message_id.isdigit()


def test_telegram_errors(telegram: FakeTelegram) -> None:
    notifier = TelegramNotifier(telegram.token, CHAT_ID, telegram.url)
    telegram.rate_limit_next(1, retry_after=7)
    with pytest.raises(NotifierError) as limited:
        notifier.send(_alert())
    assert limited.value.retryable and limited.value.retry_after == 7
    telegram.fail_next(1, 502, json={"ok": False, "error_code": 502, "description": "Bad Gateway"})
    with pytest.raises(NotifierError) as down:
        notifier.send(_alert())
    assert down.value.retryable
    wrong = TelegramNotifier("123:wrong", CHAT_ID, telegram.url)
    with pytest.raises(NotifierError) as refused:
        wrong.send(_alert())
    assert not refused.value.retryable and "wrong" not in str(refused.value)
    assert notifier.send(_alert()) is not None


def test_slack_escapes_and_reports_errors() -> None:
    with FakeSlackWebhook() as fake:
        notifier = SlackNotifier(fake.env()["SLACK_ALERT_WEBHOOK_URL"])
        assert notifier.send(_alert(HOSTILE_NAME)) is None
        (text,) = fake.texts()
        assert "<!channel>" not in text and "&lt;!channel&gt;" in text
        assert "&amp; &lt;b&gt;Eve&lt;/b&gt;" in text
        assert fake.calls[0].json["mrkdwn"] is False
        fake.fail_next(1, 429, body=b"rate_limited", headers={"Retry-After": "30"})
        with pytest.raises(NotifierError) as limited:
            notifier.send(_alert())
        assert limited.value.retryable and limited.value.retry_after == 30
        with pytest.raises(NotifierError) as refused:
            SlackNotifier(f"{fake.url}/services/T0FAKE/B0FAKE/forged").send(_alert())
        assert not refused.value.retryable


def test_wecom_caches_its_token_and_renews_it_once(wecom: FakeWeCom) -> None:
    notifier = WeComNotifier(CORP_ID, SECRET, int(AGENT_ID), FOUNDER, wecom.url)
    assert notifier.send(_alert()) is not None
    assert notifier.send(_alert()) is not None
    assert len(wecom.calls_to("/cgi-bin/gettoken")) == 1  # cached
    (first, _second) = wecom.sent(FOUNDER)
    assert first["msgtype"] == "text" and first["agentid"] == int(AGENT_ID)
    assert "客户：李娜（cus_0003）" in first["text"]["content"]
    wecom.expire_tokens()  # WeCom answers 42001: a new token, the same message, once
    assert notifier.send(_alert()) is not None
    assert len(wecom.calls_to("/cgi-bin/gettoken")) == 2
    wecom.fail_errcode(45009)  # API frequency limit
    with pytest.raises(NotifierError) as limited:
        notifier.send(_alert())
    assert limited.value.retryable
    with pytest.raises(NotifierError) as refused:
        WeComNotifier(CORP_ID, "wrong-secret", int(AGENT_ID), FOUNDER, wecom.url).send(_alert())
    assert not refused.value.retryable and "wrong-secret" not in str(refused.value)


def test_wecom_cuts_long_text_to_2048_bytes(wecom: FakeWeCom) -> None:
    notifier = WeComNotifier(CORP_ID, SECRET, int(AGENT_ID), FOUNDER, wecom.url)
    long = AlertText("A1", "t", "长" * 3000, "https://x", {})
    assert notifier.send(long) is not None
    (sent,) = wecom.sent(FOUNDER)
    assert len(sent["text"]["content"].encode()) <= 2048


def test_feishu_signs_like_feishu() -> None:
    # Feishu's documented algorithm, computed independently of the notifier.
    key = b"1599360473\nsecret"
    expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    assert feishu_sign(1599360473, "secret") == expected
    with FakeFeishuBot() as fake:
        env = fake.env()
        notifier = FeishuNotifier(env["FEISHU_ALERT_WEBHOOK_URL"], env["FEISHU_ALERT_SECRET"])
        assert notifier.send(_alert(HOSTILE_NAME)) is None
        (body,) = fake.accepted
        post = body["content"]["post"]["zh_cn"]
        elements = [e for line in post["content"] for e in line]
        assert all(e["tag"] in ("text", "a") for e in elements)
        assert any(
            HOSTILE_NAME in e.get("text", "") for e in elements
        )  # a text element: not parsed
        assert elements[-1]["href"] == "https://console.example.test/console/conversations/7"
        forged = FeishuNotifier(env["FEISHU_ALERT_WEBHOOK_URL"], "not-the-secret")
        with pytest.raises(NotifierError) as refused:
            forged.send(_alert())
        assert "19021" in str(refused.value) and not refused.value.retryable
        stale = FeishuNotifier(
            env["FEISHU_ALERT_WEBHOOK_URL"], env["FEISHU_ALERT_SECRET"], clock=lambda: 1_000_000.0
        )
        with pytest.raises(NotifierError):
            stale.send(_alert())
        fake.rate_limit_next()
        with pytest.raises(NotifierError) as limited:
            notifier.send(_alert())
        assert limited.value.retryable


def test_dingtalk_signs_like_dingtalk() -> None:
    message = b"1577262236757\nSECabc"
    expected = (
        __import__("base64")
        .b64encode(hmac.new(b"SECabc", message, hashlib.sha256).digest())
        .decode()
    )
    assert dingtalk_sign(1577262236757, "SECabc") == expected
    with FakeDingTalkRobot() as fake:
        env = fake.env()
        notifier = DingTalkNotifier(env["DINGTALK_ALERT_WEBHOOK_URL"], env["DINGTALK_ALERT_SECRET"])
        for _ in range(5):  # signatures with "+" and "/" must survive URL-encoding
            assert notifier.send(_alert()) is None
        assert len(fake.accepted) == 5
        assert fake.accepted[0]["msgtype"] == "text"
        assert "Customer alert A7" in fake.accepted[0]["text"]["content"]
        assert not fake.accepted[0].get("at")  # nobody is mentioned
        with pytest.raises(NotifierError) as refused:
            DingTalkNotifier(env["DINGTALK_ALERT_WEBHOOK_URL"], "SECwrong").send(_alert())
        assert "310000" in str(refused.value) and not refused.value.retryable
        fake.rate_limit_next()
        with pytest.raises(NotifierError) as limited:
            notifier.send(_alert())
        assert limited.value.retryable


def test_webhook_signs_the_timestamp_and_body() -> None:
    with FakeAlertReceiver() as fake:
        env = fake.env()
        notifier = WebhookNotifier(env["ALERT_WEBHOOK_URL"], env["ALERT_WEBHOOK_SECRET"])
        assert notifier.send(_alert(HOSTILE_NAME)) is None
        (body,) = fake.accepted
        assert body["ref"] == "A7" and body["link"].endswith("/console/conversations/7")
        assert body["alert"]["reasons"] == ["cancel_intent", "risk_high"]
        call = fake.calls[0]
        timestamp = call.headers["x-leafbean-timestamp"]
        assert call.headers["x-leafbean-signature"] == webhook_signature(
            fake.secret, int(timestamp), call.body
        )
        assert json.loads(call.body) == body
        with pytest.raises(NotifierError) as refused:
            WebhookNotifier(env["ALERT_WEBHOOK_URL"], "forged").send(_alert())
        assert not refused.value.retryable
        with pytest.raises(NotifierError):  # an old timestamp is refused by the receiver
            WebhookNotifier(env["ALERT_WEBHOOK_URL"], fake.secret, clock=lambda: 1_000.0).send(
                _alert()
            )
        fake.fail_next(1, 503)
        with pytest.raises(NotifierError) as down:
            notifier.send(_alert())
        assert down.value.retryable


def test_email_over_starttls_with_a_login(tmp_path: Path) -> None:
    sink = SmtpSink(tmp_path).start()
    try:
        env = sink.env()
        notifier = EmailNotifier(
            "127.0.0.1",
            sink.port,
            env["SMTP_FROM"],
            env["ALERT_EMAIL_TO"],
            user=sink.user,
            password=sink.password,
            ssl_context=sink.client_context(),
        )
        message_id = notifier.send(_alert("李娜\r\nBcc: victim@example.test"))
        (message,) = sink.messages
        assert message["Message-ID"] == message_id
        assert sink.envelopes == [("alerts@example.test", ["founder@example.test"])]
        assert message.get_content_type() == "text/plain"
        body = message.get_payload(decode=True).decode("utf-8")
        assert "客户：李娜 Bcc: victim@example.test（cus_0003）" in body  # one line: no header
        assert "Bcc" not in {k for k in message.keys()}
        assert "victim" not in str(sink.envelopes)
        with pytest.raises(NotifierError) as refused:
            EmailNotifier(
                "127.0.0.1",
                sink.port,
                env["SMTP_FROM"],
                env["ALERT_EMAIL_TO"],
                user=sink.user,
                password="wrong",
                ssl_context=sink.client_context(),
            ).send(_alert())
        assert not refused.value.retryable
        with pytest.raises(NotifierError) as untrusted:  # the system's trust store: refused
            EmailNotifier("127.0.0.1", sink.port, env["SMTP_FROM"], env["ALERT_EMAIL_TO"]).send(
                _alert()
            )
        assert not untrusted.value.retryable
        sink.fail_next.append("451 4.3.0 Try again later")
        with pytest.raises(NotifierError) as later:
            notifier.send(_alert())
        assert later.value.retryable
    finally:
        sink.stop()
    with pytest.raises(NotifierError) as down:  # the server is gone
        notifier.send(_alert())
    assert down.value.retryable


def test_a_channel_without_its_variables_is_skipped_with_one_log_line(
    caplog: pytest.LogCaptureFixture, telegram: FakeTelegram
) -> None:
    settings = Settings(
        ALERT_CHANNELS="telegram,slack,wecom,feishu,dingtalk,email,webhook",
        TELEGRAM_ALERT_BOT_TOKEN=telegram.token,
        TELEGRAM_ALERT_CHAT_ID=CHAT_ID,
        TELEGRAM_API_URL=telegram.url,
        SLACK_ALERT_WEBHOOK_URL="",
        WECOM_CORP_ID="",
        WECOM_ALERT_SECRET="",
        FEISHU_ALERT_WEBHOOK_URL="",
        DINGTALK_ALERT_WEBHOOK_URL="",
        SMTP_HOST="",
        ALERT_WEBHOOK_URL="",
    )
    with caplog.at_level("ERROR"):
        notifiers = build_notifiers(settings)
    assert list(notifiers) == ["telegram"]
    skipped = [r.getMessage() for r in caplog.records]
    assert len(skipped) == 6 and all("skipped" in line for line in skipped)
    assert telegram.token not in caplog.text
    for notifier in notifiers.values():
        notifier.close()
