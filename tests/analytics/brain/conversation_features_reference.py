"""Reference numbers of the conversation features, computed by the code before issue 14.

Written once by running :func:`tests.analytics.brain.test_conversation_features_regression.compute_all`
with the two old implementations (pandas and plain Python) on the seeded test store; identical
on SQLite and PostgreSQL. Do not regenerate them to make a test pass: a difference means the
features changed.
"""

from __future__ import annotations

Fingerprint = dict[str, tuple[float, float, int]]

DATA: tuple[int, int, float] = (148, 508, -37.209)
# The store path (pandas) over the monthly sweep.
FRAME: Fingerprint = {
    "contacts_30d": (148.0, 1030733.0, 105),
    "unresolved_30d": (74.0, 569478.0, 55),
    "complaints_30d": (73.0, 559326.0, 56),
    "refund_intents_30d": (11.0, 59594.0, 11),
    "cancel_intents_30d": (3.0, 35256.0, 3),
    "pause_intents_30d": (1.0, 10080.0, 1),
    "praise_30d": (51.0, 283640.0, 46),
    "negative_messages_30d": (117.0, 854187.0, 71),
    "negative_share_30d": (48.23888888888889, 386951.7055555555, 71),
    "handoffs_30d": (26.0, 202564.0, 24),
    "resolution_hours_30d": (0.9656944444444444, 4633.842638888889, 69),
    "rating_mean_30d": (154.75, 1036603.5, 57),
    "low_ratings_30d": (31.0, 149968.0, 28),
    "contacts_90d": (391.0, 2714302.0, 226),
    "unresolved_90d": (213.0, 1554777.0, 142),
    "complaints_90d": (200.0, 1481743.0, 138),
    "refund_intents_90d": (29.0, 150551.0, 27),
    "cancel_intents_90d": (9.0, 96768.0, 8),
    "pause_intents_90d": (3.0, 27240.0, 3),
    "praise_90d": (126.0, 732624.0, 100),
    "negative_messages_90d": (321.0, 2246715.0, 170),
    "negative_share_90d": (111.29166666666666, 869780.5333333333, 170),
    "handoffs_90d": (72.0, 536353.0, 65),
    "resolution_hours_90d": (1.8125, 9809.700833333332, 151),
    "rating_mean_90d": (357.75, 2518180.8333333335, 134),
    "low_ratings_90d": (82.0, 370144.0, 68),
    "order_status_7d": (8.0, 40435.0, 7),
}
# The live-risk path (plain Python), every customer at its own cutoff.
BATCH: Fingerprint = {
    "contacts_30d": (148.0, 1019733.0, 105),
    "unresolved_30d": (77.0, 590655.0, 58),
    "complaints_30d": (73.0, 552326.0, 56),
    "refund_intents_30d": (11.0, 58594.0, 11),
    "cancel_intents_30d": (3.0, 35256.0, 3),
    "pause_intents_30d": (1.0, 10080.0, 1),
    "praise_30d": (51.0, 280640.0, 44),
    "negative_messages_30d": (117.0, 843187.0, 72),
    "negative_share_30d": (49.08888888888889, 383756.10555555555, 72),
    "handoffs_30d": (26.0, 201564.0, 25),
    "resolution_hours_30d": (0.9319444444444445, 4367.116944444444, 67),
    "rating_mean_30d": (151.58333333333334, 1013392.5, 56),
    "low_ratings_30d": (31.0, 146968.0, 28),
    "contacts_90d": (386.0, 2687934.0, 224),
    "unresolved_90d": (212.0, 1562681.0, 141),
    "complaints_90d": (197.0, 1464542.0, 137),
    "refund_intents_90d": (28.0, 148479.0, 26),
    "cancel_intents_90d": (9.0, 96768.0, 8),
    "pause_intents_90d": (3.0, 27240.0, 3),
    "praise_90d": (125.0, 724525.0, 98),
    "negative_messages_90d": (316.0, 2220354.0, 170),
    "negative_share_90d": (111.60833333333335, 882632.2666666667, 170),
    "handoffs_90d": (71.0, 534254.0, 65),
    "resolution_hours_90d": (1.7573611111111112, 9510.38763888889, 148),
    "rating_mean_90d": (342.75, 2410085.8333333335, 129),
    "low_ratings_90d": (80.0, 363957.0, 66),
    "order_status_7d": (8.0, 42393.0, 7),
}
# One customer at a time (plain Python), first three sweep cutoffs.
SINGLE: Fingerprint = {
    "contacts_30d": (49.0, 47867.0, 37),
    "unresolved_30d": (20.0, 26236.0, 15),
    "complaints_30d": (21.0, 24423.0, 18),
    "refund_intents_30d": (5.0, 6207.0, 5),
    "praise_30d": (23.0, 20138.0, 20),
    "negative_messages_30d": (34.0, 40146.0, 20),
    "negative_share_30d": (12.649999999999999, 16238.8, 20),
    "handoffs_30d": (10.0, 14559.0, 8),
    "resolution_hours_30d": (0.5129166666666667, 333.0375, 26),
    "rating_mean_30d": (65.0, 68640.0, 23),
    "low_ratings_30d": (12.0, 13826.0, 11),
    "contacts_90d": (128.0, 117786.0, 68),
    "unresolved_90d": (67.0, 70969.0, 37),
    "complaints_90d": (60.0, 58972.0, 38),
    "refund_intents_90d": (15.0, 14632.0, 13),
    "praise_90d": (53.0, 43718.0, 36),
    "negative_messages_90d": (104.0, 105485.0, 43),
    "negative_share_90d": (28.71666666666667, 29279.4, 43),
    "handoffs_90d": (27.0, 25471.0, 22),
    "resolution_hours_90d": (0.8283333333333333, 523.4059722222222, 50),
    "rating_mean_90d": (129.5, 103543.83333333333, 50),
    "low_ratings_90d": (35.0, 35339.0, 27),
    "order_status_7d": (3.0, 1239.0, 3),
}
# The brain's call (pandas, frames without ratings, 90-day window), every customer.
BRAIN: Fingerprint = {
    "contacts_90d": (391.0, 2714302.0, 226),
    "unresolved_90d": (213.0, 1554777.0, 142),
    "complaints_90d": (200.0, 1481743.0, 138),
    "refund_intents_90d": (29.0, 150551.0, 27),
    "cancel_intents_90d": (9.0, 96768.0, 8),
    "pause_intents_90d": (3.0, 27240.0, 3),
    "praise_90d": (126.0, 732624.0, 100),
    "negative_messages_90d": (321.0, 2246715.0, 170),
    "negative_share_90d": (111.29166666666666, 869780.5333333333, 170),
    "handoffs_90d": (72.0, 536353.0, 65),
    "resolution_hours_90d": (1.8124999999999998, 9809.700833333332, 151),
    "order_status_7d": (8.0, 40435.0, 7),
}
# The edge cases, store path (pandas): customer id -> non-zero features.
EDGE_FRAME: dict[int, dict[str, float]] = {
    1: {
        "contacts_30d": 3.0,
        "unresolved_30d": 2.0,
        "complaints_30d": 1.0,
        "problems_30d": 1.0,
        "praise_30d": 1.0,
        "negative_messages_30d": 2.0,
        "negative_share_30d": 0.5,
        "fallbacks_30d": 2.0,
        "handoffs_30d": 1.0,
        "resolution_hours_30d": 0.5,
        "rating_mean_30d": 3.0,
        "low_ratings_30d": 1.0,
        "contacts_90d": 3.0,
        "unresolved_90d": 2.0,
        "complaints_90d": 1.0,
        "problems_90d": 1.0,
        "praise_90d": 1.0,
        "negative_messages_90d": 2.0,
        "negative_share_90d": 0.5,
        "fallbacks_90d": 2.0,
        "handoffs_90d": 1.0,
        "resolution_hours_90d": 0.5,
        "rating_mean_90d": 3.0,
        "low_ratings_90d": 1.0,
    },
    2: {
        "contacts_30d": 4.0,
        "unresolved_30d": 1.0,
        "cancel_intents_30d": 1.0,
        "pause_intents_30d": 1.0,
        "praise_30d": 2.0,
        "negative_messages_30d": 2.0,
        "negative_share_30d": 0.4,
        "rating_mean_30d": 3.0,
        "low_ratings_30d": 1.0,
        "contacts_90d": 4.0,
        "unresolved_90d": 1.0,
        "cancel_intents_90d": 1.0,
        "pause_intents_90d": 1.0,
        "praise_90d": 2.0,
        "negative_messages_90d": 2.0,
        "negative_share_90d": 0.4,
        "rating_mean_90d": 3.0,
        "low_ratings_90d": 1.0,
        "order_status_7d": 1.0,
    },
    3: {
        "contacts_30d": 1.0,
        "unresolved_30d": 1.0,
        "complaints_30d": 2.0,
        "negative_messages_30d": 2.0,
        "negative_share_30d": 1.0,
        "rating_mean_30d": 1.0,
        "low_ratings_30d": 1.0,
        "contacts_90d": 4.0,
        "unresolved_90d": 4.0,
        "complaints_90d": 3.0,
        "refund_intents_90d": 3.0,
        "praise_90d": 1.0,
        "negative_messages_90d": 6.0,
        "negative_share_90d": 0.8571428571428571,
        "handoffs_90d": 2.0,
        "rating_mean_90d": 1.0,
        "low_ratings_90d": 1.0,
    },
}

# Where the old plain-Python path (live risk) disagreed with the pandas path on the edge cases:
# customer id -> feature -> its value there. Customer 1's complaint conversation ends with a
# user message without an intent: pandas took the last user message *with* an intent (the
# complaint: unresolved), plain Python the last user message (no intent: resolved).
OLD_ROW_PATH_DIFFERENCES: dict[int, dict[str, float]] = {
    1: {
        "resolution_hours_30d": 0.3,
        "resolution_hours_90d": 0.3,
        "unresolved_30d": 1.0,
        "unresolved_90d": 1.0,
    }
}
