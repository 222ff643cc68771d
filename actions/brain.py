"""What the customer-success brain knows about the customer, for the actions.

Reads the scores stored by ``python -m analytics score`` (never fits a model on
a request) and turns them into things the bot may say: a friendly note about
the customer's standing, recommendations with names, whether to treat them as
a VIP, and a retention offer. Raw scores are never shown to the customer.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from analytics.brain.offers import VIP_VALUE_CENTS
from analytics.core.vocabulary import RISK_LEVEL_HIGH
from analytics.loop.live_risk import get_live_risk
from analytics.store.models import Customer, CustomerScore, LiveRisk
from analytics.store.scores import get_scores

LANG_EN = "en"
VIP_SEGMENTS = frozenset({"champions"})

#: segment key -> (Chinese, English) note for the account status reply.
SEGMENT_NOTES: dict[str, tuple[str, str]] = {
    "champions": (
        "感谢你一直以来的支持，你是我们最珍视的老朋友之一！",
        " Thank you for being one of our most loyal customers!",
    ),
    "loyal": ("谢谢你常来光顾！", " Thanks for coming back so often!"),
    "potential": (
        "很高兴你喜欢我们的茶和咖啡！",
        " We're glad you're enjoying our teas and coffees!",
    ),
    "new": (
        "欢迎加入叶与豆，首单可用优惠码 WELCOME10 享 9 折。",
        " Welcome to Leaf & Bean: code WELCOME10 takes 10% off your first order.",
    ),
    "at_risk": (
        "好久不见，想你了！有新茶上架，欢迎回来看看。",
        " We've missed you! New teas just arrived.",
    ),
    "hibernating": ("好久不见，欢迎回来！", " Welcome back, it's been a while!"),
    "lost": ("好久不见，欢迎回来！", " Welcome back, it's been a while!"),
}


def scores_of(session: Session, customer: Customer | None) -> CustomerScore | None:
    """The customer's stored scores, or None (anonymous or not scored yet)."""
    return get_scores(session, customer.id) if customer is not None else None


def live_risk_of(session: Session, customer: Customer | None) -> LiveRisk | None:
    """The customer's live risk from recent conversations (kept by the ingest worker)."""
    return get_live_risk(session, customer.id) if customer is not None else None


def live_alert_reason(live: LiveRisk | None) -> str | None:
    """Why the live risk is high (its top reason, in English for the founder), else None."""
    if live is None or live.level != RISK_LEVEL_HIGH:
        return None
    reasons = live.reasons or []
    top = reasons[0].get("en") if reasons and isinstance(reasons[0], dict) else None
    return str(top) if top else "live churn risk is high"


def is_vip(score: CustomerScore | None) -> bool:
    """A VIP: high lifetime value or the Champions segment."""
    if score is None:
        return False
    return score.clv_cents >= VIP_VALUE_CENTS or score.segment in VIP_SEGMENTS


def segment_note(score: CustomerScore | None, language: str) -> str:
    """A friendly sentence from the segment (empty if unknown)."""
    if score is None or score.segment not in SEGMENT_NOTES:
        return ""
    zh, en = SEGMENT_NOTES[score.segment]
    return en if language == LANG_EN else zh


def recommended_skus(score: CustomerScore | None) -> list[str]:
    """The brain's recommended products (best first), or [] when there are none."""
    if score is None:
        return []
    return [str(item["sku"]) for item in score.recommendations if item.get("sku")]
