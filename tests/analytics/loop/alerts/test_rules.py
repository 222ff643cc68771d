"""The alert rules through the real ingest writer, on SQLite and PostgreSQL.

Each trigger raises one alert for a high-value customer (with one pending delivery per
channel and the bilingual text); a customer of low value raises none; one alert per
conversation per quiet window; at most ALERT_MAX_PER_HOUR; the alert commits with the
message or not at all; replaying or ingesting old history raises nothing.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from analytics.brain.sentiment import default_scorer
from analytics.core.settings import Settings
from analytics.loop.alerts.rules import AlertRules
from analytics.loop.ingest.synthetic import identity, turn_events
from analytics.loop.ingest.writer import Incoming, IngestWriter
from analytics.store.db import make_sessionmaker
from analytics.store.models import AlertDelivery, Conversation, FounderAlert
from analytics.store.repositories.alerts import alert_by_ref, alerts_of_conversation
from tests.analytics.loop.alerts.conftest import (
    CHANNELS,
    Chat,
    Clock,
    make_rules,
    set_churn,
    vip_external,
)

ANGRY_ZH = "你们太差劲了！！我非常生气，垃圾服务，骗子，再也不买了"


def _alerts(engine: Engine, sender: str) -> list[FounderAlert]:
    with Session(engine) as session:
        conversation = session.scalars(
            select(Conversation).where(Conversation.sender_id == sender)
        ).one()
        alerts = alerts_of_conversation(session, conversation.id)
        session.expunge_all()
        return alerts


def _deliveries(engine: Engine, alert_id: int) -> list[AlertDelivery]:
    with Session(engine) as session:
        rows = list(
            session.scalars(
                select(AlertDelivery)
                .where(AlertDelivery.alert_id == alert_id)
                .order_by(AlertDelivery.channel)
            )
        )
        session.expunge_all()
        return rows


def test_cancel_intent_of_a_vip_files_one_alert_with_its_outbox(
    scored: Engine, chat: Chat, clock: Clock
) -> None:
    vip = vip_external(scored)
    sender = f"al-cancel-{scored.dialect.name}"
    chat.say(sender, vip, "I want to cancel my subscription", "cancel_subscription")
    (alert,) = _alerts(scored, sender)
    assert alert.reasons == ["cancel_intent"]
    assert alert.ref == f"A{alert.id}" and alert.state == "pending"
    assert alert.created_at == clock.now
    assert alert.segment == "potential" and alert.risk is not None
    assert (
        alert.link == f"https://console.example.test/console/conversations/{alert.conversation_id}"
    )
    assert alert.link in alert.text and alert.ref in alert.text and alert.ref in alert.title
    assert "想取消订阅" in alert.text and "wants to cancel" in alert.text
    assert "潜力客户" in alert.text and "Potential loyalists" in alert.text
    assert vip in alert.text
    deliveries = _deliveries(scored, alert.id)
    assert [d.channel for d in deliveries] == sorted(CHANNELS)
    assert all(d.state == "pending" and d.attempts == 0 for d in deliveries)
    assert all(d.next_attempt_at == clock.now for d in deliveries)
    with Session(scored) as session:
        found = alert_by_ref(session, f" a{alert.id} ")
        assert found is not None and found.id == alert.id


def test_human_request_and_anger_are_triggers(scored: Engine, chat: Chat, clock: Clock) -> None:
    human = f"al-human-{scored.dialect.name}"
    chat.say(human, vip_external(scored, 1), "请帮我转人工，谢谢", "human_handoff")
    assert [a.reasons for a in _alerts(scored, human)] == [["human_request"]]
    assert default_scorer().score(ANGRY_ZH) < -0.5  # the live risk's own "angry"
    angry = f"al-angry-{scored.dialect.name}"
    chat.say(angry, vip_external(scored, 2), ANGRY_ZH, "chitchat")
    (alert,) = _alerts(scored, angry)
    assert "angry" in alert.reasons
    assert "情绪激动" in alert.text and "wrote angrily" in alert.text


def test_live_risk_rising_to_high_is_a_trigger(scored: Engine, chat: Chat) -> None:
    vip = vip_external(scored, 3)
    set_churn(scored, vip, 0.45)  # medium; a refund request adds 0.8 log-odds: high
    sender = f"al-risk-{scored.dialect.name}"
    chat.say(sender, vip, "I would like a refund for my last order please", "refund_request")
    (alert,) = _alerts(scored, sender)
    assert alert.reasons == ["risk_high"]
    assert alert.risk is not None and alert.risk >= 0.5
    assert "实时流失风险升至高" in alert.text and "asked for a refund" in alert.text


def test_loyal_segment_is_high_value_whatever_its_value(scored: Engine, chat: Chat) -> None:
    sender = f"al-loyal-{scored.dialect.name}"
    chat.say(sender, "cus_0003", "取消订阅", "cancel_subscription")
    (alert,) = _alerts(scored, sender)
    assert "老客户" in alert.text and "Loyal" in alert.text


def test_a_customer_of_low_value_or_no_customer_gets_no_alert(scored: Engine, chat: Chat) -> None:
    low = f"al-low-{scored.dialect.name}"
    chat.say(low, "cus_0010", "cancel my subscription", "cancel_subscription")
    chat.say(low, "cus_0010", "我要找人工", "human_handoff")
    assert _alerts(scored, low) == []
    anonymous = f"al-anon-{scored.dialect.name}"
    chat.say(anonymous, None, "cancel my subscription", "cancel_subscription")
    assert _alerts(scored, anonymous) == []


def test_no_trigger_no_alert(scored: Engine, chat: Chat) -> None:
    sender = f"al-calm-{scored.dialect.name}"
    chat.say(sender, vip_external(scored, 4), "where is my order?", "order_status")
    assert _alerts(scored, sender) == []


def test_one_alert_per_conversation_per_quiet_window(
    scored: Engine, chat: Chat, clock: Clock
) -> None:
    vip = vip_external(scored, 5)
    sender = f"al-quiet-{scored.dialect.name}"
    chat.say(sender, vip, "cancel my subscription", "cancel_subscription")
    clock.advance(minutes=30)
    chat.say(sender, vip, "I want a person now", "human_handoff")  # a new reason: no alert
    clock.advance(minutes=29)
    chat.say(sender, vip, ANGRY_ZH, "chitchat")
    assert [a.reasons for a in _alerts(scored, sender)] == [["cancel_intent"]]
    clock.advance(minutes=2)  # 61 minutes after the first alert
    chat.say(sender, vip, "cancel it now", "cancel_subscription")
    alerts = _alerts(scored, sender)
    assert [a.reasons for a in alerts] == [["cancel_intent"], ["cancel_intent"]]
    assert alerts[1].ref != alerts[0].ref
    other = f"al-quiet-other-{scored.dialect.name}"  # another conversation is not muted
    chat.say(other, vip, "取消订阅", "cancel_subscription")
    assert len(_alerts(scored, other)) == 1


def test_at_most_max_per_hour_alerts(scored: Engine, clock: Clock) -> None:
    rules = make_rules(clock, max_per_hour=2)
    writer = IngestWriter(make_sessionmaker(scored), scorer=default_scorer(), alerts=rules)
    senders = [f"al-limit-{i}-{scored.dialect.name}" for i in range(4)]
    for i, sender in enumerate(senders[:3]):
        ts = (clock.now - timedelta(seconds=1)).timestamp()
        events = turn_events(
            sender,
            "cancel",
            "cancel_subscription",
            ts,
            metadata=identity(vip_external(scored, 6 + i)),
        )
        writer.write(events)
        clock.advance(minutes=1)
    assert [len(_alerts(scored, s)) for s in senders[:3]] == [1, 1, 0]
    clock.advance(minutes=59)  # the first alert is now more than an hour old
    ts = (clock.now - timedelta(seconds=1)).timestamp()
    writer.write(
        turn_events(
            senders[3],
            "cancel",
            "cancel_subscription",
            ts,
            metadata=identity(vip_external(scored, 9)),
        )
    )
    assert len(_alerts(scored, senders[3])) == 1


def test_the_alert_commits_with_the_message_or_not_at_all(
    scored: Engine, chat: Chat, clock: Clock
) -> None:
    sender = f"al-atomic-{scored.dialect.name}"
    ts = (clock.now - timedelta(seconds=1)).timestamp()
    events = turn_events(
        sender, "cancel", "cancel_subscription", ts, metadata=identity(vip_external(scored, 10))
    )

    def crash(_session: Session) -> None:
        raise RuntimeError("the worker dies before the commit")

    with pytest.raises(RuntimeError):
        chat.writer.ingest([Incoming(e) for e in events], before_commit=crash)
    with Session(scored) as session:
        assert (
            session.scalars(select(Conversation).where(Conversation.sender_id == sender)).first()
            is None
        )
    chat.writer.write(events)  # the broker delivers the batch again
    (alert,) = _alerts(scored, sender)
    assert len(_deliveries(scored, alert.id)) == len(CHANNELS)
    chat.writer.write(events)  # and once more: nothing new
    assert len(_alerts(scored, sender)) == 1


def test_old_history_raises_nothing(scored: Engine, chat: Chat, clock: Clock) -> None:
    sender = f"al-old-{scored.dialect.name}"
    ts = (clock.now - timedelta(hours=3)).timestamp()
    chat.writer.write(
        turn_events(
            sender, "cancel", "cancel_subscription", ts, metadata=identity(vip_external(scored, 11))
        )
    )
    assert _alerts(scored, sender) == []


def test_names_are_plain_text_in_the_alert(scored: Engine, chat: Chat) -> None:
    from analytics.loop.alerts.message import AlertFacts, render

    text = render(
        AlertFacts(
            ref="A9",
            conversation_id=9,
            customer_name="Eve\u202e\n<b>@all</b>\x00\ud800 " + "长" * 100,
            customer_external_id="cus_9",
            segment=None,
            risk=None,
            level=None,
            reasons=["human_request"],
            excerpt="line1\r\nline2\x1b[31m",
        ),
        "http://c/",
    )
    assert "\u202e" not in text.text and "\x00" not in text.text and "\ud800" not in text.text
    assert "\x1b" not in text.text and "\r" not in text.text
    assert "Eve <b>@all</b> 长" in text.text  # one line; escaping is each notifier's job
    assert "line1 line2[31m" in text.text
    assert "未评分" in text.text and "not scored" in text.text
    assert max(len(line) for line in text.title.splitlines()) <= 255
    assert text.link == "http://c/console/conversations/9"


def test_rules_from_settings() -> None:
    assert AlertRules.from_settings(Settings(ALERT_CHANNELS="")) is None
    assert AlertRules.from_settings(Settings(ALERT_CHANNELS="slack")) is None  # no URL
    rules = AlertRules.from_settings(
        Settings(
            ALERT_CHANNELS="slack,telegram",
            SLACK_ALERT_WEBHOOK_URL="https://hooks.slack.test/services/x",
            TELEGRAM_ALERT_BOT_TOKEN="",
            ALERT_VIP_TOP_PERCENT="5",
            ALERT_CONVERSATION_QUIET_MINUTES="15",
            ALERT_MAX_PER_HOUR="3",
        )
    )
    assert rules is not None
    assert rules.policy.channels == ("slack",)
    assert (rules.policy.vip_top_percent, rules.policy.max_per_hour) == (5, 3)
    assert rules.policy.quiet == timedelta(minutes=15)
