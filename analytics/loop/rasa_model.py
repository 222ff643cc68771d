"""The bot's Rasa model: its file name, and retraining it when what it is trained from changes.

The model is trained from ``config.yml``, the domain, stories, custom components and pins
under ``bot/`` (not its doors) and ``nlu_data/``,
among them the NLU lookups exported from the store (:mod:`analytics.loop.nlu_export`). Its
file name carries a hash of those files, ``models/leafbean-<12 hex digits>.tar.gz``
(:func:`model_path`), so the model for the current files exists exactly when it is up to
date. ``leafbean model-path`` prints that name (the Makefile's ``MODEL``) and
``leafbean retrain`` (``make train``) runs :func:`retrain`: export the lookups, then
``rasa train`` of the Rasa environment (``.venv-rasa``, Python 3.10) in a subprocess
unless the model is already there; the main environment never imports Rasa.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from analytics.core.settings import REPO_ROOT

logger = logging.getLogger(__name__)

RASA_CONFIG = "config.yml"
RASA_DOMAIN = "bot/domain"
RASA_STORIES = "bot/data"
NLU_DATA = "nlu_data"
#: What the model is trained from: the domain, the stories and rules, the custom NLU
#: components and policies, the NLU data. The doors (bot/channels), the response generator and
#: the start-up wrapper are not in the model: changing them retrains nothing.
MODEL_INPUT_DIRS = (RASA_DOMAIN, RASA_STORIES, "bot/nlu", "bot/policies", NLU_DATA)
#: The Rasa environment's pins: a new Rasa or NLU library retrains too.
MODEL_INPUT_FILES = ("bot/requirements.txt",)
MODEL_INPUT_SUFFIXES = (".yml", ".py", ".txt")
SKIPPED_DIR = "__pycache__"
MODEL_PREFIX = "leafbean-"
MODEL_SUFFIX = ".tar.gz"
MODEL_HASH_CHARS = 12
KEEP_MODELS = 3
DEFAULT_MODELS_DIR = REPO_ROOT / "models"
DEFAULT_RASA_BIN = REPO_ROOT / ".venv-rasa" / "bin" / "rasa"
RASA_ENV_DEFAULTS = {"TF_CPP_MIN_LOG_LEVEL": "2", "RASA_TELEMETRY_ENABLED": "false"}

#: Where :func:`retrain` reports what it does (one line at a time).
Echo = Callable[[str], None]


class RasaNotFoundError(FileNotFoundError):
    """The Rasa environment's ``rasa`` executable is missing (``make install`` makes it)."""


def model_inputs(root: Path = REPO_ROOT) -> list[Path]:
    """The files the Rasa model is trained from, in a fixed order.

    Args:
        root: The repository root.

    Returns:
        ``config.yml``, then every ``.yml``, ``.py`` and ``.txt`` file under
        :data:`MODEL_INPUT_DIRS` (caches aside), sorted by their path relative to ``root``.
    """
    found = [
        path
        for folder in MODEL_INPUT_DIRS
        for path in (root / folder).rglob("*")
        if path.is_file()
        and path.suffix in MODEL_INPUT_SUFFIXES
        and SKIPPED_DIR not in path.relative_to(root).parts
    ]
    found += [root / name for name in MODEL_INPUT_FILES if (root / name).is_file()]
    found.sort(key=lambda path: path.relative_to(root).as_posix())
    return [root / RASA_CONFIG, *found]


def model_path(root: Path = REPO_ROOT, models: Path = DEFAULT_MODELS_DIR) -> Path:
    """The model file for the current bot files: a new file whenever one of them changes.

    Args:
        root: The repository root.
        models: The folder of trained models.

    Returns:
        ``<models>/leafbean-<first 12 hex digits of the inputs' SHA-256>.tar.gz``.
    """
    digest = hashlib.sha256()
    for path in model_inputs(root):
        digest.update(path.read_bytes())
    return models / f"{MODEL_PREFIX}{digest.hexdigest()[:MODEL_HASH_CHARS]}{MODEL_SUFFIX}"


def shown(path: Path, root: Path = REPO_ROOT) -> Path:
    """``path`` relative to the repository root when it lies inside it (for messages).

    Args:
        path: Any path.
        root: The repository root.

    Returns:
        The relative path, or ``path`` unchanged when it lies outside ``root``.
    """
    try:
        return path.resolve().relative_to(root)
    except ValueError:
        return path


def train_command(model: Path, rasa: Path = DEFAULT_RASA_BIN) -> list[str]:
    """The ``rasa train`` command that writes ``model`` (run it in the repository root).

    Args:
        model: The model file to write (see :func:`model_path`).
        rasa: The Rasa environment's ``rasa`` executable.

    Returns:
        The command line.
    """
    return [
        str(rasa),
        "train",
        "--config",
        RASA_CONFIG,
        "--domain",
        RASA_DOMAIN,
        "--data",
        RASA_STORIES,
        NLU_DATA,
        "--out",
        str(model.parent),
        "--fixed-model-name",
        model.name.removesuffix(MODEL_SUFFIX),
    ]


def prune_models(models: Path, keep: int = KEEP_MODELS) -> None:
    """Delete all but the ``keep`` newest ``leafbean-*.tar.gz`` models.

    Args:
        models: The folder of trained models.
        keep: How many to keep.
    """
    trained = sorted(
        models.glob(f"{MODEL_PREFIX}*{MODEL_SUFFIX}"),
        key=lambda path: path.stat().st_mtime,
        reverse=True,
    )
    for old in trained[keep:]:
        logger.info("Removing old model %s", old.name)
        old.unlink(missing_ok=True)


def _say(line: str) -> None:
    print(line, flush=True)


def retrain(
    store_url: str,
    *,
    export: bool = True,
    force: bool = False,
    models: Path = DEFAULT_MODELS_DIR,
    rasa: Path = DEFAULT_RASA_BIN,
    root: Path = REPO_ROOT,
    echo: Echo = _say,
) -> int:
    """Export the NLU lookups, train the model if it is stale, keep the newest three.

    Args:
        store_url: The store the product lookups are exported from.
        export: Export the lookups first (``False``: train from the files as they are).
        force: Train even when the model for the current files exists.
        models: The folder of trained models.
        rasa: The Rasa environment's ``rasa`` executable.
        root: The repository root (training runs there).
        echo: Where progress lines go (default: standard output).

    Returns:
        ``rasa train``'s exit status (0 when the model was already up to date).

    Raises:
        RasaNotFoundError: ``rasa`` does not exist and the model must be trained.
    """
    if export:
        # Imported here: ``leafbean model-path`` (the Makefile's MODEL) stays quick.
        from analytics.loop.nlu_export import export_nlu

        for path in export_nlu(store_url, root=root):
            echo(f"wrote {path}")
    model = model_path(root, models)  # after the export: the lookups are inputs
    if model.is_file() and not force:
        echo(f"Model {shown(model, root)} is up to date")
        return 0
    if not rasa.is_file():
        raise RasaNotFoundError(f"{rasa} not found (run `make install`)")
    echo(f"Training {shown(model, root)} ...")
    env = {**RASA_ENV_DEFAULTS, **os.environ}
    code = subprocess.run(train_command(model, rasa), cwd=root, env=env, check=False).returncode
    if code != 0:
        logger.error("rasa train exited with %d", code)
        return code
    prune_models(model.parent)
    return 0
