"""What the customer-success brain knows about the customer, for the actions.

Reads the scores stored by ``python -m analytics score`` (never fits a model on
a request) and turns them into things the bot may say: a friendly note about
the customer's standing, recommendations with names, whether to treat them as
a VIP, and a retention offer. Raw scores are never shown to the customer.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from actions.phrases import Phrasebook
from analytics.brain.offers import VIP_VALUE_CENTS
from analytics.core.vocabulary import (
    LANG_EN,
    RISK_LEVEL_HIGH,
    SEGMENT_AT_RISK,
    SEGMENT_CHAMPIONS,
    SEGMENT_HIBERNATING,
    SEGMENT_LOST,
    SEGMENT_LOYAL,
    SEGMENT_NEW,
    SEGMENT_POTENTIAL,
)
from analytics.loop.live_risk import get_live_risk
from analytics.store.models import Customer, CustomerScore, LiveRisk
from analytics.store.scores import get_scores

VIP_SEGMENTS = frozenset({SEGMENT_CHAMPIONS})
#: the handoff reason (for the founder, in English) when the live risk names none.
LIVE_RISK_REASON_DEFAULT = "live churn risk is high"

#: segment key -> the friendly note (a domain phrase) closing the account status reply.
SEGMENT_NOTE_PHRASES: dict[str, str] = {
    SEGMENT_CHAMPIONS: "utter_phrase_segment_champions",
    SEGMENT_LOYAL: "utter_phrase_segment_loyal",
    SEGMENT_POTENTIAL: "utter_phrase_segment_potential",
    SEGMENT_NEW: "utter_phrase_segment_new",
    SEGMENT_AT_RISK: "utter_phrase_segment_at_risk",
    SEGMENT_HIBERNATING: "utter_phrase_segment_welcome_back",
    SEGMENT_LOST: "utter_phrase_segment_welcome_back",
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
    top = reasons[0].get(LANG_EN) if reasons and isinstance(reasons[0], dict) else None
    return str(top) if top else LIVE_RISK_REASON_DEFAULT


def is_vip(score: CustomerScore | None) -> bool:
    """A VIP: high lifetime value or the Champions segment."""
    if score is None:
        return False
    return score.clv_cents >= VIP_VALUE_CENTS or score.segment in VIP_SEGMENTS


def segment_note(score: CustomerScore | None, phrases: Phrasebook) -> str:
    """A friendly sentence from the segment in the reply language (empty if unknown)."""
    phrase = SEGMENT_NOTE_PHRASES.get(score.segment) if score is not None else None
    return phrases.text(phrase) if phrase else ""


def recommended_skus(score: CustomerScore | None) -> list[str]:
    """The brain's recommended products (best first), or [] when there are none."""
    if score is None:
        return []
    return [str(item["sku"]) for item in score.recommendations if item.get("sku")]
