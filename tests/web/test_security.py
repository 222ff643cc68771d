"""Security headers on every kind of response, the console's per-address rate limit and the
client address behind trusted proxies (web/security.py), against the real app.
"""

from __future__ import annotations

import logging
import re
import time
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import Console, login
from web import settings as web_settings
from web.security import (
    MAX_TRACKED_ADDRESSES,
    RATE_WINDOW_S,
    FixedWindowCounter,
    client_address,
    parse_networks,
    rate_key,
)

HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}
PUBLIC_CLIENT = ("203.0.113.7", 40000)


def _app(**kwargs: object) -> TestClient:
    from web.app import create_app

    web_settings.get_settings.cache_clear()
    return TestClient(create_app(), base_url="http://localhost", **kwargs)  # type: ignore[arg-type]


def _assert_headers(response: object, where: str, *, framed: bool = False) -> str:
    headers = response.headers  # type: ignore[attr-defined]
    for name, value in HEADERS.items():
        expected = "SAMEORIGIN" if framed and name == "x-frame-options" else value
        assert headers.get(name) == expected, (where, name, headers.get(name))
    csp = headers.get("content-security-policy", "")
    assert "default-src 'self'" in csp and "object-src 'none'" in csp, (where, csp)
    assert "base-uri 'none'" in csp and "frame-ancestors" in csp, (where, csp)
    script_src = re.search(r"script-src ([^;]*)", csp)
    assert script_src and "'unsafe-inline'" not in script_src.group(1), (where, csp)
    assert "unsafe-eval" not in csp, where
    return csp


class _Scripts(HTMLParser):
    """Collects every script tag and every inline event handler of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.handlers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts.append(dict(attrs))
        self.handlers += [name for name, _ in attrs if name.startswith("on")]


def _assert_no_inline_script(html: str, csp: str, where: str) -> None:
    parser = _Scripts()
    parser.feed(html)
    assert not parser.handlers, (where, parser.handlers)
    nonce = re.search(r"'nonce-([^']+)'", csp)
    for script in parser.scripts:
        assert script.get("src") or (nonce and script.get("nonce") == nonce.group(1)), (
            where,
            script,
        )


def test_every_kind_of_response_has_the_headers(
    client: TestClient, console_env: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEMO_MODE", "on")
    pages = ["/console/inbox", "/console/customers", "/console/insights", "/console/teach",
             "/console/dead-letters", "/console/password", "/console/customers/cus_0001"]  # fmt: skip
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        csp = _assert_headers(response, path)
        assert "'unsafe-inline'" not in csp, path  # the console has no inline code at all
        _assert_no_inline_script(response.text, csp, path)
    others = {
        "/console/api/handoffs": 200,  # JSON
        "/console/static/console.css": 200,  # static file
        "/console/static/nothing.css": 404,
        "/health": 200,
        "/widget/widget.js": (200, 503),  # built or not
        "/no/such/page": 404,
        "/console/conversations/999999999": 404,
    }
    for path, status in others.items():
        response = client.get(path)
        assert response.status_code in (status if isinstance(status, tuple) else (status,)), path
        _assert_headers(response, path)
    redirect = client.get("/console", follow_redirects=False)
    assert redirect.status_code == 303
    _assert_headers(redirect, "redirect")
    for path, framed in (("/", False), ("/shop", True), ("/shop?customer=cus_0001", True)):
        response = client.get(path)
        assert response.status_code == 200, path
        csp = _assert_headers(response, path, framed=framed)
        _assert_no_inline_script(response.text, csp, path)
    monkeypatch.setenv("DEMO_MODE", "off")
    _assert_headers(client.get("/shop"), "demo off")


def test_login_page_and_its_errors_have_the_headers(anon: TestClient) -> None:
    page = anon.get("/console/login")
    _assert_no_inline_script(page.text, _assert_headers(page, "login"), "login")
    _assert_headers(login(anon, password="wrong"), "401")
    anon.post("/console/login", data={})
    _assert_headers(anon.post("/console/login", data={}), "403")


def test_each_response_gets_its_own_nonce(anon: TestClient) -> None:
    first = anon.get("/console/login").headers["content-security-policy"]
    second = anon.get("/console/login").headers["content-security-policy"]
    nonces = [re.search(r"'nonce-([^']+)'", csp) for csp in (first, second)]
    assert nonces[0] and nonces[1] and nonces[0].group(1) != nonces[1].group(1)


def test_console_rate_limit_per_address(
    console_env: Console, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("CONSOLE_RATE_PER_MINUTE", "5")
    with _app(client=PUBLIC_CLIENT) as client, caplog.at_level(logging.WARNING):
        codes = [client.get("/console/login").status_code for _ in range(5)]
        assert codes == [200] * 5
        refused = client.get("/console/login")
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert "请求太频繁" in refused.text and "Too many requests" in refused.text
        _assert_headers(refused, "429")
        api = client.get("/console/api/handoffs")
        assert api.status_code == 429 and api.json()["error"] == "rate_limited"
        assert client.get("/health").status_code == 200  # only the console is limited
        assert caplog.text.count("Console rate limit reached") == 1  # once per window
    with _app(client=("203.0.113.8", 40000)) as other:
        assert other.get("/console/login").status_code == 200  # another address
    with _app(client=("127.0.0.1", 40000)) as local:
        assert {local.get("/console/login").status_code for _ in range(8)} == {200}


def test_loopback_is_limited_when_the_exemption_is_off(
    console_env: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONSOLE_RATE_PER_MINUTE", "3")
    monkeypatch.setenv("CHAT_RATE_EXEMPT_LOOPBACK", "false")
    with _app(client=("127.0.0.1", 40000)) as local:
        codes = [local.get("/console/login").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


def test_forwarded_client_behind_a_trusted_proxy(
    console_env: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONSOLE_RATE_PER_MINUTE", "3")
    monkeypatch.setenv("CHAT_TRUSTED_PROXIES", "127.0.0.1")
    with _app(client=("127.0.0.1", 40000)) as proxy:
        one = {"X-Forwarded-For": "198.51.100.1"}
        two = {"X-Forwarded-For": "198.51.100.2"}
        codes = [proxy.get("/console/login", headers=one).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        assert proxy.get("/console/login", headers=two).status_code == 200
        assert proxy.get("/console/login").status_code == 200  # the proxy itself: loopback


def test_client_address() -> None:
    trusted = parse_networks("10.0.0.0/8, 127.0.0.1, not-an-address")
    assert len(trusted) == 2
    xff = {"x-forwarded-for": "1.2.3.4, 198.51.100.9, 10.1.1.1"}
    assert client_address("127.0.0.1", xff, trusted) == "198.51.100.9"
    assert client_address("203.0.113.5", xff, trusted) == "203.0.113.5"  # untrusted peer
    assert client_address("127.0.0.1", {}, trusted) == "127.0.0.1"
    assert client_address("127.0.0.1", {"x-forwarded-for": "garbage"}, trusted) == "127.0.0.1"
    assert client_address("127.0.0.1", xff, ()) == "127.0.0.1"
    assert client_address(None, {}, trusted) == "?"


def test_ipv6_clients_are_counted_per_64_network(
    console_env: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    from web.app import create_app

    monkeypatch.setenv("CONSOLE_RATE_PER_MINUTE", "3")
    web_settings.get_settings.cache_clear()
    app = create_app()
    # One subscriber's /64: every address of it shares one allowance.
    same_net = [f"2001:db8:1:2::{n:x}" for n in range(1, 5)]
    codes = []
    for address in same_net:
        with TestClient(app, base_url="http://localhost", client=(address, 40000)) as one:
            codes.append(one.get("/console/login").status_code)
    assert codes == [200, 200, 200, 429]
    with TestClient(app, base_url="http://localhost", client=("2001:db8:1:3::1", 1)) as other:
        assert other.get("/console/login").status_code == 200  # the next /64


def test_rate_key() -> None:
    assert rate_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd") == "2001:db8:1:2::/64"
    assert rate_key("2001:DB8:1:2::1") == rate_key("2001:db8:1:2:ffff::9")
    assert rate_key("2001:db8:1:3::1") != rate_key("2001:db8:1:2::1")
    assert rate_key("::ffff:198.51.100.7") == "198.51.100.7"
    assert rate_key("198.51.100.7") == "198.51.100.7"
    assert rate_key("?") == "?"


def test_rate_table_is_a_capped_lru_with_constant_work_per_request() -> None:
    counter = FixedWindowCounter()
    now = 1000.0
    # Twice the cap of distinct clients, all inside one window (nothing has expired).
    started = time.perf_counter()
    for i in range(2 * MAX_TRACKED_ADDRESSES):
        assert counter.hit(f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}", 5, now) == (0, False)
    elapsed = time.perf_counter() - started
    assert len(counter) == MAX_TRACKED_ADDRESSES  # capped, not rebuilt and kept growing
    # Rebuilding a 10,000-entry table on each of 10,000 requests takes seconds; O(1) is ms.
    assert elapsed < 2.0, elapsed
    # A client seen recently keeps its count; the least recently seen were dropped.
    hot = "192.0.2.1"
    for _ in range(5):
        counter.hit(hot, 5, now)
    for i in range(MAX_TRACKED_ADDRESSES - 1):
        counter.hit(f"172.16.{i >> 8}.{i & 255}", 5, now)
    assert counter.hit(hot, 5, now + 1) == (RATE_WINDOW_S - 1, True)
    assert counter.hit("10.0.0.0", 5, now) == (0, False)  # evicted long ago: a fresh count
