"""The demo shop page with the chat widget, the widget's asset and its rating endpoint.

Demo-only routes (served only while :func:`analytics.core.settings.demo_mode` is true, checked on
every request, so importing a founder's own shop turns them off without a restart; 404
otherwise):

* ``GET /``: the demo page: the shop twice side by side (iframes), once as an anonymous
  visitor and once as a signed-in demo customer, so the difference shows at once.
* ``GET /shop``: the demo shop "Leaf & Bean / 叶与豆" with the widget's script tag;
  ``?customer=cus_0001`` signs in a demo customer: the page signs a one-hour identity token
  with ``DEMO_IDENTITY_SECRET`` (never the production ``IDENTITY_SECRET``; without it the
  page says so and the widget runs anonymously), ``?lang=zh|en`` sets the page language,
  ``?open=1`` opens the widget at load. A signed-in customer also sees a link code (signed
  with ``DEMO_IDENTITY_SECRET``, ``LINK_CODE_TTL_S``) to link a messaging account (Telegram,
  WeChat...: docs/channels/linking.md), with the Telegram deep link when
  ``TELEGRAM_BOT_USERNAME`` is set.
* ``GET /static/demo/<name>``: the demo shop's pictures.

Always served:

* ``GET /widget/widget.js``: the built widget (``make widget`` builds ``widget/dist``).

The end-of-chat rating (``POST /widget/rating``) is :mod:`web.rating`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from analytics.core.identity import (
    KEY_CUSTOMER_ID,
    KEY_EXPIRES_AT,
    KEY_TOKEN,
    identity_metadata,
    link_code,
    telegram_bot_username,
    telegram_deep_link,
)
from analytics.core.settings import REPO_ROOT, demo_mode
from analytics.core.settings import get_settings as core_settings
from analytics.core.vocabulary import LANG_EN, LANG_ZH, LANGUAGES
from analytics.demo.customers import DEMO_IDS, DEMO_LANGUAGES, DEMO_NAMES, DEMO_ZH
from analytics.store.catalogue import load_catalogue
from web.security import CSP_HEADER, FRAME_OPTIONS_HEADER, NONCE_KEY
from web.settings import WebSettings, get_settings

logger = logging.getLogger(__name__)

WIDGET_DIST = REPO_ROOT / "widget" / "dist"
STATIC_DIR = Path(__file__).resolve().parent / "static" / "demo"
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))
DEMO_TOKEN_TTL_S = 3600


def demo_secret() -> str | None:
    """``DEMO_IDENTITY_SECRET`` from the settings, or ``None`` when unset (or blank)."""
    return get_settings().demo_identity_secret or None


def _origins(url: str) -> list[str]:
    """The HTTP and WebSocket origins of a URL (for the demo pages' CSP), if it has one."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return []
    socket_scheme = "wss" if parsed.scheme == "https" else "ws"
    return [f"{parsed.scheme}://{parsed.netloc}", f"{socket_scheme}://{parsed.netloc}"]


def demo_csp(settings: WebSettings, *, framed: bool) -> str:
    """The demo pages' policy: the widget's socket to Rasa, and its injected stylesheet.

    Scripts still come only from this origin. Styles may be inline because the widget
    injects its stylesheet into its shadow root (it cannot know the page's nonce). The shop
    may be framed by this origin only (the demo page shows it twice in iframes).

    Args:
        settings: The web settings (``RASA_PUBLIC_URL``).
        framed: Whether this origin may frame the page.

    Returns:
        The ``Content-Security-Policy`` value.
    """
    rasa = _origins(settings.rasa_public_url)
    directives = [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        " ".join(["img-src 'self' data: https:", *rasa[:1]]),
        " ".join(["connect-src 'self'", *rasa]),
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'self'" if framed else "frame-ancestors 'none'",
    ]
    return "; ".join(directives)


class DemoRoute(APIRoute):
    """A route that exists only in demo mode (404 otherwise, decided per request)."""

    def get_route_handler(self) -> Any:  # noqa: ANN401 - Starlette's handler type
        """The route's handler, answering 404 whenever demo mode is off."""
        handler = super().get_route_handler()

        async def demo_only(request: Request) -> Response:
            if not demo_mode():
                return Response("Not Found", status_code=404, media_type="text/plain")
            response: Response = await handler(request)
            return response

        return demo_only


router = APIRouter()
demo_router = APIRouter(route_class=DemoRoute)


@dataclass(frozen=True)
class Product:
    """One product of the demo catalogue."""

    sku: str
    name_zh: str
    name_en: str
    category: str
    price: str


@lru_cache(maxsize=1)
def catalogue() -> list[Product]:
    """The demo shop's products (:func:`analytics.store.catalogue.load_catalogue`)."""
    return [
        Product(
            sku=row.sku,
            name_zh=row.name_zh,
            name_en=row.name_en,
            category=row.category,
            price=f"¥{row.price_cents / 100:.0f}",
        )
        for row in load_catalogue()
    ]


def page_language(request: Request, customer: str | None) -> str:
    """``zh`` or ``en``: the ``lang`` parameter, else the demo customer's, else the browser's."""
    asked = request.query_params.get("lang", "")
    if asked in LANGUAGES:
        return asked
    if customer:
        return DEMO_LANGUAGES[customer]
    accept = request.headers.get("accept-language", "").lower()
    return LANG_EN if accept and not accept.startswith(LANG_ZH) else LANG_ZH


def widget_attributes(
    request: Request,
    settings: WebSettings,
    customer: str | None,
    open_at_start: bool,
    secret: str | None,
) -> dict[str, str]:
    """The ``data-*`` attributes of the widget's script tag for this visitor.

    Args:
        request: The page request (for the widget's URL).
        settings: The web settings (Rasa's public URL).
        customer: A demo customer id to sign in, or ``None`` for an anonymous visitor.
        open_at_start: Open the widget when the page loads.
        secret: ``DEMO_IDENTITY_SECRET``; without it the customer is not signed in.

    Returns:
        Attribute name to value, ``src`` first; a signed-in customer gets
        ``data-customer-id``, ``data-customer-expires`` and ``data-customer-token``.
    """
    attributes = {
        "src": str(request.url_for("widget_asset", name="widget.js")),
        "data-server-url": settings.rasa_public_url.rstrip("/"),
        "data-lang": "auto",
    }
    if customer and secret:
        claim = identity_metadata(customer, secret, ttl_seconds=DEMO_TOKEN_TTL_S)
        attributes["data-customer-id"] = str(claim[KEY_CUSTOMER_ID])
        attributes["data-customer-expires"] = str(claim[KEY_EXPIRES_AT])
        attributes["data-customer-token"] = str(claim[KEY_TOKEN])
        attributes["data-customer-name"] = DEMO_NAMES[customer]
    if open_at_start:
        attributes["data-open"] = "true"
    return attributes


@dataclass(frozen=True)
class LinkOffer:
    """What the demo shop shows a signed-in customer to link a messaging account."""

    code: str
    minutes: int
    telegram_url: str | None


def link_offer(customer: str | None, secret: str | None) -> LinkOffer | None:
    """A fresh link code for a signed-in demo customer (``None`` when anonymous or unsigned).

    Args:
        customer: The demo customer id, or ``None``.
        secret: ``DEMO_IDENTITY_SECRET`` (never the production secret).

    Returns:
        The code, its lifetime in minutes and the Telegram deep link if a bot is configured.
    """
    if not customer or not secret:
        return None
    ttl = core_settings().link_code_ttl_s
    made = link_code(customer, secret, ttl_seconds=ttl)
    username = telegram_bot_username(core_settings().telegram_bot_username)
    return LinkOffer(
        code=made.code,
        minutes=max(1, ttl // 60),
        telegram_url=telegram_deep_link(username, made.code) if username else None,
    )


def snippet(attributes: dict[str, str]) -> str:
    """The script tag as a founder pastes it (for display; Jinja escapes it)."""
    lines = [f'<script src="{attributes["src"]}" defer']
    lines += [
        f'        {key}="{value}"'
        for key, value in attributes.items()
        if key.startswith("data-") and key not in ("data-open", "data-customer-name")
    ]
    return "\n".join(lines) + "></script>"


def _page(request: Request, template: str, context: dict[str, Any], *, framed: bool) -> Response:
    response = TEMPLATES.TemplateResponse(
        request, template, {**context, "csp_nonce": getattr(request.state, NONCE_KEY, "")}
    )
    response.headers[CSP_HEADER] = demo_csp(get_settings(), framed=framed)
    if framed:
        response.headers[FRAME_OPTIONS_HEADER] = "SAMEORIGIN"
    return response


@demo_router.get("/", response_class=HTMLResponse, name="demo_index")
def demo_index(request: Request) -> Response:
    """Two shops side by side: anonymous visitor and signed-in demo customer."""
    customer = request.query_params.get("customer", DEMO_ZH)
    customer = customer if customer in DEMO_IDS else DEMO_ZH
    settings = get_settings()
    secret = demo_secret()
    return _page(
        request,
        "demo/index.html",
        {
            "lang": page_language(request, None),
            "customer": customer,
            "customers": [(cid, DEMO_NAMES[cid]) for cid in DEMO_IDS],
            "customer_name": DEMO_NAMES[customer],
            "signed_in_ok": bool(secret),
            "snippet_anonymous": snippet(widget_attributes(request, settings, None, False, secret)),
            "snippet_customer": snippet(
                widget_attributes(request, settings, customer, False, secret)
            ),
        },
        framed=False,
    )


@demo_router.get("/shop", response_class=HTMLResponse, name="demo_shop")
def demo_shop(request: Request) -> Response:
    """The demo shop with the widget, as an anonymous visitor or a signed-in demo customer."""
    settings = get_settings()
    secret = demo_secret()
    asked = request.query_params.get("customer")
    customer = asked if asked in DEMO_IDS else None
    open_at_start = request.query_params.get("open") in ("1", "true")
    return _page(
        request,
        "demo/shop.html",
        {
            "lang": page_language(request, customer),
            "customer": customer,
            "customer_name": DEMO_NAMES.get(customer or ""),
            "signed_in_ok": bool(secret),
            "products": catalogue(),
            "widget": widget_attributes(request, settings, customer, open_at_start, secret),
            "link": link_offer(customer, secret),
        },
        framed=True,
    )


@demo_router.get("/static/demo/{name}", name="demo_static")
def demo_static(name: str) -> Response:
    """Pictures of the demo shop (e.g. what the founder sends in a chat)."""
    path = STATIC_DIR / name
    if "/" in name or name.startswith(".") or not path.is_file():
        return Response(status_code=404)
    return FileResponse(path, headers={"Cache-Control": "max-age=3600"})


@router.api_route("/widget/{name}", methods=["GET", "HEAD"], name="widget_asset")
def widget_asset(name: str) -> Response:
    """The built widget script (and its source map) at a stable URL."""
    if name not in ("widget.js", "widget.js.map"):
        return Response(status_code=404)
    path = WIDGET_DIST / name
    if not path.is_file():
        message = "The chat widget is not built: run `make widget`."
        logger.error(message)
        return Response(
            f"console.error({message!r});",
            status_code=503,
            media_type="application/javascript",
        )
    media_type = "application/javascript" if name.endswith(".js") else "application/json"
    return FileResponse(
        path,
        media_type=media_type,
        headers={"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"},
    )


def setup(app: FastAPI) -> None:
    """Includes the demo-only routes (they answer 404 whenever demo mode is off)."""
    app.include_router(demo_router)
