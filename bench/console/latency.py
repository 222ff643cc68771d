"""Latency benchmark of the console's list pages against a real uvicorn server.

Usage (after ``bench.console.generate``)::

    SHOP_DATABASE_URL=sqlite:///var/bench/shop.db .venv/bin/python -m bench.console.latency

Starts ``uvicorn web.app:create_app`` on a free port with that store, logs in through the
real form, times the first inbox request (on a fresh volume the console's summaries are
then built in the background; the benchmark waits for ``/console/api/facts`` to report
completion and prints how long that took), then requests every list page ``--rounds``
times and prints p50 / p95 / max in milliseconds (wall time seen by the client).
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from analytics.core.settings import get_settings

REPO = Path(__file__).resolve().parents[2]
PAGES = (
    ("inbox (revenue at risk)", "/console/inbox"),
    ("inbox page 200", "/console/inbox?page=200"),
    ("inbox most recent", "/console/inbox?sort=recent"),
    ("inbox intent=complain", "/console/inbox?intent=complain"),
    ("inbox handoff + unreviewed", "/console/inbox?handoff=1&reviewed=0"),
    ("inbox high risk + segment", "/console/inbox?risk=high&segment=at_risk"),
    ("inbox language+channel+rating", "/console/inbox?language=en&channel=wechat&rating=low"),
    ("inbox date range", "/console/inbox?date_from=2026-01-01&date_to=2026-03-31"),
    ("search 'tracking number'", "/console/inbox?q=tracking+number"),
    ("search '退款' (2 chars)", "/console/inbox?q=%E9%80%80%E6%AC%BE"),
    ("customers", "/console/customers"),
    ("customers high risk", "/console/customers?risk=high"),
    ("handoff poll (API)", "/console/api/handoffs"),
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


BENCH_USER = "bench"


def _bench_account(url: str) -> str:
    """Creates (or resets) the console account ``bench`` in the store; returns its password.

    The founder's account is created only once per store, so a second run on the same store
    could not log in with a fresh ``CONSOLE_PASSWORD``.
    """
    from analytics.store.db import make_engine, make_sessionmaker
    from analytics.store.models.console import ConsoleUser
    from web.console.auth import hash_password

    password = secrets.token_urlsafe(12)
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as db:
            user = db.query(ConsoleUser).filter_by(username=BENCH_USER).one_or_none()
            if user is None:
                user = ConsoleUser(username=BENCH_USER, password_hash="")
                db.add(user)
            user.password_hash = hash_password(password)
            db.commit()
    finally:
        engine.dispose()
    return password


def run(url: str, rounds: int) -> list[tuple[str, float, float, float]]:
    """Runs the benchmark; returns (page, p50, p95, max) in ms."""
    port = _free_port()
    password = _bench_account(url)
    env = dict(
        os.environ,
        SHOP_DATABASE_URL=url,
        CONSOLE_PASSWORD=password,
        SESSION_SECRET=secrets.token_hex(16),
        PYTHONPATH=str(REPO),
    )
    log = open(REPO / "var" / "bench-console-uvicorn.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "web.app:create_app",
            "--factory",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        client = httpx.Client(base_url=base, timeout=600)
        for _ in range(120):
            try:
                if client.get("/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        page = client.get("/console/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        client.post(
            "/console/login",
            data={"username": BENCH_USER, "password": password, "csrf_token": token},
        )
        started = time.perf_counter()
        assert client.get("/console/inbox").status_code == 200
        print(f"first inbox request: {time.perf_counter() - started:.2f} s")
        while (status := client.get("/console/api/facts").json())["building"]:
            time.sleep(1)
        print(
            "console summaries complete (background) after "
            f"{time.perf_counter() - started:.1f} s {status}"
        )
        results = []
        for name, path in PAGES:
            assert client.get(path).status_code == 200, path  # warm
            times = []
            for _ in range(rounds):
                t0 = time.perf_counter()
                response = client.get(path)
                times.append((time.perf_counter() - t0) * 1000)
                assert response.status_code == 200, path
            times.sort()
            p95 = times[max(0, int(round(0.95 * len(times))) - 1)]
            results.append((name, statistics.median(times), p95, times[-1]))
        return results
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args(argv)
    url = args.database_url or get_settings().database_url
    (REPO / "var").mkdir(exist_ok=True)
    results = run(url, args.rounds)
    print("\n| page | p50 ms | p95 ms | max ms |\n|---|--:|--:|--:|")
    for name, p50, p95, worst in results:
        print(f"| {name} | {p50:.0f} | {p95:.0f} | {worst:.0f} |")
    return 0 if all(p95 < 300 for _, _, p95, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
