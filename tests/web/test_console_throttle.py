"""The login throttle (web/console/throttle.py) under real concurrency, on SQLite and PostgreSQL.

The web app runs under uvicorn (in this process, so the Argon2 checks can be counted; and
as two separate processes sharing one store); 50 browsers post a wrong password at the same
moment from one address. At most ``CONSOLE_LOGIN_PER_MINUTE`` of them may reach Argon2;
the others get 429 with ``Retry-After`` and a bilingual page; the founder, from another
address, still signs in.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from analytics.core.settings import Settings
from analytics.store.db import make_engine
from analytics.store.models.console import KnownClient
from tests.web.conftest import PASSWORD, SESSION_SECRET, Console
from tests.web.servers import serve_in_subprocess, serve_in_thread
from web import settings as web_settings
from web.console import auth, throttle

CONCURRENT = 50
LIMIT = Settings.model_fields["console_login_per_minute"].default
ATTACKER = "127.0.0.2"
FOUNDER = "127.0.0.3"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def _browser(base: str, address: str) -> httpx.Client:
    """A client whose connections come from ``address`` (any 127.0.0.0/8 address works)."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=base, transport=transport, timeout=60)


def _login_form(client: httpx.Client) -> str:
    page = client.get("/console/login")
    match = CSRF_RE.search(page.text)
    assert match, page.text[:300]
    return match.group(1)


def _flood(base: str, password: str = "wrong-guess") -> list[httpx.Response]:
    """50 browsers from one address post a wrong password at the same moment."""
    clients = [_browser(base, ATTACKER) for _ in range(CONCURRENT)]
    try:
        tokens = [_login_form(client) for client in clients]
        barrier = threading.Barrier(CONCURRENT)

        def attempt(i: int) -> httpx.Response:
            barrier.wait()
            return clients[i].post(
                "/console/login",
                data={
                    "username": "founder",
                    "password": f"{password}-{i}",
                    "csrf_token": tokens[i],
                },
            )

        with ThreadPoolExecutor(CONCURRENT) as pool:
            return list(pool.map(attempt, range(CONCURRENT)))
    finally:
        for client in clients:
            client.close()


def _assert_flood_refused(responses: list[httpx.Response]) -> None:
    codes = sorted(r.status_code for r in responses)
    assert codes.count(401) == LIMIT, codes
    assert codes.count(429) == CONCURRENT - LIMIT, codes
    for refused in (r for r in responses if r.status_code == 429):
        assert 1 <= int(refused.headers["retry-after"]) <= throttle.WINDOW_S
        assert "尝试次数过多" in refused.text and "Too many attempts" in refused.text


def _founder_signs_in(base: str) -> None:
    with _browser(base, FOUNDER) as founder:
        token = _login_form(founder)
        response = founder.post(
            "/console/login",
            data={"username": "founder", "password": PASSWORD, "csrf_token": token},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text[:300]
        assert founder.get("/console/inbox", follow_redirects=False).status_code == 200


def _count_argon2(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """Counts the real Argon2 verifications (each still runs)."""
    calls = 0
    lock = threading.Lock()
    real = auth.verify_password

    def counting(password_hash: str, password: str) -> bool:
        nonlocal calls
        with lock:
            calls += 1
        return real(password_hash, password)

    monkeypatch.setattr(auth, "verify_password", counting)
    return lambda: calls


def test_concurrent_wrong_logins_never_pass_the_limit_nor_reach_argon2(
    console_env: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    from web.app import create_app

    argon2_calls = _count_argon2(monkeypatch)
    with serve_in_thread(create_app()) as base:
        with _browser(base, FOUNDER) as warm_up:
            _login_form(warm_up)  # creates the founder's account before counting
        before = argon2_calls()
        responses = _flood(base)
        assert argon2_calls() - before == LIMIT
        _assert_flood_refused(responses)
        _founder_signs_in(base)
        assert argon2_calls() - before == LIMIT + 1


def test_the_limit_holds_across_two_processes(console_env: Console, tmp_path: Path) -> None:
    env = {
        "SHOP_DATABASE_URL": console_env.url,
        "CONSOLE_PASSWORD": PASSWORD,
        "CONSOLE_USER": "founder",
        "SESSION_SECRET": SESSION_SECRET,
        "CONSOLE_WORK_DIR": str(tmp_path / "work"),
        "RASA_URL": "http://127.0.0.1:9",
    }
    with (
        serve_in_subprocess(env, tmp_path / "one.log") as one,
        serve_in_subprocess(env, tmp_path / "two.log") as two,
    ):
        clients = [_browser(one if i % 2 else two, ATTACKER) for i in range(CONCURRENT)]
        try:
            tokens = [_login_form(client) for client in clients]
            barrier = threading.Barrier(CONCURRENT)

            def attempt(i: int) -> httpx.Response:
                barrier.wait()
                return clients[i].post(
                    "/console/login",
                    data={"username": "founder", "password": f"nope-{i}", "csrf_token": tokens[i]},
                )

            with ThreadPoolExecutor(CONCURRENT) as pool:
                responses = list(pool.map(attempt, range(CONCURRENT)))
        finally:
            for client in clients:
                client.close()
        _assert_flood_refused(responses)
        _founder_signs_in(two)


def test_counters_per_pair_address_and_user(console_env: Console) -> None:
    engine = make_engine(console_env.url)
    try:
        with Session(engine) as db:
            now = 1_000_000.0
            for _ in range(LIMIT):
                assert throttle.reserve(db, "founder", "10.0.0.1", now=now).allowed
            refused = throttle.reserve(db, "founder", "10.0.0.1", now=now + 10)
            assert not refused.allowed and refused.retry_after == 50
            # Same user from elsewhere, and another user from the same address, still pass.
            assert throttle.reserve(db, "founder", "10.0.0.2", now=now).allowed
            assert throttle.reserve(db, "someone", "10.0.0.1", now=now).allowed
            # Usernames are compared without case and surrounding blanks.
            assert not throttle.reserve(db, "  FOUNDER ", "10.0.0.1", now=now).allowed
            # A new window starts 60 s after the first attempt of the last one.
            assert throttle.reserve(db, "founder", "10.0.0.1", now=now + 60).allowed
            # One address spraying usernames meets the address limit.
            spray = [
                throttle.reserve(db, f"user{i}", "10.0.0.9", now=now).allowed
                for i in range(LIMIT * throttle.IP_FACTOR + 1)
            ]
            assert spray.count(True) == LIMIT * throttle.IP_FACTOR and not spray[-1]
            # Many addresses guessing one account meet the account limit.
            guesses = [
                throttle.reserve(db, "target", f"10.1.{i // 200}.{i % 200}", now=now).allowed
                for i in range(LIMIT * throttle.USER_FACTOR + 1)
            ]
            assert guesses.count(True) == LIMIT * throttle.USER_FACTOR and not guesses[-1]
    finally:
        engine.dispose()


def test_a_correct_password_clears_the_pair_counter(console_env: Console) -> None:
    engine = make_engine(console_env.url)
    try:
        with Session(engine) as db:
            now = 2_000_000.0
            for _ in range(LIMIT - 1):
                assert throttle.reserve(db, "founder", "10.0.0.1", now=now).allowed
            throttle.succeeded(db, "founder", "10.0.0.1", now=now)
            for _ in range(LIMIT):
                assert throttle.reserve(db, "founder", "10.0.0.1", now=now).allowed
            assert not throttle.reserve(db, "founder", "10.0.0.1", now=now).allowed
    finally:
        engine.dispose()


def test_the_limit_is_a_setting(console_env: Console, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSOLE_LOGIN_PER_MINUTE", "2")
    web_settings.get_settings.cache_clear()
    engine = make_engine(console_env.url)
    try:
        with Session(engine) as db:
            verdicts = [throttle.reserve(db, "founder", "10.0.0.1").allowed for _ in range(3)]
            assert verdicts == [True, True, False]
    finally:
        engine.dispose()


def test_ipv6_addresses_of_one_64_share_the_login_counters(console_env: Console) -> None:
    engine = make_engine(console_env.url)
    try:
        with Session(engine) as db:
            now = 3_000_000.0
            rotated = [f"2001:db8:7:7::{n:x}" for n in range(1, LIMIT + 2)]
            verdicts = [throttle.reserve(db, "founder", a, now=now).allowed for a in rotated]
            assert verdicts == [True] * LIMIT + [False]
            assert throttle.reserve(db, "founder", "2001:db8:7:8::1", now=now).allowed
    finally:
        engine.dispose()


OTHER_ADDRESSES = [f"127.0.1.{n}" for n in range(1, 13)]


def _sign_in(base: str, address: str, password: str) -> httpx.Response:
    with _browser(base, address) as browser:
        token = _login_form(browser)
        return browser.post(
            "/console/login",
            data={"username": "founder", "password": password, "csrf_token": token},
            follow_redirects=False,
        )


def test_a_distributed_guess_cannot_lock_the_founder_out(console_env: Console) -> None:
    from web.app import create_app

    with serve_in_thread(create_app()) as base:
        assert _sign_in(base, FOUNDER, PASSWORD).status_code == 303  # a known address now

        def guess(address: str) -> list[int]:
            return [_sign_in(base, address, f"guess-{i}").status_code for i in range(LIMIT)]

        with ThreadPoolExecutor(len(OTHER_ADDRESSES)) as pool:
            codes = sorted(c for batch in pool.map(guess, OTHER_ADDRESSES) for c in batch)
        user_limit = LIMIT * throttle.USER_FACTOR - 1  # the founder's first login took one
        assert len(codes) == 60 and codes.count(401) == user_limit, codes
        assert codes.count(429) == 60 - user_limit, codes
        # The account's counter is spent: a new address is refused even with the password...
        assert _sign_in(base, "127.0.0.4", PASSWORD).status_code == 429
        # ...but the founder's known address still signs in.
        response = _sign_in(base, FOUNDER, PASSWORD)
        assert response.status_code == 303, response.text[:300]


def test_known_addresses_keep_their_pair_limit_and_expire(console_env: Console) -> None:
    engine = make_engine(console_env.url)
    try:
        with Session(engine) as db:
            now = 4_000_000.0
            throttle.succeeded(db, "founder", "2001:db8:9:9::1", now=now)
            assert throttle.is_known_client(db, "founder", "2001:db8:9:9::abcd", now=now)
            assert not throttle.is_known_client(db, "founder", "2001:db8:9:a::1", now=now)
            assert not throttle.is_known_client(db, "someone", "2001:db8:9:9::1", now=now)
            stored = db.scalars(select(KnownClient.key_hash)).all()
            db.rollback()
            assert stored and all("2001" not in key for key in stored)  # only a keyed hash
            # Spend the account's counter from elsewhere.
            for i in range(LIMIT * throttle.USER_FACTOR):
                throttle.reserve(db, "founder", f"10.2.{i // 200}.{i % 200}", now=now + 1)
            assert not throttle.reserve(db, "founder", "10.3.0.1", now=now + 1).allowed
            # The known address skips it, but still meets its own pair limit.
            known = [throttle.reserve(db, "founder", "2001:db8:9:9::1", now=now + 1).allowed
                     for _ in range(LIMIT + 1)]  # fmt: skip
            assert known == [True] * LIMIT + [False]
            # Thirty days after its last login the address is a stranger again.
            later = now + throttle.KNOWN_CLIENT_S + 1
            assert not throttle.is_known_client(db, "founder", "2001:db8:9:9::1", now=later)
            throttle.succeeded(db, "founder", "10.9.9.9", now=later)  # drops forgotten rows
            assert db.scalar(select(func.count()).select_from(KnownClient)) == 1
            db.rollback()
    finally:
        engine.dispose()
