"""Console-only settings (paths the console writes to, Rasa training), from the environment.

The shared settings (database, secrets, Rasa URL) come from :mod:`web.settings`. The
paths here are configurable so that tests write into temporary copies, never into the
repository's own ``nlu_data/`` or ``tests/conversations/``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from analytics.core.settings import REPO_ROOT

ENV_NLU_DIR = "CONSOLE_NLU_DIR"
ENV_TEST_CONVERSATIONS_DIR = "CONSOLE_TEST_CONVERSATIONS_DIR"
ENV_DOMAIN_DIR = "CONSOLE_DOMAIN_DIR"
ENV_MODELS_DIR = "CONSOLE_MODELS_DIR"
ENV_WORK_DIR = "CONSOLE_WORK_DIR"
ENV_RASA_BIN = "CONSOLE_RASA_BIN"


@dataclass(frozen=True)
class ConsoleConfig:
    """Where the console reads and writes files.

    Attributes:
        repo_root: The repository (working directory of training).
        nlu_dir: NLU training data; corrections go to ``<nlu_dir>/<lang>/corrections.yml``.
        test_conversations_dir: Where "save as test conversation" writes.
        domain_dir: The bot's domain (the list of intents).
        models_dir: Trained Rasa models.
        work_dir: Scratch space of retraining jobs.
        rasa_bin: The ``rasa`` executable of the Rasa environment.
    """

    repo_root: Path
    nlu_dir: Path
    test_conversations_dir: Path
    domain_dir: Path
    models_dir: Path
    work_dir: Path
    rasa_bin: Path


def _path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).resolve() if value else default


def get_config() -> ConsoleConfig:
    """Reads the console's configuration (cheap; read on every use so tests can change it)."""
    return ConsoleConfig(
        repo_root=REPO_ROOT,
        nlu_dir=_path(ENV_NLU_DIR, REPO_ROOT / "nlu_data"),
        test_conversations_dir=_path(
            ENV_TEST_CONVERSATIONS_DIR, REPO_ROOT / "tests" / "conversations"
        ),
        domain_dir=_path(ENV_DOMAIN_DIR, REPO_ROOT / "bot" / "domain"),
        models_dir=_path(ENV_MODELS_DIR, REPO_ROOT / "models"),
        work_dir=_path(ENV_WORK_DIR, REPO_ROOT / "var" / "console"),
        rasa_bin=_path(ENV_RASA_BIN, REPO_ROOT / ".venv-rasa" / "bin" / "rasa"),
    )
