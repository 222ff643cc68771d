"""The console's Teach rules agree with the bot's own training data."""

from __future__ import annotations

from pathlib import Path

from ruamel.yaml import YAML

from web.console.teach import ANNOTATION_RE, ORDER_ID_INTENTS

NLU_DIR = Path(__file__).resolve().parents[2] / "nlu_data"


def _intents_with_order_ids() -> set[str]:
    found: set[str] = set()
    for path in sorted(NLU_DIR.glob("*/*.yml")):
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}
        for block in data.get("nlu") or []:
            if "intent" not in block:
                continue
            for match in ANNOTATION_RE.finditer(str(block.get("examples") or "")):
                if match.group("entity") == "order_id":
                    found.add(block["intent"])
    return found


def test_every_intent_annotated_with_order_ids_may_be_taught_one() -> None:
    """A correction to an intent whose examples carry order numbers is not refused."""
    annotated = _intents_with_order_ids()
    assert "order_status" in annotated
    assert annotated <= ORDER_ID_INTENTS, sorted(annotated - ORDER_ID_INTENTS)
