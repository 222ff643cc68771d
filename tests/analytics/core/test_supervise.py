"""The supervisor restarts a failing process with back-off and leaves the others alone."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analytics.core.supervise import (
    MAX_BACKOFF_S,
    MIN_BACKOFF_S,
    STABLE_AFTER_S,
    Supervisor,
    describe_exit,
    next_backoff,
    parse_procfile,
)

REPO = Path(__file__).resolve().parents[3]
FLAKY = 'echo "boom: database is locked" >&2; exit 3'
STEADY = "python3 -c 'import os, time; print(\"up\", os.getpid(), flush=True); time.sleep(120)'"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_parse_procfile_reads_names_in_order_and_skips_comments() -> None:
    text = "# comment\n\nweb: uvicorn app --port $WEB_PORT\nworker: python -m x\n"
    assert parse_procfile(text) == {"web": "uvicorn app --port $WEB_PORT", "worker": "python -m x"}


@pytest.mark.parametrize("text", ["no colon here\n", "a: x\na: y\n", "bad name!: x\n"])
def test_parse_procfile_refuses_malformed_lines(text: str) -> None:
    with pytest.raises(ValueError, match="line"):
        parse_procfile(text)


def test_backoff_doubles_up_to_the_cap_and_resets_after_a_stable_run() -> None:
    waits = [0.0]
    for _ in range(10):
        waits.append(next_backoff(waits[-1], uptime=0.1))
    assert waits[1:5] == [MIN_BACKOFF_S, 2.0, 4.0, 8.0]
    assert max(waits) == MAX_BACKOFF_S
    assert next_backoff(MAX_BACKOFF_S, uptime=STABLE_AFTER_S + 1) == MIN_BACKOFF_S


def test_describe_exit_names_signals() -> None:
    assert describe_exit(3) == "code 3"
    assert describe_exit(-9) == "signal SIGKILL"


def test_a_failing_process_is_restarted_and_the_others_keep_running(tmp_path: Path) -> None:
    out = io.StringIO()
    supervisor = Supervisor({"flaky": FLAKY, "steady": STEADY}, dict(os.environ), tmp_path, out)
    supervisor.start()
    steady = supervisor.children[1]
    assert steady.popen is not None
    steady_pid = steady.popen.pid
    try:
        deadline = time.monotonic() + 4.5
        while time.monotonic() < deadline:
            supervisor.step(0.1)
        text = out.getvalue()
        restarts = re.findall(
            r"flaky exited with code 3 after [\d.]+ s \(last line: "
            r'"boom: database is locked"\); restart (\d) in (\d+) s',
            text,
        )
        assert [int(n) for n, _ in restarts[:3]] == [1, 2, 3]
        assert [int(w) for _, w in restarts[:3]] == [1, 2, 4]  # back-off doubles
        assert steady.popen is not None and steady.popen.pid == steady_pid
        assert steady.restarts == 0 and _alive(steady_pid)
        assert f"steady     | up {steady_pid}" in text
    finally:
        supervisor.stop()
    assert not _alive(steady_pid)
    assert all(child.popen is None for child in supervisor.children)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_ctrl_c_stops_every_process_group(tmp_path: Path, sig: signal.Signals) -> None:
    procfile = tmp_path / "Procfile"
    procfile.write_text(f"steady: {STEADY}\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "analytics.core.supervise", "--procfile", str(procfile)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        # started in the background by a shell, SIGINT arrives ignored: it must still stop
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    assert proc.stdout is not None
    pid = None
    for line in proc.stdout:
        match = re.search(r"steady\s+\| up (\d+)", line)
        if match:
            pid = int(match.group(1))
            break
    assert pid is not None and _alive(pid)
    proc.send_signal(sig)
    output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "stopping steady" in output
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid)


def test_unknown_process_in_only_is_a_clear_error(tmp_path: Path) -> None:
    procfile = tmp_path / "Procfile"
    procfile.write_text("web: sleep 1\n", encoding="utf-8")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "analytics.core.supervise",
            "--procfile",
            str(procfile),
            "--only",
            "x",
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "no such process" in result.stdout + result.stderr
