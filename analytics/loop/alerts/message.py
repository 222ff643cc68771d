"""The words of an alert: the customer, segment, risk and reasons, in Chinese and English.

Plain text only: every value that comes from a customer (their name, the redacted excerpt
of what they wrote) is cleaned of control and formatting characters (no bidi overrides, no
line breaks of their own), stripped of ``#`` and ``＃`` (a customer cannot plant an alert
ref like ``#A5`` for the founder's reply hooks to pick up) and cut short. Every alert
starts with its ref as ``#A17`` on a line of its own; each notifier sends the text as plain text or
escapes it for its platform (:mod:`analytics.loop.alerts.notifiers`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from analytics.core.vocabulary import (
    LANG_EN,
    LANG_ZH,
    RISK_LEVEL_HIGH,
    RISK_LEVEL_LOW,
    RISK_LEVEL_MEDIUM,
    SEGMENT_NAMES,
    risk_band,
)
from analytics.loop.alerts.notifiers.base import AlertText
from analytics.store.models.alerts import (
    REASON_ANGRY,
    REASON_CANCEL,
    REASON_HUMAN,
    REASON_RISK_HIGH,
    FounderAlert,
)

#: The console's page of a conversation (``web/console/routes/conversation.py``).
CONSOLE_CONVERSATION_PATH = "/console/conversations/{conversation_id}"
MAX_NAME_CHARS = 60
MAX_EXCERPT_CHARS = 200
MAX_TITLE_CHARS = 255
#: Live-risk reasons quoted (the largest first).
MAX_RISK_REASONS = 3

#: Alert reason code -> (Chinese, English).
REASON_TEXTS: dict[str, tuple[str, str]] = {
    REASON_CANCEL: ("想取消订阅", "wants to cancel"),
    REASON_HUMAN: ("要求人工服务", "asked for a person"),
    REASON_ANGRY: ("情绪激动（消息很负面）", "wrote angrily (very negative message)"),
    REASON_RISK_HIGH: ("实时流失风险升至高", "live churn risk rose to high"),
}
#: Risk band -> (Chinese, English).
LEVEL_TEXTS: dict[str, tuple[str, str]] = {
    RISK_LEVEL_HIGH: ("高", "high"),
    RISK_LEVEL_MEDIUM: ("中", "medium"),
    RISK_LEVEL_LOW: ("低", "low"),
}
UNKNOWN = ("未知", "unknown")
#: Dropped from customer-supplied values: the marks of an alert ref.
NO_REF_MARKS = str.maketrans("", "", "#＃﹟")
NO_SEGMENT = ("未评分", "not scored")


@dataclass(frozen=True)
class AlertFacts:
    """What an alert says.

    Attributes:
        ref: The alert's short ref.
        conversation_id: The conversation's primary key (for the link).
        customer_name: The customer's name.
        customer_external_id: The id the shop knows the customer by.
        segment: The customer's RFM segment key, if scored.
        risk: The churn risk shown (live, else nightly), if any.
        level: Its band.
        reasons: Alert reason codes.
        risk_reasons: The live risk's reasons (``{"en", "zh", ...}`` dicts), largest first.
        excerpt: What the customer just wrote, redacted.
        channel: The conversation's channel (``web``, ``telegram``...), if known.
    """

    ref: str
    conversation_id: int
    customer_name: str
    customer_external_id: str
    segment: str | None
    risk: float | None
    level: str | None
    reasons: Sequence[str]
    risk_reasons: Sequence[dict[str, Any]] = ()
    excerpt: str = ""
    channel: str | None = None


def plain(value: object, limit: int) -> str:
    """A customer-supplied value as one clean line of at most ``limit`` characters.

    Control, format (bidi overrides, zero-width), surrogate and private-use characters and
    ``#``/``＃`` (no planted alert refs) are dropped, whitespace runs become one space.
    """
    text = str(value or "").translate(NO_REF_MARKS)
    kept = "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn")
    )
    line = " ".join(kept.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def conversation_link(console_url: str, conversation_id: int) -> str:
    """The console's page of a conversation under ``CONSOLE_PUBLIC_URL``."""
    path = CONSOLE_CONVERSATION_PATH.format(conversation_id=int(conversation_id))
    return f"{console_url.rstrip('/')}{path}"


def _segment(key: str | None) -> tuple[str, str]:
    if key is None or key not in SEGMENT_NAMES:
        return NO_SEGMENT
    en, zh = SEGMENT_NAMES[key]
    return zh, en


def _risk(facts: AlertFacts) -> tuple[str, str]:
    if facts.risk is None or facts.level is None:
        return UNKNOWN
    zh, en = LEVEL_TEXTS.get(facts.level, UNKNOWN)
    return f"{zh}（{facts.risk:.0%}）", f"{en} ({facts.risk:.0%})"


def _reasons(facts: AlertFacts, language: str) -> str:
    index = 0 if language == LANG_ZH else 1
    said = [REASON_TEXTS[r][index] for r in facts.reasons if r in REASON_TEXTS]
    extra = [
        plain(r.get(language, ""), 80)
        for r in facts.risk_reasons[:MAX_RISK_REASONS]
        if isinstance(r, dict) and r.get(language) and float(r.get("contribution", 0)) > 0
    ]
    joiner = "；" if language == LANG_ZH else "; "
    return joiner.join(dict.fromkeys(said + extra))


def render(facts: AlertFacts, console_url: str) -> AlertText:
    """The alert's title and plain text, both languages.

    Args:
        facts: What to say.
        console_url: ``CONSOLE_PUBLIC_URL``.

    Returns:
        The alert as the notifiers send it.
    """
    name = plain(facts.customer_name, MAX_NAME_CHARS) or facts.customer_external_id
    external = plain(facts.customer_external_id, 64)
    seg_zh, seg_en = _segment(facts.segment)
    risk_zh, risk_en = _risk(facts)
    excerpt = plain(facts.excerpt, MAX_EXCERPT_CHARS)
    link = conversation_link(console_url, facts.conversation_id)
    title = plain(f"【客户提醒 {facts.ref}】{name} / Customer alert {facts.ref}: {name}", 200)
    zh = [
        f"【叶与豆 · 客户提醒 {facts.ref}】",
        f"客户：{name}（{external}）",
        f"分群：{seg_zh}",
        f"流失风险：{risk_zh}",
        f"原因：{_reasons(facts, LANG_ZH)}",
    ]
    en = [
        f"[Leaf & Bean · Customer alert {facts.ref}]",
        f"Customer: {name} ({external})",
        f"Segment: {seg_en}",
        f"Churn risk: {risk_en}",
        f"Reasons: {_reasons(facts, LANG_EN)}",
    ]
    if excerpt:
        zh.append(f"最新消息：「{excerpt}」")
        en.append(f'Latest message: "{excerpt}"')
    tail = [
        f"打开对话 / Open the conversation: {link}",
        f"回复本提醒即可答复客户（或以 #{facts.ref} 开头）/ "
        f"Reply to this alert to answer the customer (or start with #{facts.ref}).",
    ]
    text = "\n".join([f"#{facts.ref}", *zh, "", *en, "", *tail])
    data = {
        "ref": facts.ref,
        "conversation_id": facts.conversation_id,
        "customer": {"external_id": external, "name": name},
        "segment": facts.segment,
        "risk": None if facts.risk is None else round(facts.risk, 4),
        "level": facts.level,
        "reasons": list(facts.reasons),
        "channel": facts.channel,
    }
    return AlertText(ref=facts.ref, title=title[:MAX_TITLE_CHARS], text=text, link=link, data=data)


def stored_text(alert: FounderAlert, customer_external_id: str | None = None) -> AlertText:
    """The text of a filed alert as the notifiers send it (the words stored at filing)."""
    data = {
        "ref": alert.ref,
        "conversation_id": alert.conversation_id,
        "sender_id": alert.sender_id,
        "customer": {"external_id": customer_external_id},
        "segment": alert.segment,
        "risk": None if alert.risk is None else round(alert.risk, 4),
        "level": None if alert.risk is None else risk_band(alert.risk),
        "reasons": list(alert.reasons or ()),
        "created_at": alert.created_at.isoformat(),
    }
    return AlertText(ref=alert.ref, title=alert.title, text=alert.text, link=alert.link, data=data)
