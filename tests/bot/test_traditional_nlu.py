"""The trained model reads Traditional Chinese like its Simplified twin.

A sample of Chinese messages (training examples and held-out benchmark questions) is parsed
as written and converted to Traditional (``tests/bot/traditional_nlu.py``, which measures
the full sets): the intents and entities must agree. Needs a trained model (``make train``).
"""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("opencc")

from tests.bot.traditional_nlu import (  # noqa: E402
    compare,
    held_out_examples,
    load_agent,
    newest_model,
    training_examples,
    twins,
)

pytestmark = pytest.mark.rasa_env

SAMPLE = 120


def test_traditional_twins_get_the_same_intent_and_entities() -> None:
    agent = load_agent(newest_model())
    for texts in (training_examples(), held_out_examples()):
        pairs = twins(texts)
        assert len(pairs) >= 100
        result = asyncio.run(compare(agent, pairs[:: max(1, len(pairs) // SAMPLE)]))
        assert result.same_intent >= 0.97 * result.pairs, result.report("sample")
        assert result.same_entities == result.pairs, result.report("sample")
