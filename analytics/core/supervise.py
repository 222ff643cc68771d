"""Run every process of the Procfile and keep them running.

``make run`` starts the product with this supervisor instead of a plain process manager
(honcho stops every process as soon as one exits). Each process is restarted when it
exits, with an exponential back-off (1 s, 2 s, 4 s ... at most 60 s) that resets once the
process has stayed up for a while, and the supervisor says which one restarted and why::

    09:41:07 supervisor | ingest exited with code 1 after 2.3 s (last line: "...");
                          restart 3 in 4 s

Ctrl-C (or SIGTERM) stops them all: SIGTERM to each process group, SIGKILL after a grace
period. The environment is ``os.environ`` over the repository's ``.env`` (the real
environment wins), as for every other entry point.

Usage::

    python -m analytics.core.supervise [--procfile Procfile] [--only rasa,web]
"""

from __future__ import annotations

import argparse
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from analytics.core.settings import ENV_FILE_NAME, REPO_ROOT, parse_env_file

SUPERVISOR = "supervisor"
MIN_BACKOFF_S = 1.0
MAX_BACKOFF_S = 60.0
STABLE_AFTER_S = 30.0
STOP_GRACE_S = 15.0
_PROCFILE_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+)$")


def parse_procfile(text: str) -> dict[str, str]:
    """The processes of a Procfile, in file order.

    Args:
        text: The Procfile's text (``name: command`` lines, ``#`` comments).

    Returns:
        Process name to shell command.

    Raises:
        ValueError: On a malformed line or a repeated name.
    """
    processes: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _PROCFILE_LINE.match(line)
        if match is None:
            raise ValueError(f"Procfile line {number} is not 'name: command': {line!r}")
        name, command = match.groups()
        if name in processes:
            raise ValueError(f"Procfile line {number}: process {name!r} is defined twice")
        processes[name] = command
    return processes


def next_backoff(previous: float, uptime: float) -> float:
    """The wait before the next restart.

    Args:
        previous: The wait used before the last restart (0 for the first exit).
        uptime: How long the process ran before it exited.

    Returns:
        ``MIN_BACKOFF_S`` after a stable run, else double the previous wait, capped.
    """
    if uptime >= STABLE_AFTER_S or previous <= 0:
        return MIN_BACKOFF_S
    return min(previous * 2, MAX_BACKOFF_S)


def describe_exit(returncode: int) -> str:
    """``code 1`` or ``signal SIGKILL`` for a process's return code."""
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"code {returncode}"


@dataclass
class Child:
    """One supervised process."""

    name: str
    command: str
    popen: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    backoff: float = 0.0
    restart_at: float | None = None
    last_line: str = ""
    buffer: bytes = field(default=b"", repr=False)


class Supervisor:
    """Starts, watches and restarts the processes; prefixes and forwards their output.

    Args:
        processes: Process name to shell command.
        env: The processes' environment.
        cwd: Their working folder.
        out: Where the prefixed output goes.
    """

    def __init__(
        self,
        processes: Mapping[str, str],
        env: Mapping[str, str],
        cwd: Path,
        out: IO[str] | None = None,
    ) -> None:
        self.children = [Child(name, command) for name, command in processes.items()]
        self.env = dict(env)
        self.cwd = cwd
        self.out = out if out is not None else sys.stdout
        self.width = max([len(SUPERVISOR), *(len(child.name) for child in self.children)])
        self.selector = selectors.DefaultSelector()
        self.stopping = False

    def say(self, name: str, line: str) -> None:
        """Print one line with a time stamp and the process's name."""
        stamp = time.strftime("%H:%M:%S")
        try:
            self.out.write(f"{stamp} {name.ljust(self.width)} | {line}\n")
            self.out.flush()
        except (OSError, ValueError):  # a closed terminal or pipe must not stop the product
            pass

    def spawn(self, child: Child) -> None:
        """Start (or restart) one process in its own process group."""
        child.popen = subprocess.Popen(
            ["/bin/bash", "-c", child.command],
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        child.started_at = time.monotonic()
        child.restart_at = None
        assert child.popen.stdout is not None
        os.set_blocking(child.popen.stdout.fileno(), False)
        self.selector.register(child.popen.stdout, selectors.EVENT_READ, child)
        self.say(SUPERVISOR, f"started {child.name} (pid {child.popen.pid})")

    def _read(self, child: Child, stream: IO[bytes], final: bool = False) -> None:
        try:
            data = stream.read()
        except (BlockingIOError, ValueError):
            data = None
        if data == b"" and not final:  # end of output: stop watching (reaped later)
            self._close(stream)
        child.buffer += data or b""
        *lines, child.buffer = child.buffer.split(b"\n")
        if final and child.buffer:
            lines.append(child.buffer)
            child.buffer = b""
        for raw in lines:
            line = raw.decode("utf-8", errors="replace").rstrip("\r")
            if line.strip():
                child.last_line = line.strip()[-200:]
            self.say(child.name, line)

    def _close(self, stream: IO[bytes]) -> None:
        try:
            self.selector.unregister(stream)
        except (KeyError, ValueError):
            pass
        stream.close()

    def _reap(self, child: Child) -> None:
        popen = child.popen
        if popen is None or popen.poll() is None:
            return
        if popen.stdout is not None and not popen.stdout.closed:
            self._read(child, popen.stdout, final=True)
            self._close(popen.stdout)
        child.popen = None
        if self.stopping:
            return
        uptime = time.monotonic() - child.started_at
        child.backoff = next_backoff(child.backoff, uptime)
        child.restarts += 1
        child.restart_at = time.monotonic() + child.backoff
        why = f' (last line: "{child.last_line}")' if child.last_line else ""
        self.say(
            SUPERVISOR,
            f"{child.name} exited with {describe_exit(popen.returncode)} after {uptime:.1f} s"
            f"{why}; restart {child.restarts} in {child.backoff:.0f} s",
        )

    def step(self, timeout: float = 0.5) -> None:
        """Forward output, reap exited processes and start the ones whose wait is over."""
        for key, _ in self.selector.select(timeout):
            self._read(key.data, key.fileobj)  # type: ignore[arg-type]
        now = time.monotonic()
        for child in self.children:
            self._reap(child)
            if child.popen is None and child.restart_at is not None and now >= child.restart_at:
                self.spawn(child)

    def start(self) -> None:
        """Start every process."""
        for child in self.children:
            self.spawn(child)

    def stop(self) -> None:
        """SIGTERM every process group, SIGKILL what is left after the grace period."""
        self.stopping = True
        running = [c for c in self.children if c.popen is not None and c.popen.poll() is None]
        for child in running:
            assert child.popen is not None
            self.say(SUPERVISOR, f"stopping {child.name}")
            _signal_group(child.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        while time.monotonic() < deadline and any(
            c.popen is not None and c.popen.poll() is None for c in self.children
        ):
            self.step(0.2)
        for child in self.children:
            if child.popen is not None and child.popen.poll() is None:
                self.say(SUPERVISOR, f"{child.name} did not stop in time: killing it")
                _signal_group(child.popen.pid, signal.SIGKILL)
                child.popen.wait()
            self._reap(child)

    def run(self) -> int:
        """Run until SIGINT or SIGTERM; returns the exit code."""
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):  # even if inherited ignored
            signal.signal(sig, _raise_interrupt)
        self.start()
        try:
            while True:
                self.step()
        except KeyboardInterrupt:
            self.say(SUPERVISOR, "stopping everything")
        finally:
            self.stop()
        return 0


def _raise_interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def build_env(root: Path = REPO_ROOT, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``.env`` under the real environment (the real environment wins)."""
    env = parse_env_file(root / ENV_FILE_NAME)
    env.update(os.environ if environ is None else environ)
    return env


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--procfile", type=Path, default=REPO_ROOT / "Procfile")
    parser.add_argument("--only", default="", help="comma-separated process names to run")
    args = parser.parse_args(argv)
    try:
        processes = parse_procfile(args.procfile.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.only:
        wanted = [name.strip() for name in args.only.split(",") if name.strip()]
        unknown = sorted(set(wanted) - set(processes))
        if unknown:
            print(f"error: no such process in {args.procfile}: {', '.join(unknown)}")
            return 2
        processes = {name: processes[name] for name in wanted}
    os.umask(0o077)  # stores, logs and models the processes create are owner-only
    return Supervisor(processes, build_env(), REPO_ROOT).run()


if __name__ == "__main__":
    sys.exit(main())
