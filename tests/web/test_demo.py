"""The demo shop page (web/demo.py): only in demo mode, signed with the demo secret only,
expiring tokens that the doors' verification accepts (the rating endpoint: test_rating.py).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from html import unescape

import pytest
from fastapi.testclient import TestClient

from analytics.core.identity import verify_claim
from tests.web.conftest import Console
from web import settings as web_settings
from web.demo import DEMO_TOKEN_TTL_S

DEMO_SECRET = "demo-secret-" + "d" * 20
PRODUCTION_SECRET = "production-secret-" + "p" * 20
JWT_SECRET = "jwt-secret-" + "j" * 24
SESSION_ID = "0123456789abcdef0123456789abcdef"
ATTR_RE = re.compile(r'(data-[a-z-]+)="([^"]*)"')


@pytest.fixture()
def shop(console_env: Console, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The real app in demo mode, with a demo secret and a different production secret."""
    from web.app import create_app

    monkeypatch.setenv("DEMO_MODE", "on")
    monkeypatch.setenv("DEMO_IDENTITY_SECRET", DEMO_SECRET)
    monkeypatch.setenv("IDENTITY_SECRET", PRODUCTION_SECRET)
    web_settings.get_settings.cache_clear()
    with TestClient(create_app(), base_url="http://localhost") as client:
        yield client


def _widget_attributes(html: str) -> dict[str, str]:
    tag = re.search(r"<script [^>]*data-server-url[^>]*>", html)
    assert tag, html[-800:]
    return {name: unescape(value) for name, value in ATTR_RE.findall(tag.group(0))}


def test_signed_in_demo_customer_gets_an_expiring_demo_token(shop: TestClient) -> None:
    page = shop.get("/shop?customer=cus_0001")
    assert page.status_code == 200
    attributes = _widget_attributes(page.text)
    expires_at = int(attributes["data-customer-expires"])
    claim: dict[str, object] = {
        "customer_id": attributes["data-customer-id"],
        "expires_at": expires_at,
        "customer_token": attributes["data-customer-token"],
    }
    assert claim["customer_id"] == "cus_0001"
    assert abs(expires_at - (time.time() + DEMO_TOKEN_TTL_S)) < 30
    assert verify_claim(claim, DEMO_SECRET) == "cus_0001"
    assert verify_claim(claim, PRODUCTION_SECRET) is None  # never the production secret
    assert verify_claim(claim, DEMO_SECRET, now=expires_at + 1) is None
    assert "customer-hash" not in page.text and "customer_hash" not in page.text


def test_anonymous_visitor_and_unknown_customer_get_no_token(shop: TestClient) -> None:
    for path in ("/shop", "/shop?customer=cus_9999", "/shop?customer=%3Cscript%3E"):
        page = shop.get(path)
        assert page.status_code == 200
        attributes = _widget_attributes(page.text)
        assert "data-customer-token" not in attributes and "data-customer-id" not in attributes
        assert "<script>" not in page.text.split("<body>", 1)[1].replace("<script ", "")


def test_demo_index_shows_both_panes_and_the_snippets(shop: TestClient) -> None:
    page = shop.get("/?lang=en&customer=cus_0002")
    assert page.status_code == 200
    assert page.text.count("<iframe") == 2
    assert "data-customer-token=" in unescape(page.text)
    assert "anonymous-notice" not in page.text


def test_without_a_demo_secret_the_shop_runs_anonymously_with_a_note(
    shop: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEMO_IDENTITY_SECRET", "")  # empty, so .env cannot fill it in
    web_settings.get_settings.cache_clear()
    page = shop.get("/shop?customer=cus_0001")
    assert page.status_code == 200
    assert "data-customer-token" not in page.text and "data-customer-id" not in page.text
    assert "DEMO_IDENTITY_SECRET" in page.text and "anonymous-notice" in page.text
    assert "匿名" in shop.get("/shop?customer=cus_0001&lang=zh").text
    assert "anonymous visitor" in shop.get("/shop?customer=cus_0001&lang=en").text
    assert "anonymous-notice" in shop.get("/?lang=en").text
    assert page.text.count('class="card"') > 5  # the shop itself is there


@pytest.mark.parametrize(
    "setting", [{"DEMO_MODE": "off"}, {"DEMO_MODE": "auto", "PROFILE": "production"}]
)
def test_outside_demo_mode_the_demo_pages_do_not_exist(
    shop: TestClient, monkeypatch: pytest.MonkeyPatch, setting: dict[str, str]
) -> None:
    assert shop.get("/shop?customer=cus_0001").status_code == 200
    for name, value in setting.items():
        monkeypatch.setenv(name, value)
    web_settings.get_settings.cache_clear()  # demo mode itself is checked on every request
    for path in ("/", "/shop", "/shop?customer=cus_0001", "/static/demo/teacup.svg"):
        response = shop.get(path)
        assert response.status_code == 404, path
        assert "customer-token" not in response.text
    assert shop.get("/widget/widget.js").status_code in (200, 503)  # the widget stays
    assert shop.get("/console/login").status_code == 200


def test_the_shop_may_be_framed_by_the_demo_page_only(
    shop: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RASA_PUBLIC_URL", "https://chat.example.com:5005")
    web_settings.get_settings.cache_clear()
    page = shop.get("/shop")
    csp = page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "SAMEORIGIN" and "frame-ancestors 'self'" in csp
    assert "connect-src 'self' https://chat.example.com:5005 wss://chat.example.com:5005" in csp
    assert "script-src 'self';" in csp
    index = shop.get("/")
    assert index.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in index.headers["content-security-policy"]


def _link_code(html: str) -> str:
    found = re.search(r'data-testid="link-code-value">([^<]+)<', html)
    assert found, html[-1500:]
    return unescape(found.group(1))


def test_a_signed_in_customer_sees_a_demo_signed_link_code(
    shop: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.channels.identity import verify_link_code  # the bot's twin (stdlib only)

    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "")
    page = shop.get("/shop?customer=cus_0001&lang=en")
    code = _link_code(page.text)
    assert verify_link_code(code, (DEMO_SECRET,)) == "cus_0001"
    assert verify_link_code(code, (PRODUCTION_SECRET,)) is None  # never the production secret
    assert verify_link_code(code, (DEMO_SECRET,), time.time() + 24 * 3600 + 60) is None
    assert "send this code once to link your account" in page.text
    assert "t.me" not in page.text
    zh = shop.get("/shop?customer=cus_0001&lang=zh").text
    assert "绑定你的账户" in zh and verify_link_code(_link_code(zh), (DEMO_SECRET,)) == "cus_0001"


def test_the_telegram_deep_link_appears_when_a_bot_is_configured(
    shop: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "@leafbean_demo_bot")
    page = shop.get("/shop?customer=cus_0002&lang=en")
    code = _link_code(page.text)
    assert f'href="https://t.me/leafbean_demo_bot?start={code}"' in page.text
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", '"><script>x</script>')
    assert "t.me" not in shop.get("/shop?customer=cus_0002").text  # not a user name: no link


def test_anonymous_visitors_and_unsigned_pages_get_no_link_code(
    shop: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    for path in ("/shop", "/shop?customer=cus_9999"):
        assert 'data-testid="link-code"' not in shop.get(path).text
    monkeypatch.setenv("DEMO_IDENTITY_SECRET", "")
    web_settings.get_settings.cache_clear()
    assert 'data-testid="link-code"' not in shop.get("/shop?customer=cus_0001").text
