"""Deterministic generator of the demo shop "Leaf & Bean / 叶与豆".

Customers follow latent types with their own purchase and churn process
(:mod:`analytics.demo.profiles`):

* ``loyal``: frequent regulars, many subscribe to a monthly box, low churn hazard.
* ``lapsing``: buy for a while, gaps grow and the churn hazard rises until they stop.
* ``complainer``: many late deliveries and refunds; each bad experience raises churn.
* ``bargain``: one-time (sometimes two-time) discount buyers.
* ``new``: signed up in the last six weeks.

Churn is a real latent process: after every order the customer may stop buying (and
cancel any subscription) with a type-dependent hazard that grows with bad experiences
(late delivery, refund). The latent type and churn time are returned with the data, not
stored in the database, so churn models can be evaluated against the truth.

Customers who are about to leave often say so first, as in real life: about half of the
churners have one to three "wobble" chats 10-75 days before they stop (asking for discounts
or cheaper options, complaining about price or quality, asking to pause or cancel, asking
again and again where their order is, low ratings, negative sentiment), themed by their
latent reason for leaving. Customers who stay have the same kind of chats at a lower rate
(about 7% per 90 days of active life), so chat behaviour is a signal of churn, not a leak.
These chats are not tied to late orders or refunds, which the store features already carry.

All randomness comes from the seed (one independent stream per customer) and all times
are offsets from the reference date, so the same seed and reference date always yield
identical rows. The four demo customers of ``analytics.demo.customers`` are scripted.

The parts, by what they generate:

* :mod:`analytics.demo.profiles`: latent types, taste clusters, shared constants.
* :mod:`analytics.demo.drafts`: in-memory rows and the random stream (``Sim``).
* :mod:`analytics.demo.people`: random customers (names, places, acquisition).
* :mod:`analytics.demo.scripted`: the four demo customers.
* :mod:`analytics.demo.lifecycle`: purchase, subscription and churn process.
* :mod:`analytics.demo.orders`, :mod:`analytics.demo.subscriptions`,
  :mod:`analytics.demo.refunds`: orders and shipping, boxes and their events, refunds.
* :mod:`analytics.demo.conversations`, :mod:`analytics.demo.wobble`: support chats.
* :mod:`analytics.demo.tables`: drafts to table rows (:class:`ShopData`).
* :mod:`analytics.demo.writer`: bulk insert, count and clear a store.

This module ties them together: :func:`generate_shop` (in memory) and
:func:`seed_database` (migrate and fill a store).
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from tqdm import tqdm

from analytics.demo import customers as demo
from analytics.demo.conversations import add_history_conversations
from analytics.demo.drafts import Sim
from analytics.demo.lifecycle import simulate
from analytics.demo.orders import number_orders
from analytics.demo.people import random_customer
from analytics.demo.profiles import (
    DEFAULT_CUSTOMERS,
    DEFAULT_SEED,
    DEMO_RANDOM_STREAM,
    PROFILES,
    TYPE_LOYAL,
    default_reference_date,
)
from analytics.demo.scripted import demo_customers
from analytics.demo.tables import ShopData, to_shop_data
from analytics.demo.wobble import wobble_conversations
from analytics.demo.writer import clear_store, count_rows, write_shop
from analytics.store.catalogue import load_catalogue
from analytics.store.models import Customer

__all__ = [
    "DEFAULT_CUSTOMERS",
    "DEFAULT_SEED",
    "SeedResult",
    "ShopData",
    "generate_shop",
    "seed_database",
    "write_shop",
]

logger = logging.getLogger(__name__)

MAX_CUSTOMERS = 9999
"""External ids are ``cus_0001`` .. ``cus_9999``."""


@dataclass(frozen=True)
class SeedResult:
    """Outcome of :func:`seed_database`.

    Attributes:
        seeded: Whether rows were written (``False`` if the store was already seeded).
        counts: Rows per table in the database afterwards.
        seconds: Wall time of generation plus writing.
    """

    seeded: bool
    counts: dict[str, int]
    seconds: float


def _assign_types(n_random: int, rng: random.Random) -> list[str]:
    """Deterministic type quotas (shares of ``PROFILES``), shuffled."""
    types: list[str] = []
    for name, profile in PROFILES.items():
        types += [name] * round(profile.share * n_random)
    while len(types) < n_random:
        types.append(TYPE_LOYAL)
    types = types[:n_random]
    rng.shuffle(types)
    return types


def generate_shop(
    n_customers: int = DEFAULT_CUSTOMERS,
    *,
    seed: int = DEFAULT_SEED,
    reference: datetime | None = None,
    progress: bool = False,
) -> ShopData:
    """Generate the demo shop in memory.

    Args:
        n_customers: Total number of customers, including the four demo customers.
        seed: Random seed.
        reference: End of the history (timezone-aware); defaults to today 00:00 UTC.
        progress: Show a tqdm progress bar.

    Returns:
        The rows of every table with ids assigned.

    Raises:
        ValueError: If ``n_customers`` is below 4 or above 9999, or ``reference`` is naive.
    """
    if n_customers < len(demo.DEMO_IDS):
        raise ValueError(f"need at least {len(demo.DEMO_IDS)} customers (the demo customers)")
    if n_customers > MAX_CUSTOMERS:
        raise ValueError("at most 9999 customers (external ids are cus_0001..cus_9999)")
    reference = reference or default_reference_date()
    if reference.tzinfo is None:
        raise ValueError("reference must be timezone-aware")
    reference = reference.astimezone(UTC)
    catalogue = load_catalogue()
    by_sku = {row.sku: row for row in catalogue}

    demo_sim = Sim(random.Random(DEMO_RANDOM_STREAM), reference, by_sku)
    drafts = demo_customers(demo_sim, reference)
    n_random = n_customers - len(drafts)
    types = _assign_types(n_random, random.Random(f"{seed}:types"))
    for ctype in tqdm(types, desc="customers", unit="cust", disable=not progress, leave=False):
        index = len(drafts) + 1
        sim = Sim(random.Random(f"{seed}:{index}"), reference, by_sku)
        draft, language = random_customer(sim, index, ctype, reference)
        simulate(sim, draft, PROFILES[ctype], language)
        drafts.append(draft)
    number_orders(drafts)
    for draft in drafts[len(demo.DEMO_IDS) :]:
        sim = Sim(random.Random(f"{seed}:{draft.index}:conv"), reference, by_sku)
        add_history_conversations(sim, draft, PROFILES[draft.ctype], draft.row["language"])
        mood = Sim(random.Random(f"{seed}:{draft.index}:mood"), reference, by_sku)
        wobble_conversations(mood, draft, draft.row["language"])
    return to_shop_data(seed, reference, catalogue, drafts)


def seed_database(
    url: str,
    *,
    n_customers: int = DEFAULT_CUSTOMERS,
    seed: int = DEFAULT_SEED,
    reference: datetime | None = None,
    reset: bool = False,
    progress: bool = False,
) -> SeedResult:
    """Migrate the store at ``url`` and fill it with the demo shop.

    Args:
        url: SQLAlchemy URL of the store.
        n_customers: Total customers, including the four demo customers.
        seed: Random seed.
        reference: End of the history; defaults to today 00:00 UTC.
        reset: Delete existing rows first; without it a non-empty store is left alone.
        progress: Show tqdm progress bars.

    Returns:
        What happened, with row counts.
    """
    from analytics.store.db import make_engine, upgrade_to_head

    started = time.perf_counter()
    upgrade_to_head(url)
    engine = make_engine(url)
    try:
        counts = count_rows(engine)
        if counts[Customer.__tablename__] and not reset:
            logger.info("Store already has %d customers", counts[Customer.__tablename__])
            return SeedResult(False, counts, time.perf_counter() - started)
        if any(counts.values()):
            clear_store(engine)
        data = generate_shop(n_customers, seed=seed, reference=reference, progress=progress)
        write_shop(engine, data, progress=progress)
        counts = count_rows(engine)
    finally:
        engine.dispose()
    seconds = time.perf_counter() - started
    logger.info("Seeded %s in %.1f s", counts, seconds)
    return SeedResult(True, counts, seconds)
