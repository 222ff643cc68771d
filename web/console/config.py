"""The console's paths (where Teach and retraining read and write), from the settings.

The ``CONSOLE_*_DIR`` and ``CONSOLE_RASA_BIN`` settings exist so that tests write into
temporary copies, never into the repository's own ``nlu_data/`` or ``tests/conversations/``.
Nothing is read from the environment here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from analytics.core.settings import REPO_ROOT, Settings, SettingsView


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


def console_view(settings: Settings) -> ConsoleConfig:
    """The console's paths."""
    return ConsoleConfig(
        repo_root=REPO_ROOT,
        nlu_dir=settings.console_nlu_dir,
        test_conversations_dir=settings.console_test_conversations_dir,
        domain_dir=settings.console_domain_dir,
        models_dir=settings.console_models_dir,
        work_dir=settings.console_work_dir,
        rasa_bin=settings.console_rasa_bin,
    )


#: ``get_config()`` returns the console's paths (rebuilt with the settings).
get_config = SettingsView(console_view)
