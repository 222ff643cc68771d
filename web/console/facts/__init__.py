"""Summaries the console keeps beside the store so that lists stay fast at volume.

Three tables, all derived from the store (never the source of truth), one module each by
what it precomputes:

* :mod:`~web.console.facts.customers`: ``console_customer_facts``, per customer, spend and
  orders, and segment, churn risk and lifetime value, copied from the brain's
  ``customer_scores`` (:mod:`~web.console.facts.scores`) when that table exists, else
  estimated from orders.
* :mod:`~web.console.facts.conversations`: ``console_conversation_facts`` (per
  conversation: fallback, preview, searchable text, message count) and
  ``console_conversation_intents`` (for the intent filter), plus the full-text index
  (:mod:`~web.console.facts.search`).
* :mod:`~web.console.facts.sort_key`: the inbox's sort key ``risk_cents`` (customer value x
  churn risk x "unresolved" weight) in the conversation facts.

:mod:`~web.console.facts.sync` keeps them current: :data:`FACTS` is called by the pages
(cheap, throttled; a large backlog goes to a background thread) and :func:`refresh` by batch
jobs. The names below are the package's public surface.
"""

from __future__ import annotations

from web.console.facts.common import is_sqlite
from web.console.facts.customers import estimate, recency_risk, refresh_customer_facts
from web.console.facts.scores import SCORES, ScoresTable, load_json, scores_for, scores_table
from web.console.facts.search import FTS_TABLE, FTS_VOCAB, ensure_search
from web.console.facts.sort_key import update_risk
from web.console.facts.sync import FACTS, FactsSync, Progress, refresh

__all__ = [
    "FACTS",
    "FTS_TABLE",
    "FTS_VOCAB",
    "SCORES",
    "FactsSync",
    "Progress",
    "ScoresTable",
    "ensure_search",
    "estimate",
    "is_sqlite",
    "load_json",
    "recency_risk",
    "refresh",
    "refresh_customer_facts",
    "scores_for",
    "scores_table",
    "update_risk",
]
