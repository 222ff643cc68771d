"""The ``leafbean`` command: jobs with their own command line get the rest of the line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from analytics.cli import CMD_INGEST, CMD_SCHEDULE, PASS_THROUGH, main
from analytics.core.settings import REPO_ROOT

LEAFBEAN = Path(sys.executable).parent / "leafbean"
INGEST_PROG = "python -m analytics.loop.ingest"
RUN_TIMEOUT_S = 120


def leafbean(*args: str) -> subprocess.CompletedProcess[str]:
    """Runs the installed ``leafbean`` command in the repository root."""
    assert LEAFBEAN.is_file(), "make install puts the leafbean command in .venv/bin"
    return subprocess.run(
        [str(LEAFBEAN), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=RUN_TIMEOUT_S,
    )


def test_jobs_with_their_own_command_line() -> None:
    assert set(PASS_THROUGH) == {CMD_INGEST, CMD_SCHEDULE}


def test_ingest_help_is_the_workers_own() -> None:
    shown = leafbean("ingest", "--help")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"usage: {INGEST_PROG} ")
    for option in ("--source {sql,rabbitmq}", "--events-db", "--max-idle", "--no-live-risk"):
        assert option in shown.stdout


def test_ingest_arguments_reach_the_worker(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["ingest", "--source", "carrier-pigeon"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: {INGEST_PROG} ")
    assert "invalid choice: 'carrier-pigeon'" in err


def test_schedule_help_is_the_schedulers_own(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["schedule", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--every-hours" in out and "--no-retention" in out


def test_other_commands_refuse_unknown_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["model-path", "--bogus"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_ingest_runs_the_worker_on_the_given_store(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'store.db'}"
    events = tmp_path / "events.db"
    ran = leafbean(
        "--database-url",
        store,
        "ingest",
        "--migrate",
        "--events-db",
        str(events),
        "--max-idle",
        "0.3",
        "--no-live-risk",
    )
    assert ran.returncode == 0, ran.stderr
    assert f"Polling sqlite:///{events}" in ran.stderr
    assert "Stopped: 0 events" in ran.stderr
    engine = create_engine(store)
    try:
        assert "ingest_checkpoints" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
