"""Shared fixtures for the NLU component tests (Rasa environment)."""

from __future__ import annotations

from pathlib import Path

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.storage import ModelStorage


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
