"""The bot's domain as the action server receives it, and rendering replies against it.

Rasa sends its domain with every action call; the actions render the pieces of a reply
(``utter_phrase_*``) from it. The tests load the same files (``bot/domain/*.yml``) and
render what an action sent the way Rasa would, to read what the customer reads.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from actions.phrases import render_response

REPO = Path(__file__).resolve().parents[2]
DOMAIN_DIR = REPO / "bot" / "domain"
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
#: an English word: Latin letters with a lower-case one (codes such as WELCOME10, EMS or
#: LB123456 may appear in Chinese text).
ENGLISH_WORD = re.compile(r"[A-Za-z]*[a-z][A-Za-z]*")
#: what Rasa adds next to the text of a message an action sent (not a template variable).
MESSAGE_KEYS = frozenset(
    {"response", "text", "buttons", "image", "elements", "attachment", "custom", "json_message"}
)


def load_domain() -> dict[str, Any]:
    """The merged domain files: their actions and responses."""
    domain: dict[str, Any] = {"actions": [], "responses": {}}
    for path in sorted(DOMAIN_DIR.glob("*.yml")):
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}
        domain["actions"] += data.get("actions", [])
        domain["responses"].update(data.get("responses", {}))
    return domain


DOMAIN = load_domain()


def rendered(message: dict[str, Any], language: str) -> str:
    """What the customer reads for a message an action sent (its response, filled)."""
    values = {k: v for k, v in message.items() if k not in MESSAGE_KEYS and v is not None}
    return render_response(DOMAIN["responses"], message["response"], language, **values)


def english_words(text: str) -> list[str]:
    """The English words in a text."""
    return ENGLISH_WORD.findall(text)
