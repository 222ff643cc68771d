"""End to end: train a tiny model with the repository's pipeline and parse through Rasa.

Checks that ``language`` reaches the ``/model/parse`` response and
``tracker.latest_message`` (what the action server sees).
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

NLU = """
version: "3.1"
nlu:
- intent: greet
  examples: |
    - 你好
    - 在吗
    - hi
    - hello there
    - 您好呀
    - good morning
- intent: order_status
  examples: |
    - 我的订单[LB100234](order_id)到哪了
    - 我的order到哪了
    - where is my order
    - 订单什么时候到
    - track my package
    - 查一下物流
- intent: cancel_subscription
  examples: |
    - cancel 我的订阅
    - 取消订阅
    - I want to cancel my subscription
    - 不想再订了，帮我退订
    - stop my monthly box
    - 退订每月茶礼盒
- lookup: product
  examples: |
    - 西湖龙井
    - West Lake Longjing
"""

RULES = """
version: "3.1"
rules:
- rule: greet
  steps:
  - intent: greet
  - action: utter_greet
- rule: order
  steps:
  - intent: order_status
  - action: utter_order
"""

DOMAIN = """
version: "3.1"
intents: [greet, order_status, cancel_subscription]
entities: [order_id, product]
responses:
  utter_greet:
  - text: hi
  utter_order:
  - text: on its way
"""


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Trains a small NLU + rules model with the pipeline from config.yml."""
    from rasa.model_training import train

    root = tmp_path_factory.mktemp("e2e")
    (root / "data").mkdir()
    (root / "data" / "nlu.yml").write_text(textwrap.dedent(NLU), encoding="utf-8")
    (root / "data" / "rules.yml").write_text(textwrap.dedent(RULES), encoding="utf-8")
    (root / "domain.yml").write_text(textwrap.dedent(DOMAIN), encoding="utf-8")
    repo_config = yaml.safe_load((REPO / "config.yml").read_text(encoding="utf-8"))
    config = {
        "recipe": "default.v1",
        "language": "zh",
        "assistant_id": "test",
        "pipeline": repo_config["pipeline"],
        "policies": [{"name": "RulePolicy"}],
    }
    (root / "config.yml").write_text(yaml.safe_dump(config, allow_unicode=True), "utf-8")
    result = train(
        domain=str(root / "domain.yml"),
        config=str(root / "config.yml"),
        training_files=[str(root / "data")],
        output=str(root / "models"),
    )
    assert result.code == 0 and result.model
    return str(result.model)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _post(url: str, payload: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_model_parse_endpoint_returns_language(model_path: str, tmp_path: Path) -> None:
    port = _free_port()
    log = (tmp_path / "rasa.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "rasa", "run", "--enable-api", "-m", model_path, "-p", str(port)],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, (tmp_path / "rasa.log").read_text()
            try:
                with urllib.request.urlopen(f"{base}/status", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "Rasa server did not start"
            time.sleep(1)
        results = {
            text: _post(f"{base}/model/parse", {"text": text})
            for text in ["我的order到哪了", "我的订单LB100234到哪了", "hello"]
        }
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
    assert results["我的order到哪了"]["language"] == "mixed"
    assert results["我的order到哪了"]["intent"]["name"] == "order_status"
    zh = results["我的订单LB100234到哪了"]
    assert zh["language"] == "zh"
    assert [(e["entity"], e["value"]) for e in zh["entities"]] == [("order_id", "LB100234")]
    assert results["hello"]["language"] == "en"


def test_tracker_latest_message_has_language(model_path: str) -> None:
    from rasa.core.agent import Agent

    async def run() -> dict[str, Any]:
        agent = Agent.load(model_path)
        await agent.handle_text("在吗", sender_id="s1")
        tracker = await agent.tracker_store.retrieve("s1")
        assert tracker is not None
        return tracker.current_state()["latest_message"]

    latest = asyncio.run(run())
    assert latest["language"] == "zh"
    assert latest["intent"]["name"] == "greet"
