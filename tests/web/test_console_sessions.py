"""Console sessions (web/console/auth.py, deps.py, routes.py): cookie flags, server-side
revocation on logout and password change, expiry, CSRF on every POST, the one-time password.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import stat
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from analytics.store.db import make_engine, make_sessionmaker
from analytics.store.models.console import ConsoleUser, StoredSession
from tests.web.conftest import CSRF_RE, PASSWORD, SESSION_SECRET, Console, csrf_of, login
from tests.web.servers import serve_in_thread
from web.console import auth
from web.console.deps import PREFIX

NEW_PASSWORD = "a brand new passphrase"


def _cookies(response: object) -> dict[str, str]:
    """Set-Cookie headers by cookie name."""
    found = {}
    for header in response.headers.get_list("set-cookie"):  # type: ignore[attr-defined]
        found[header.split("=", 1)[0]] = header
    return found


def _app_client(base_url: str) -> TestClient:
    from web.app import create_app

    return TestClient(create_app(), base_url=base_url)


@pytest.mark.parametrize("base_url", ["http://localhost", "http://127.0.0.1", "http://[::1]"])
def test_local_hosts_get_cookies_without_secure(console_env: Console, base_url: str) -> None:
    with _app_client(base_url) as client:
        form = client.get("/console/login")
        login_cookie = _cookies(form)[auth.LOGIN_CSRF_COOKIE]
        assert "Secure" not in login_cookie and "HttpOnly" in login_cookie
        response = login(client)
        assert response.status_code == 303
        cookie = _cookies(response)[auth.SESSION_COOKIE]
        assert "HttpOnly" in cookie and "Path=/console" in cookie
        assert "samesite=lax" in cookie.lower() and "Secure" not in cookie


def test_other_hosts_get_secure_cookies(console_env: Console) -> None:
    with _app_client("https://shop.example.com") as client:
        form = client.get("/console/login")
        assert "Secure" in _cookies(form)[auth.LOGIN_CSRF_COOKIE]
        response = login(client)
        assert response.status_code == 303
        cookie = _cookies(response)[auth.SESSION_COOKIE]
        assert "Secure" in cookie and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
        assert client.get("/console/inbox", follow_redirects=False).status_code == 200
    # Over plain HTTP on a public name the browser would drop the cookie: no session.
    with _app_client("http://shop.example.com") as client:
        assert "Secure" in _cookies(client.get("/console/login"))[auth.LOGIN_CSRF_COOKIE]


@pytest.mark.parametrize(("mode", "base_url", "secure"), [
    ("on", "http://localhost", True),
    ("off", "https://shop.example.com", False),
    ("auto", "https://shop.example.com", True),
])  # fmt: skip
def test_secure_cookie_setting(
    console_env: Console, monkeypatch: pytest.MonkeyPatch, mode: str, base_url: str, secure: bool
) -> None:
    monkeypatch.setenv("CONSOLE_SECURE_COOKIES", mode)
    from web import settings

    settings.get_settings.cache_clear()
    with _app_client(base_url) as client:
        cookie = _cookies(client.get("/console/login"))[auth.LOGIN_CSRF_COOKIE]
        assert ("Secure" in cookie) is secure


@pytest.mark.parametrize("mode", ["auto", "off"])
def test_production_cookies_are_secure_whatever_the_host(
    console_env: Console, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    # Behind `proxy_pass http://127.0.0.1:8000` the Host is 127.0.0.1 and, without
    # X-Forwarded-Proto, the scheme is http: production still sends Secure.
    monkeypatch.setenv("PROFILE", "production")
    monkeypatch.setenv("CONSOLE_SECURE_COOKIES", mode)
    from web import settings

    settings.get_settings.cache_clear()
    with _app_client("http://127.0.0.1") as client:
        form = client.get("/console/login")
        assert "Secure" in _cookies(form)[auth.LOGIN_CSRF_COOKIE]
        token = CSRF_RE.search(form.text)
        assert token
        # The test client keeps Secure cookies off plain HTTP; the proxy's browser is on HTTPS.
        response = client.post(
            "/console/login",
            data={"username": "founder", "password": PASSWORD, "csrf_token": token.group(1)},
            headers={"Cookie": f"{auth.LOGIN_CSRF_COOKIE}={token.group(1)}"},
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert "Secure" in _cookies(response)[auth.SESSION_COOKIE]


def test_https_to_a_local_host_gets_secure_cookies(console_env: Console) -> None:
    # The scheme of the ASGI scope decides, not the Host header.
    with _app_client("https://127.0.0.1") as client:
        assert "Secure" in _cookies(client.get("/console/login"))[auth.LOGIN_CSRF_COOKIE]


def test_a_local_https_proxy_gets_secure_cookies_through_x_forwarded_proto(
    console_env: Console,
) -> None:
    # Served by uvicorn as in the Procfile: it trusts X-Forwarded-Proto from 127.0.0.1.
    from web.app import create_app

    with serve_in_thread(create_app()) as base, httpx.Client(base_url=base) as proxy:
        plain = proxy.get("/console/login")
        assert "Secure" not in _cookies(plain)[auth.LOGIN_CSRF_COOKIE]
        forwarded = proxy.get("/console/login", headers={"X-Forwarded-Proto": "https"})
        assert forwarded.status_code == 200
        assert "Secure" in _cookies(forwarded)[auth.LOGIN_CSRF_COOKIE]


def _session_cookie(client: TestClient) -> str:
    value = client.cookies.get(auth.SESSION_COOKIE)
    assert value
    return value


def _as_cookie(value: str) -> dict[str, str]:
    return {"Cookie": f"{auth.SESSION_COOKIE}={value}"}


def _opens_inbox(value: str) -> bool:
    """Whether a fresh browser holding only this cookie value gets the inbox."""
    with _app_client("http://localhost") as other:
        response = other.get("/console/inbox", headers=_as_cookie(value), follow_redirects=False)
        return response.status_code == 200


def test_logout_revokes_the_session_server_side(client: TestClient, console_env: Console) -> None:
    old = _session_cookie(client)
    assert _opens_inbox(old)
    response = client.post(
        "/console/logout", data={"csrf_token": csrf_of(client)}, follow_redirects=False
    )
    assert response.status_code == 303
    assert (
        'lb_console=""' in response.headers["set-cookie"]
        or "Max-Age=0" in response.headers["set-cookie"]
    )
    assert not _opens_inbox(old)  # the stolen copy of the cookie is dead too
    with _app_client("http://localhost") as other:
        assert other.get("/console/api/handoffs", headers=_as_cookie(old)).status_code == 401


def test_password_change_ends_every_session(client: TestClient, console_env: Console) -> None:
    with _app_client("http://localhost") as second_browser:
        assert login(second_browser).status_code == 303
        second = _session_cookie(second_browser)
    first = _session_cookie(client)
    assert _opens_inbox(first) and _opens_inbox(second)
    page = client.get("/console/password")
    assert page.status_code == 200 and 'name="new_password"' in page.text
    csrf = CSRF_RE.search(page.text)
    assert csrf
    response = client.post(
        "/console/password",
        data={
            "csrf_token": csrf.group(1),
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text[:500]
    assert not _opens_inbox(first) and not _opens_inbox(second)
    renewed = _session_cookie(client)
    assert renewed != first and _opens_inbox(renewed)  # this browser carries on
    with _app_client("http://localhost") as fresh:
        assert login(fresh).status_code == 401
        assert login(fresh, password=NEW_PASSWORD).status_code == 303


@pytest.mark.parametrize(("current", "new", "confirm", "status", "text"), [
    ("wrong password!", NEW_PASSWORD, NEW_PASSWORD, 401, "当前密码不对"),
    (PASSWORD, "short", "short", 400, "至少 10 个字符"),
    (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x", 400, "不一致"),
])  # fmt: skip
def test_password_change_refusals_keep_the_sessions(
    client: TestClient, current: str, new: str, confirm: str, status: int, text: str
) -> None:
    before = _session_cookie(client)
    response = client.post(
        "/console/password",
        data={
            "csrf_token": csrf_of(client),
            "current_password": current,
            "new_password": new,
            "confirm_password": confirm,
        },
    )
    assert response.status_code == status and text in response.text
    assert _opens_inbox(before)


def test_password_change_needs_csrf(client: TestClient) -> None:
    data = {
        "current_password": PASSWORD,
        "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD,
    }
    assert client.post("/console/password", data=data).status_code == 403


def test_sessions_expire(client: TestClient, console_env: Console) -> None:
    cookie = _session_cookie(client)
    engine = make_engine(console_env.url)
    try:
        with make_sessionmaker(engine)() as db:
            db.execute(
                update(StoredSession).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
            db.commit()
    finally:
        engine.dispose()
    assert not _opens_inbox(cookie)


def test_the_store_keeps_only_a_hash_of_the_session_id(
    client: TestClient, console_env: Console
) -> None:
    sid = auth.SessionCodec(SESSION_SECRET).loads(_session_cookie(client))
    assert sid
    engine = make_engine(console_env.url)
    try:
        with make_sessionmaker(engine)() as db:
            rows = db.scalars(select(StoredSession)).all()
    finally:
        engine.dispose()
    assert len(rows) == 1 and sid not in rows[0].id_hash and len(rows[0].id_hash) == 64
    assert rows[0].expires_at - rows[0].created_at == timedelta(seconds=auth.SESSION_MAX_AGE_S)


def test_a_cookie_signed_with_another_secret_is_refused(client: TestClient) -> None:
    sid = auth.SessionCodec(SESSION_SECRET).loads(_session_cookie(client))
    assert sid
    forged = auth.SessionCodec("another-secret-" + "y" * 20).dumps(sid)
    assert not _opens_inbox(forged)


def _post_routes() -> list[str]:
    """Every POST route of every router module of the console (found, not listed by hand)."""
    import web.console

    paths = []
    for module_info in pkgutil.walk_packages(web.console.__path__, "web.console."):
        module = importlib.import_module(module_info.name)
        router = getattr(module, "router", None)
        if not isinstance(router, APIRouter):
            continue
        for route in router.routes:
            if isinstance(route, APIRoute) and "POST" in (route.methods or set()):
                path = route.path if route.path.startswith(PREFIX) else PREFIX + route.path
                paths.append(path.replace("{conversation_id}", "1").replace("{message_id}", "1"))
    return sorted(set(paths))


def test_every_console_post_needs_the_csrf_token(client: TestClient) -> None:
    paths = _post_routes()
    assert "/console/logout" in paths and "/console/password" in paths and len(paths) >= 12
    for path in paths:
        if path == "/console/login":  # its own double-submit token, checked below
            continue
        assert client.post(path, data={"x": "1"}).status_code == 403, path
        assert client.post(path, data={"csrf_token": "forged"}).status_code == 403, path
        assert client.post(path, headers={"X-CSRF-Token": "forged"}).status_code == 403, path
        assert client.post(path, data={"csrf_token": "伪造的令牌"}).status_code == 403, path
    client.get("/console/login")
    refused = client.post("/console/login", data={"username": "founder", "password": PASSWORD})
    assert refused.status_code == 403
    forged = {"username": "founder", "password": PASSWORD, "csrf_token": "伪造的令牌"}
    assert client.post("/console/login", data=forged).status_code == 403


def test_a_generated_one_time_password_is_never_logged(
    console_env: Console, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str], tmp_path: object,
) -> None:  # fmt: skip
    monkeypatch.setenv("CONSOLE_PASSWORD", "")  # empty, so a checkout's .env cannot fill it in
    engine = make_engine(console_env.url)
    work = console_env.db_path.parent / "work-otp"
    try:
        with make_sessionmaker(engine)() as db, caplog.at_level(logging.DEBUG):
            path = auth.ensure_founder(db, "founder", None, work)
            assert path is not None
            username, password = path.read_text().split()
            assert username == "founder" and len(password) >= 12
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            assert password not in caplog.text and password not in capsys.readouterr().out
            user = db.scalar(select(ConsoleUser))
            assert user is not None and auth.verify_password(user.password_hash, password)
    finally:
        engine.dispose()


def test_a_login_never_logs_the_password(
    anon: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        login(anon, password="my-secret-guess")
        login(anon)
    assert "my-secret-guess" not in caplog.text and PASSWORD not in caplog.text


def _restart(monkeypatch: pytest.MonkeyPatch, password: str) -> None:
    """What a restart with another ``CONSOLE_PASSWORD`` in ``.env`` amounts to."""
    from tests.web.conftest import _reset_caches

    monkeypatch.setenv("CONSOLE_PASSWORD", password)
    _reset_caches()


def test_a_rotated_console_password_is_applied_at_restart(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_session = _session_cookie(client)
    rotated = "rotated in the env file 1"
    _restart(monkeypatch, rotated)
    with _app_client("http://localhost") as fresh:
        assert login(fresh).status_code == 401
        assert login(fresh, password=rotated).status_code == 303
    assert not _opens_inbox(old_session)
    # A password changed on the console page is not undone by an unchanged .env.
    with _app_client("http://localhost") as browser:
        assert login(browser, password=rotated).status_code == 303
        response = browser.post(
            "/console/password",
            data={
                "csrf_token": csrf_of(browser),
                "current_password": rotated,
                "new_password": NEW_PASSWORD,
                "confirm_password": NEW_PASSWORD,
            },
            follow_redirects=False,
        )
        assert response.status_code == 303
    _restart(monkeypatch, rotated)
    with _app_client("http://localhost") as fresh:
        assert login(fresh, password=rotated).status_code == 401
        assert login(fresh, password=NEW_PASSWORD).status_code == 303
