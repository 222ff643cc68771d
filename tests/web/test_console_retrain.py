"""Which model file the console's retraining writes (the full model after the quality gate).

For the repository's own ``nlu_data/`` it is the file ``make train`` writes (``leafbean
model-path``), so ``make run`` sees it as up to date; for another NLU folder (a test's copy)
a name hashed from that folder, in the console's models folder.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from analytics.core.settings import REPO_ROOT
from analytics.loop import rasa_model
from web.console.config import ConsoleConfig
from web.console.retrain import Retrainer


def _config(nlu_dir: Path, models_dir: Path) -> ConsoleConfig:
    return ConsoleConfig(
        repo_root=REPO_ROOT,
        nlu_dir=nlu_dir,
        test_conversations_dir=REPO_ROOT / "tests" / "conversations",
        domain_dir=REPO_ROOT / "bot" / "domain",
        models_dir=models_dir,
        work_dir=models_dir / "work",
        rasa_bin=rasa_model.DEFAULT_RASA_BIN,
    )


def test_the_repositorys_nlu_data_gives_the_model_make_train_writes(tmp_path: Path) -> None:
    config = _config((REPO_ROOT / rasa_model.NLU_DATA).resolve(), tmp_path / "console-models")
    printed = subprocess.run(
        [sys.executable, "-m", "analytics", "model-path"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    model = Retrainer()._model_path(config)
    assert model == (REPO_ROOT / printed).resolve() == rasa_model.model_path(REPO_ROOT)
    assert model.parent == rasa_model.DEFAULT_MODELS_DIR


def test_a_copy_of_the_nlu_data_gets_its_own_model_name(tmp_path: Path) -> None:
    nlu = tmp_path / "nlu_data"
    shutil.copytree(REPO_ROOT / rasa_model.NLU_DATA, nlu)
    config = _config(nlu, tmp_path / "models")
    first = Retrainer()._model_path(config)
    assert first.parent == tmp_path / "models"
    assert first.name.startswith("leafbean-console-") and first.name.endswith(".tar.gz")
    assert len(first.name) == len("leafbean-console-") + 12 + len(".tar.gz")
    assert Retrainer()._model_path(replace(config)) == first  # same files, same name
    corrections = nlu / "en" / "corrections.yml"
    corrections.parent.mkdir(exist_ok=True)
    corrections.write_text('version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - hiya\n')
    assert Retrainer()._model_path(config) != first
