"""Options of the scoring job, kept apart from the pipeline so the command line starts fast."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[2] / "var" / "models" / "brain"
"""Where ``python -m analytics score`` saves and loads the brain's models."""


def add_score_arguments(p: argparse.ArgumentParser) -> None:
    """Add the ``score`` command's options (kept here so the CLI parser stays light)."""
    p.add_argument(
        "--no-refit", action="store_true", help="use the stored models (fit only if none is stored)"
    )
    p.add_argument("--now", help="scoring time (ISO date, UTC); default now")
    p.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--threads", type=int, default=1, help="OpenMP threads for model fitting")
