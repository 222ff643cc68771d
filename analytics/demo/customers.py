"""The four demo customers (fixed by the seeded generator; see docs/architecture.md).

The generator always creates these customers with these external ids, names, languages
and states, whatever the seed. Their order numbers are fixed too, so stories and tests
can refer to them.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

DEMO_ZH = "cus_0001"
"""王小明: Chinese, tea subscription (S01) active, latest order in transit."""
DEMO_EN = "cus_0002"
"""Emily Carter: English, coffee subscription (S02) active, latest order delivered."""
DEMO_VIP_AT_RISK = "cus_0003"
"""李娜: Chinese, high spend, late deliveries and complaints, tea box paused: lapsing."""
DEMO_NEW = "cus_0004"
"""Tom Baker: English, signed up last week, no orders."""

DEMO_IDS: tuple[str, ...] = (DEMO_ZH, DEMO_EN, DEMO_VIP_AT_RISK, DEMO_NEW)

DEMO_NAMES: dict[str, str] = {
    DEMO_ZH: "王小明",
    DEMO_EN: "Emily Carter",
    DEMO_VIP_AT_RISK: "李娜",
    DEMO_NEW: "Tom Baker",
}
DEMO_LANGUAGES: dict[str, str] = {
    DEMO_ZH: "zh",
    DEMO_EN: "en",
    DEMO_VIP_AT_RISK: "zh",
    DEMO_NEW: "en",
}

DEMO_ZH_LATEST_ORDER = "LB900101"
"""王小明's latest order: shipped 2 days ago with SF Express, in transit."""
DEMO_EN_LATEST_ORDER = "LB900201"
"""Emily Carter's latest order: delivered."""
DEMO_VIP_LATEST_ORDER = "LB900301"
"""李娜's latest order: delivered four days late about five weeks ago."""
DEMO_VIP_DELAYED_ORDER = DEMO_VIP_LATEST_ORDER

DEMO_ORDER_PREFIX = "LB9"
"""Every demo customer's order number starts with this; generated ones never do."""
