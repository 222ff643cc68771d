"""Latent customer types of the demo shop and the constants every part of the simulation shares.

The latent type (``loyal``, ``lapsing``, ``complainer``, ``bargain``, ``new``) drives a
customer's purchase rhythm, churn hazard, bad experiences, subscription and chat behaviour
(:class:`TypeProfile`). Taste clusters (:data:`CLUSTERS`) tie the products a customer buys
together.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from analytics.store.models import CATEGORY_COFFEE, CATEGORY_TEA

logger = logging.getLogger(__name__)

DEFAULT_SEED = 42
DEFAULT_CUSTOMERS = 2000
HISTORY_DAYS = 730
NEW_SIGNUP_DAYS = 42
RENEWAL_DAYS = 30
DEMO_RANDOM_STREAM = "leaf-and-bean-demo"
"""Seed of the demo customers' own random stream: they are identical for every seed."""

TYPE_LOYAL = "loyal"
TYPE_LAPSING = "lapsing"
TYPE_COMPLAINER = "complainer"
TYPE_BARGAIN = "bargain"
TYPE_NEW = "new"
CUSTOMER_TYPES = (TYPE_LOYAL, TYPE_LAPSING, TYPE_COMPLAINER, TYPE_BARGAIN, TYPE_NEW)


def default_reference_date() -> datetime:
    """Return today at 00:00 UTC (the default end of the generated history)."""
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class TypeProfile:
    """Behaviour parameters of a latent customer type."""

    share: float
    gap_days: float
    gap_growth: float
    hazard: float
    hazard_growth: float
    bad_bump: float
    late_prob: float
    refund_prob: float
    subscribe_prob: float
    conversation_prob: float
    discount_prob: float
    max_conversations: int


PROFILES: dict[str, TypeProfile] = {
    TYPE_LOYAL: TypeProfile(0.24, 30, 1.0, 0.015, 0.0, 0.03, 0.05, 0.01, 0.5, 0.3, 0.1, 2),
    TYPE_LAPSING: TypeProfile(0.26, 32, 1.3, 0.05, 0.04, 0.05, 0.07, 0.02, 0.15, 0.35, 0.15, 2),
    TYPE_COMPLAINER: TypeProfile(0.14, 35, 1.1, 0.06, 0.01, 0.25, 0.3, 0.1, 0.15, 0.8, 0.15, 4),
    TYPE_BARGAIN: TypeProfile(0.28, 60, 1.5, 0.75, 0.1, 0.05, 0.06, 0.03, 0.02, 0.1, 0.7, 1),
    TYPE_NEW: TypeProfile(0.08, 18, 1.0, 0.05, 0.0, 0.1, 0.06, 0.02, 0.1, 0.2, 0.3, 1),
}

# Taste clusters: core products bought together, plus matching accessories.
CLUSTERS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "green_tea": (CATEGORY_TEA, ("T01", "T08", "T06"), ("A02",)),
    "oolong": (CATEGORY_TEA, ("T02", "T10", "T03"), ("A02",)),
    "dark_black": (CATEGORY_TEA, ("T04", "T07", "T09"), ("A05",)),
    "white": (CATEGORY_TEA, ("T05", "T01", "T03"), ("A02",)),
    "pour_over": (CATEGORY_COFFEE, ("C02", "C07", "C01"), ("A01", "A03")),
    "espresso": (CATEGORY_COFFEE, ("C04", "C03", "C08"), ("A03", "A04")),
    "convenience": (CATEGORY_COFFEE, ("C06", "C05", "C01"), ("A05",)),
}
TEA_CLUSTERS = ("green_tea", "oolong", "dark_black", "white")
TEA_CLUSTER_WEIGHTS = (0.35, 0.3, 0.2, 0.15)
COFFEE_CLUSTERS = ("pour_over", "espresso", "convenience")
COFFEE_CLUSTER_WEIGHTS = (0.35, 0.35, 0.3)
