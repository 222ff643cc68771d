"""The Rasa model's file name (a hash of what it is trained from) and retraining."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from analytics.cli import main
from analytics.core.settings import REPO_ROOT
from analytics.loop.nlu_export import LOOKUP_PATH, USERDICT_PATH
from analytics.loop.rasa_model import (
    DEFAULT_MODELS_DIR,
    KEEP_MODELS,
    MODEL_PREFIX,
    MODEL_SUFFIX,
    RasaNotFoundError,
    model_inputs,
    model_path,
    prune_models,
    retrain,
    shown,
    train_command,
)

LEAFBEAN = Path(sys.executable).parent / "leafbean"
MAKE_TIMEOUT_S = 120


def copy_inputs(root: Path) -> Path:
    """A copy of the model's inputs (and nothing else) under ``root``; returns ``root``."""
    for path in model_inputs(REPO_ROOT):
        target = root / path.relative_to(REPO_ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    return root


def make(*args: str) -> str:
    """Runs make in the repository root; returns its standard output, stripped."""
    return subprocess.run(
        ["make", "-s", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=MAKE_TIMEOUT_S,
    ).stdout.strip()


def test_leafbean_model_path_is_the_makefiles_model() -> None:
    expected = shown(model_path())
    assert expected == Path("models") / expected.name
    assert expected.name.startswith(MODEL_PREFIX) and expected.name.endswith(MODEL_SUFFIX)
    assert make("model-path") == str(expected)
    # MODEL, as the recipes expand it (make run, make test-rasa, make test-main).
    assert make("--eval", "print-model: ; @echo $(MODEL)", "print-model") == str(expected)
    assert LEAFBEAN.is_file(), "make install puts the leafbean command in .venv/bin"
    printed = subprocess.run(
        [str(LEAFBEAN), "model-path"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert printed == str(expected)


def test_inputs_are_config_then_bot_and_nlu_files_in_order() -> None:
    inputs = model_inputs()
    relative = [path.relative_to(REPO_ROOT).as_posix() for path in inputs]
    assert relative[0] == "config.yml"
    assert relative[1:] == sorted(relative[1:])
    assert {name.split("/")[0] for name in relative[1:]} == {"bot", "nlu_data"}
    assert LOOKUP_PATH.as_posix() in relative and USERDICT_PATH.as_posix() in relative
    assert all(Path(name).suffix in {".yml", ".py", ".txt"} for name in relative)
    assert not any("__pycache__" in name for name in relative)
    # The doors, the response generator and the start-up wrapper are not trained into it.
    assert not any(
        name.startswith(("bot/channels/", "bot/nlg.py", "bot/serve.py")) for name in relative
    )
    assert "bot/nlu/classifier.py" in relative and "bot/domain/core.yml" in relative


@pytest.mark.parametrize(
    "changed",
    ["config.yml", "bot/domain/core.yml", "bot/nlu/tokenizer.py", "nlu_data/zh/orders.yml"],
)
def test_a_changed_input_changes_the_name(tmp_path: Path, changed: str) -> None:
    root = copy_inputs(tmp_path / "repo")
    models = tmp_path / "models"
    before = model_path(root, models)
    assert before == model_path(REPO_ROOT, models), "same files, same name"
    assert before.parent == models
    with (root / changed).open("a", encoding="utf-8") as handle:
        handle.write("\n# changed\n")
    assert model_path(root, models) != before


def test_new_inputs_count_and_other_files_do_not(tmp_path: Path) -> None:
    root = copy_inputs(tmp_path / "repo")
    before = model_path(root)
    (root / "bot" / "README.md").write_text("not an input\n", encoding="utf-8")
    (root / "bot" / "__pycache__").mkdir()
    (root / "bot" / "__pycache__" / "cached.py").write_text("x = 1\n", encoding="utf-8")
    (root / "docs").mkdir()
    (root / "docs" / "notes.yml").write_text("a: 1\n", encoding="utf-8")
    assert model_path(root) == before, "other suffixes, caches and folders are not inputs"
    (root / "nlu_data" / "en" / "new.yml").write_text("version: '3.1'\n", encoding="utf-8")
    added = model_path(root)
    assert added != before, "a new NLU file changes the name"
    (root / "bot" / "channels").mkdir()
    (root / "bot" / "channels" / "door.py").write_text("x = 1\n", encoding="utf-8")
    assert model_path(root) == added, "the doors are not trained into the model"
    (root / "bot" / "nlu" / "extra.py").write_text("x = 1\n", encoding="utf-8")
    component = model_path(root)
    assert component not in {before, added}, "a custom NLU component is"
    (root / "bot" / "requirements.txt").write_text("rasa==3.6.22\n", encoding="utf-8")
    assert model_path(root) not in {before, added, component}, "so are the Rasa pins"


def test_train_command_names_the_model_and_its_folder(tmp_path: Path) -> None:
    model = tmp_path / "models" / f"{MODEL_PREFIX}abc{MODEL_SUFFIX}"
    command = train_command(model, Path("/opt/rasa"))
    assert command[:2] == ["/opt/rasa", "train"]
    assert command[command.index("--out") + 1] == str(tmp_path / "models")
    assert command[command.index("--fixed-model-name") + 1] == f"{MODEL_PREFIX}abc"
    assert command[command.index("--data") + 1 :][:2] == ["bot/data", "nlu_data"]


def test_prune_keeps_the_newest(tmp_path: Path) -> None:
    paths = []
    for age in range(KEEP_MODELS + 2):
        path = tmp_path / f"{MODEL_PREFIX}{age:012d}{MODEL_SUFFIX}"
        path.write_bytes(b"model")
        os.utime(path, (1_000_000 - age, 1_000_000 - age))
        paths.append(path)
    other = tmp_path / "other.tar.gz"
    other.write_bytes(b"not ours")
    prune_models(tmp_path)
    assert sorted(tmp_path.iterdir()) == sorted([*paths[:KEEP_MODELS], other])


def test_retrain_exports_first_then_finds_the_model_up_to_date(tmp_path: Path) -> None:
    root = copy_inputs(tmp_path / "repo")
    models = tmp_path / "models"
    (root / LOOKUP_PATH).write_text("stale\n", encoding="utf-8")
    store = f"sqlite:///{tmp_path / 'empty.db'}"  # no products: the catalogue CSV is used
    lines: list[str] = []
    with pytest.raises(RasaNotFoundError):
        retrain(store, models=models, rasa=tmp_path / "no-rasa", root=root, echo=lines.append)
    assert lines == [f"wrote {root / LOOKUP_PATH}", f"wrote {root / USERDICT_PATH}"]
    assert (root / LOOKUP_PATH).read_bytes() == (REPO_ROOT / LOOKUP_PATH).read_bytes()

    model = model_path(root, models)  # the exported lookups are inputs
    models.mkdir()
    model.write_bytes(b"trained")
    lines.clear()
    code = retrain(store, export=False, models=models, rasa=tmp_path / "no-rasa", root=root)
    assert code == 0
    code = retrain(
        store, export=False, models=models, rasa=tmp_path / "no", root=root, echo=lines.append
    )
    assert (code, lines) == (0, [f"Model {model} is up to date"])
    with pytest.raises(RasaNotFoundError, match="make install"):
        retrain(store, export=False, force=True, models=models, rasa=tmp_path / "no", root=root)


def test_leafbean_retrain_without_rasa(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    models = tmp_path / "models"
    models.mkdir()
    current = model_path(REPO_ROOT, models)
    assert main(["retrain", "--no-export", "--models", str(models), "--rasa", "/no/rasa"]) == 2
    assert "/no/rasa not found (run `make install`)" in capsys.readouterr().err
    current.write_bytes(b"trained")
    assert main(["retrain", "--no-export", "--models", str(models)]) == 0
    assert f"Model {current} is up to date" in capsys.readouterr().out
    assert main(["model-path", "--models", str(models)]) == 0
    assert capsys.readouterr().out.strip() == str(current)
    assert DEFAULT_MODELS_DIR == REPO_ROOT / "models"
