"""Shared fixtures of the Rasa-environment tests: NLU components and a server with the doors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.storage import ModelStorage

from tests.bot.door_server import DoorServer
from tests.bot.door_server import door_server as start_door_server


@pytest.fixture()
def model_storage(tmp_path: Path) -> ModelStorage:
    """A fresh local model storage in a temporary folder."""
    path = tmp_path / "storage"
    path.mkdir()
    return LocalModelStorage.create(path)


@pytest.fixture()
def execution_context() -> ExecutionContext:
    """A minimal execution context."""
    return ExecutionContext(GraphSchema({}), "test")


@pytest.fixture(scope="session")
def door_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DoorServer]:
    """One real ``rasa run`` with both doors, shared by the REST and widget channel tests."""
    try:
        with start_door_server(tmp_path_factory.mktemp("doors")) as server:
            yield server
    except RuntimeError as error:
        pytest.fail(str(error))
