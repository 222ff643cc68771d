"""The action server and the Rasa domain agree on names.

Every action in the domain is served, every response an action sends exists in
both languages, and every response is used by a rule, a story or an action.
"""

from __future__ import annotations

import re
from pathlib import Path

from rasa_sdk.executor import ActionExecutor
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[2]
SAID = re.compile(r"""["'](utter_\w+)["']""")
UTTER_IN_DATA = re.compile(r"action:\s*(utter_\w+)")


def load_domain() -> dict:
    domain: dict = {"actions": [], "responses": {}}
    for path in sorted((REPO / "bot" / "domain").glob("*.yml")):
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}
        domain["actions"] += data.get("actions", [])
        domain["responses"].update(data.get("responses", {}))
    return domain


#: Besides the actions, the console sends a few responses: a founder's decision on a
#: request, worded by the bot's domain (web/console/queries/requests.py).
CONSOLE_SENDERS = (REPO / "web" / "console" / "queries" / "requests.py",)


def responses_said_by_actions() -> set[str]:
    said: set[str] = set()
    for path in [*(REPO / "actions").glob("*.py"), *CONSOLE_SENDERS]:
        said |= set(SAID.findall(path.read_text(encoding="utf-8")))
    return said


def test_every_domain_action_is_served() -> None:
    executor = ActionExecutor()
    executor.register_package("actions")
    served = (
        set(executor.list_actions_names())
        if hasattr(executor, "list_actions_names")
        else {a.name for a in executor.list_actions()}
    )
    assert set(load_domain()["actions"]) <= served


def test_responses_sent_by_actions_exist_in_both_languages() -> None:
    responses = load_domain()["responses"]
    said = responses_said_by_actions()
    assert said, "the pattern found no responses: the test is broken"
    missing = sorted(said - set(responses))
    assert not missing, f"actions send responses the domain lacks: {missing}"
    for name in said | set(responses):
        variations = responses[name]
        english = [
            v
            for v in variations
            if v.get("condition") == [{"type": "slot", "name": "language", "value": "en"}]
        ]
        default = [v for v in variations if not v.get("condition")]
        assert english and default, f"{name} needs an English variation and a Chinese default"
        assert not re.search(r"[\u4e00-\u9fff]", english[0]["text"]), (
            f"{name}: Chinese in English text"
        )
        assert re.search(r"[\u4e00-\u9fff]", default[0]["text"]), f"{name}: default is not Chinese"
        assert set(re.findall(r"{(\w+)}", english[0]["text"])) == set(
            re.findall(r"{(\w+)}", default[0]["text"])
        ), f"{name}: the two languages use different placeholders"


def test_every_response_is_used() -> None:
    used = responses_said_by_actions()
    for path in (REPO / "bot" / "data").rglob("*.yml"):
        used |= set(UTTER_IN_DATA.findall(path.read_text(encoding="utf-8")))
    policy = (REPO / "bot" / "policies" / "action_failure.py").read_text(encoding="utf-8")
    used |= set(re.findall(r'"(utter_\w+)"', policy))
    unused = sorted(set(load_domain()["responses"]) - used)
    assert not unused, f"responses nobody sends: {unused}"
