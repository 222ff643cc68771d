"""The shared vocabulary of the main environment: one definition of each fixed idea.

The brain, the conversation loop, the actions and the console all speak of languages,
churn-risk bands, sentiment and RFM segments; they import the words and the cut-offs from
here, so the console's "high risk" is the bot's "high risk".

(The Rasa environment under ``bot/`` cannot import this package; it keeps its own
language codes in ``bot/nlu/language.py``, held to the same cases by the tests.)
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ANGRY_SENTIMENT",
    "LANGUAGES",
    "LANG_EN",
    "LANG_MIXED",
    "LANG_ZH",
    "NEGATIVE_SENTIMENT",
    "NLU_LANGUAGES",
    "RISK_BANDS",
    "RISK_HIGH",
    "RISK_LEVEL_HIGH",
    "RISK_LEVEL_LOW",
    "RISK_LEVEL_MEDIUM",
    "RISK_MEDIUM",
    "SEGMENTS",
    "SEGMENT_AT_RISK",
    "SEGMENT_CHAMPIONS",
    "SEGMENT_HIBERNATING",
    "SEGMENT_LOST",
    "SEGMENT_LOYAL",
    "SEGMENT_NAMES",
    "SEGMENT_NEW",
    "SEGMENT_POTENTIAL",
    "risk_band",
    "segment_name",
]

# --- languages -----------------------------------------------------------------------

LANG_ZH: Final = "zh"
"""Chinese (the bot answers in Simplified Chinese)."""
LANG_EN: Final = "en"
"""English."""
LANGUAGES: Final = (LANG_ZH, LANG_EN)
"""The languages a customer is served in."""
LANG_MIXED: Final = "mixed"
"""A message mixing both (the bot's NLU label, ``bot/nlu/language.py``); never a customer's
language: the bot then answers in the customer's profile language."""
NLU_LANGUAGES: Final = (LANG_ZH, LANG_EN, LANG_MIXED)
"""The languages the bot's NLU tells apart, also the folders of ``nlu_data/``."""

# --- churn risk ------------------------------------------------------------------------

RISK_MEDIUM: Final = 0.25
"""Churn probability (90 days) from which a customer is at medium risk."""
RISK_HIGH: Final = 0.5
"""Churn probability (90 days) from which a customer is at high risk (offers, alerts)."""
RISK_LEVEL_LOW: Final = "low"
RISK_LEVEL_MEDIUM: Final = "medium"
RISK_LEVEL_HIGH: Final = "high"
RISK_BANDS: Final = (RISK_LEVEL_LOW, RISK_LEVEL_MEDIUM, RISK_LEVEL_HIGH)


def risk_band(score: float | None) -> str:
    """The band of a churn probability.

    Args:
        score: A probability in [0, 1], or ``None`` when the customer is not scored yet.

    Returns:
        ``"high"`` (>= :data:`RISK_HIGH`), ``"medium"`` (>= :data:`RISK_MEDIUM`) or ``"low"``;
        ``"low"`` for ``None``.
    """
    if score is None:
        return RISK_LEVEL_LOW
    if score >= RISK_HIGH:
        return RISK_LEVEL_HIGH
    if score >= RISK_MEDIUM:
        return RISK_LEVEL_MEDIUM
    return RISK_LEVEL_LOW


# --- sentiment (scores in [-1, 1]) -------------------------------------------------------

NEGATIVE_SENTIMENT: Final = -0.3
"""A message scoring below this counts as negative (conversation features, console)."""
ANGRY_SENTIMENT: Final = -0.5
"""A message scoring below this counts as angry (live risk raises the customer's risk)."""

# --- RFM segments ------------------------------------------------------------------------

SEGMENT_CHAMPIONS: Final = "champions"
SEGMENT_LOYAL: Final = "loyal"
SEGMENT_POTENTIAL: Final = "potential"
SEGMENT_NEW: Final = "new"
SEGMENT_AT_RISK: Final = "at_risk"
SEGMENT_HIBERNATING: Final = "hibernating"
SEGMENT_LOST: Final = "lost"

SEGMENT_NAMES: Final[dict[str, tuple[str, str]]] = {
    SEGMENT_CHAMPIONS: ("Champions", "忠实客户"),
    SEGMENT_LOYAL: ("Loyal", "老客户"),
    SEGMENT_POTENTIAL: ("Potential loyalists", "潜力客户"),
    SEGMENT_NEW: ("New", "新客户"),
    SEGMENT_AT_RISK: ("At risk", "流失风险"),
    SEGMENT_HIBERNATING: ("Hibernating", "沉睡客户"),
    SEGMENT_LOST: ("Lost", "已流失"),
}
"""Segment key -> (English name, Chinese name)."""
SEGMENTS: Final = tuple(SEGMENT_NAMES)


def segment_name(key: str, language: str = LANG_EN) -> str:
    """Human-readable name of a segment key.

    Args:
        key: One of :data:`SEGMENTS`.
        language: ``"en"`` or ``"zh"``.

    Returns:
        The name in that language.

    Raises:
        KeyError: For an unknown key.
    """
    en, zh = SEGMENT_NAMES[key]
    return zh if language == LANG_ZH else en
