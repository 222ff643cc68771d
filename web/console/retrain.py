"""Retraining in the background, with a quality gate, and the model swap into Rasa.

One job at a time, in a thread of the web process:

1. Split: a deterministic 20 % of the topic-file examples (by a hash of the text) is held
   out; corrections files are never held out.
2. Train two NLU models on the rest: *baseline* without the founder's corrections and
   *candidate* with them (``rasa train nlu``).
3. Evaluate both on the held-out split (``rasa test nlu``, weighted F1 of intents).
4. If the candidate is at least as good, train the full model the way ``make train`` does
   (the file :func:`analytics.loop.rasa_model.model_path` names, so ``make run`` sees it as
   up to date) and load it into the running Rasa server with ``PUT /model`` (a short-lived
   JWT in the ``Authorization`` header).

``rasa`` runs in the repository root, which Rasa puts on its import path: the bot's own
components (``bot.nlu...`` in ``config.yml``) load without a ``PYTHONPATH``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from ruamel.yaml import YAML

from analytics.loop import rasa_model
from web.console.config import ConsoleConfig
from web.console.teach import CORRECTIONS_FILE
from web.rasa_auth import rasa_headers

logger = logging.getLogger(__name__)

HOLDOUT_PERCENT = 20
STEP_TIMEOUT_S = 1800
STEPS = (
    ("split", 5),
    ("train_baseline", 30),
    ("train_candidate", 55),
    ("evaluate", 70),
    ("train_full", 95),
    ("swap", 100),
)


@dataclass
class Job:
    """State of one retraining job (what the progress bar shows)."""

    id: str
    status: str = "running"
    step: str = "split"
    progress: int = 0
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    log: deque[str] = field(default_factory=lambda: deque(maxlen=200))
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The job as JSON-able data."""
        return {
            "id": self.id,
            "status": self.status,
            "step": self.step,
            "progress": self.progress,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "log": list(self.log)[-40:],
            "result": self.result,
            "error": self.error,
        }


def _held_out(example: str) -> bool:
    digest = hashlib.sha1(" ".join(example.split()).casefold().encode()).digest()
    return digest[0] * 100 // 256 < HOLDOUT_PERCENT


def split_nlu(nlu_dir: Path, out: Path) -> dict[str, int]:
    """Writes ``baseline/``, ``candidate/`` and ``test.yml`` under ``out``.

    Returns:
        Example counts of each part.
    """
    yaml = YAML(typ="safe", pure=True)
    counts = {"baseline": 0, "candidate": 0, "test": 0}
    test_items: dict[str, list[str]] = {}
    for part in ("baseline", "candidate"):
        (out / part).mkdir(parents=True, exist_ok=True)
    for path in sorted(nlu_dir.rglob("*.yml")):
        data = yaml.load(path.read_text(encoding="utf-8")) or {}
        is_correction = path.name == CORRECTIONS_FILE
        train_items = []
        for item in data.get("nlu") or []:
            if "intent" not in item:
                train_items.append(item)  # lookups, regexes, synonyms
                continue
            examples = [
                ln.strip()[2:].strip()
                for ln in str(item.get("examples", "")).splitlines()
                if ln.strip().startswith("- ")
            ]
            keep = []
            for example in examples:
                if not is_correction and _held_out(example):
                    test_items.setdefault(item["intent"], []).append(example)
                    counts["test"] += 1
                else:
                    keep.append(example)
            if keep:
                train_items.append(
                    {"intent": item["intent"], "examples": "".join(f"- {e}\n" for e in keep)}
                )
                counts["candidate"] += len(keep)
                if not is_correction:
                    counts["baseline"] += len(keep)
        name = f"{path.parent.name}_{path.name}"
        body = {"version": "3.1", "nlu": train_items}
        for part in ("baseline", "candidate"):
            if part == "baseline" and is_correction:
                continue
            if train_items:
                with (out / part / name).open("w", encoding="utf-8") as fh:
                    YAML(typ="safe", pure=True).dump(body, fh)
    test = {
        "version": "3.1",
        "nlu": [
            {"intent": intent, "examples": "".join(f"- {e}\n" for e in examples)}
            for intent, examples in sorted(test_items.items())
        ],
    }
    with (out / "test.yml").open("w", encoding="utf-8") as fh:
        YAML(typ="safe", pure=True).dump(test, fh)
    return counts


def intent_f1(report_dir: Path) -> float:
    """Weighted-average intent F1 from ``rasa test nlu``'s ``intent_report.json``."""
    report = json.loads((report_dir / "intent_report.json").read_text(encoding="utf-8"))
    return float(report["weighted avg"]["f1-score"])


def at_least_as_good(candidate_f1: float, baseline_f1: float) -> bool:
    """The swap gate: whether the candidate may replace the model.

    It may when it is not worse on the held-out split (ties, within float noise, count as
    good enough).
    """
    return candidate_f1 + 1e-9 >= baseline_f1


class Retrainer:
    """Runs at most one retraining job at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.job: Job | None = None

    def start(self, config: ConsoleConfig, rasa_url: str, jwt_secret: str | None) -> Job:
        """Starts a job unless one is running; returns the current job.

        Args:
            config: Where the NLU data, models and scratch space are.
            rasa_url: The running Rasa server (the model is swapped into it).
            jwt_secret: ``RASA_JWT_SECRET`` (signs the ``PUT /model`` call), if set.

        Returns:
            The job started now, or the one still running.
        """
        with self._lock:
            if self.job is not None and self.job.status == "running":
                return self.job
            self.job = Job(id=uuid.uuid4().hex[:12])
            job = self.job
        thread = threading.Thread(
            target=self._run, args=(job, config, rasa_url, jwt_secret), daemon=True, name="retrain"
        )
        thread.start()
        return job

    def _set(self, job: Job, step: str) -> None:
        job.step = step
        job.log.append(f"== {step}")

    def _exec(self, job: Job, args: list[str], config: ConsoleConfig) -> None:
        env = dict(os.environ)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        job.log.append("$ " + " ".join(args))
        proc = subprocess.Popen(
            args,
            cwd=config.repo_root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        assert proc.stdout is not None
        deadline = time.monotonic() + STEP_TIMEOUT_S
        for line in proc.stdout:
            line = line.rstrip()
            if line:
                job.log.append(line[-300:])
            if time.monotonic() > deadline:
                proc.kill()
                break
        code = proc.wait()
        if code != 0:
            raise RuntimeError(f"{Path(args[0]).name} {args[1]} exited with {code}")

    def _run(self, job: Job, config: ConsoleConfig, rasa_url: str, jwt_secret: str | None) -> None:
        work = config.work_dir / "retrain" / job.id
        rasa = str(config.rasa_bin)
        progress = dict(STEPS)
        try:
            self._set(job, "split")
            counts = split_nlu(config.nlu_dir, work / "data")
            job.result["examples"] = counts
            job.log.append(f"split: {counts}")
            job.progress = progress["split"]
            for part in ("baseline", "candidate"):
                self._set(job, f"train_{part}")
                self._exec(
                    job,
                    [
                        rasa,
                        "train",
                        "nlu",
                        "--config",
                        str(config.repo_root / "config.yml"),
                        "--nlu",
                        str(work / "data" / part),
                        "--out",
                        str(work / "models"),
                        "--fixed-model-name",
                        part,
                    ],
                    config,
                )
                job.progress = progress[f"train_{part}"]
            self._set(job, "evaluate")
            scores = {}
            for part in ("baseline", "candidate"):
                self._exec(
                    job,
                    [
                        rasa,
                        "test",
                        "nlu",
                        "--model",
                        str(work / "models" / f"{part}.tar.gz"),
                        "--nlu",
                        str(work / "data" / "test.yml"),
                        "--out",
                        str(work / f"results_{part}"),
                        "--no-plot",
                    ],
                    config,
                )
                scores[part] = intent_f1(work / f"results_{part}")
            job.result["baseline_f1"] = round(scores["baseline"], 4)
            job.result["candidate_f1"] = round(scores["candidate"], 4)
            job.progress = progress["evaluate"]
            if not at_least_as_good(scores["candidate"], scores["baseline"]):
                job.result["swapped"] = False
                job.result["reason"] = "candidate is worse on the held-out split"
                job.status = "done"
                return
            self._set(job, "train_full")
            model = self._train_full(job, config)
            job.result["model"] = str(model)
            job.progress = progress["train_full"]
            self._set(job, "swap")
            job.result["swapped"] = self._swap(job, model, rasa_url, jwt_secret)
            job.progress = 100
            job.status = "done"
        except Exception as error:  # noqa: BLE001 - shown to the founder
            logger.exception("Retraining failed")
            job.status = "failed"
            job.error = str(error)
        finally:
            job.finished_at = time.time()
            shutil.rmtree(work / "data", ignore_errors=True)

    def _model_path(self, config: ConsoleConfig) -> Path:
        """The full model's file.

        For the repository's own ``nlu_data/`` it is the model ``make train`` writes
        (:func:`analytics.loop.rasa_model.model_path`, in the repository's ``models/``);
        for another NLU folder (a test's copy) a name hashed from its files, in the
        console's models folder.
        """
        if config.nlu_dir == (config.repo_root / rasa_model.NLU_DATA).resolve():
            return rasa_model.model_path(config.repo_root)
        digest = hashlib.sha256()
        for path in sorted(config.nlu_dir.rglob("*.yml")):
            digest.update(path.read_bytes())
        name = f"leafbean-console-{digest.hexdigest()[: rasa_model.MODEL_HASH_CHARS]}"
        return config.models_dir / f"{name}{rasa_model.MODEL_SUFFIX}"

    def _train_full(self, job: Job, config: ConsoleConfig) -> Path:
        model = self._model_path(config)
        if model.exists():
            job.log.append(f"{model.name} is up to date")
            return model
        self._exec(
            job,
            [
                str(config.rasa_bin),
                "train",
                "--config",
                str(config.repo_root / "config.yml"),
                "--domain",
                str(config.domain_dir),
                "--data",
                str(config.repo_root / "bot" / "data"),
                str(config.nlu_dir),
                "--out",
                str(model.parent),
                "--fixed-model-name",
                model.name.removesuffix(rasa_model.MODEL_SUFFIX),
            ],
            config,
        )
        return model

    def _swap(self, job: Job, model: Path, rasa_url: str, jwt_secret: str | None) -> bool:
        try:
            response = httpx.put(
                f"{rasa_url.rstrip('/')}/model",
                headers=rasa_headers(jwt_secret),
                json={"model_file": str(model)},
                timeout=300,
            )
        except httpx.HTTPError as error:
            job.log.append(f"PUT /model failed: {error}")
            job.result["reason"] = f"Rasa not reachable at {rasa_url}"
            return False
        job.log.append(f"PUT /model -> {response.status_code}")
        if response.status_code != 204:
            job.result["reason"] = f"Rasa answered {response.status_code}: {response.text[:200]}"
            return False
        return True


RETRAINER = Retrainer()
