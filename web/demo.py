"""The demo shop page with the chat widget, the widget's asset and its rating endpoint.

Routes:

* ``GET /``: the demo page: the shop twice side by side (iframes), once as an anonymous
  visitor and once as a signed-in demo customer, so the difference shows at once.
* ``GET /shop``: the demo shop "Leaf & Bean / 叶与豆" with the widget's script tag;
  ``?customer=cus_0001`` signs in a demo customer (the server computes the identity hash),
  ``?lang=zh|en`` sets the page language, ``?open=1`` opens the widget at load.
* ``GET /widget/widget.js``: the built widget (``make widget`` builds ``widget/dist``).
* ``POST /widget/rating``: the end-of-chat rating, stored in ``conversations.rating``.
* ``GET /static/demo/<name>``: the demo shop's pictures.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from analytics import repo
from analytics.db import make_engine
from analytics.demo import DEMO_IDS, DEMO_LANGUAGES, DEMO_NAMES, DEMO_ZH
from analytics.models import CHANNEL_WEB, Conversation
from analytics.settings import REPO_ROOT
from web.settings import WebSettings, get_settings

logger = logging.getLogger(__name__)

WIDGET_DIST = REPO_ROOT / "widget" / "dist"
STATIC_DIR = Path(__file__).resolve().parent / "static" / "demo"
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))
CATALOGUE = REPO_ROOT / "analytics" / "data" / "catalogue.csv"
SESSION_ID_RE = re.compile(r"^[0-9a-f]{32}$")
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "86400",
}
HISTORY_TIMEOUT_S = 10.0

router = APIRouter()


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
    """The demo shop's products (from ``analytics/data/catalogue.csv``)."""
    with CATALOGUE.open(encoding="utf-8") as handle:
        return [
            Product(
                sku=row["sku"],
                name_zh=row["name_zh"],
                name_en=row["name_en"],
                category=row["category"],
                price=f"¥{int(row['price_cents']) / 100:.0f}",
            )
            for row in csv.DictReader(handle)
        ]


def identity_hash(customer_id: str, secret: str) -> str:
    """The identity hash a host website computes: hex HMAC-SHA256(secret, customer id)."""
    return hmac.new(secret.encode(), customer_id.encode(), hashlib.sha256).hexdigest()


def page_language(request: Request, customer: str | None) -> str:
    """``zh`` or ``en``: the ``lang`` parameter, else the demo customer's, else the browser's."""
    asked = request.query_params.get("lang", "")
    if asked in ("zh", "en"):
        return asked
    if customer:
        return DEMO_LANGUAGES[customer]
    accept = request.headers.get("accept-language", "").lower()
    return "en" if accept and not accept.startswith("zh") else "zh"


def widget_attributes(
    request: Request, settings: WebSettings, customer: str | None, open_at_start: bool
) -> dict[str, str]:
    """The ``data-*`` attributes of the widget's script tag for this visitor."""
    attributes = {
        "src": str(request.url_for("widget_asset", name="widget.js")),
        "data-server-url": settings.rasa_public_url.rstrip("/"),
        "data-lang": "auto",
    }
    if customer and settings.identity_secret:
        attributes["data-customer-id"] = customer
        attributes["data-customer-hash"] = identity_hash(customer, settings.identity_secret)
        attributes["data-customer-name"] = DEMO_NAMES[customer]
    if open_at_start:
        attributes["data-open"] = "true"
    return attributes


def snippet(attributes: dict[str, str]) -> str:
    """The script tag as a founder pastes it (for display; Jinja escapes it)."""
    lines = [f'<script src="{attributes["src"]}" defer']
    lines += [
        f'        {key}="{value}"'
        for key, value in attributes.items()
        if key.startswith("data-") and key not in ("data-open", "data-customer-name")
    ]
    return "\n".join(lines) + "></script>"


@router.get("/", response_class=HTMLResponse, name="demo_index")
def demo_index(request: Request) -> Response:
    """Two shops side by side: anonymous visitor and signed-in demo customer."""
    customer = request.query_params.get("customer", DEMO_ZH)
    customer = customer if customer in DEMO_IDS else DEMO_ZH
    lang = page_language(request, None)
    settings = get_settings()
    return TEMPLATES.TemplateResponse(
        request,
        "demo/index.html",
        {
            "lang": lang,
            "customer": customer,
            "customers": [(cid, DEMO_NAMES[cid]) for cid in DEMO_IDS],
            "customer_name": DEMO_NAMES[customer],
            "signed_in_ok": bool(settings.identity_secret),
            "snippet_anonymous": snippet(widget_attributes(request, settings, None, False)),
            "snippet_customer": snippet(widget_attributes(request, settings, customer, False)),
        },
    )


@router.get("/shop", response_class=HTMLResponse, name="demo_shop")
def demo_shop(request: Request) -> Response:
    """The demo shop with the widget, as an anonymous visitor or a signed-in demo customer."""
    settings = get_settings()
    asked = request.query_params.get("customer")
    customer = asked if asked in DEMO_IDS else None
    lang = page_language(request, customer)
    open_at_start = request.query_params.get("open") in ("1", "true")
    return TEMPLATES.TemplateResponse(
        request,
        "demo/shop.html",
        {
            "lang": lang,
            "customer": customer,
            "customer_name": DEMO_NAMES.get(customer or ""),
            "signed_in_ok": bool(settings.identity_secret),
            "products": catalogue(),
            "widget": widget_attributes(request, settings, customer, open_at_start),
        },
    )


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


@router.get("/static/demo/{name}", name="demo_static")
def demo_static(name: str) -> Response:
    """Pictures of the demo shop (e.g. what the founder sends in a chat)."""
    path = STATIC_DIR / name
    if "/" in name or name.startswith(".") or not path.is_file():
        return Response(status_code=404)
    return FileResponse(path, headers={"Cache-Control": "max-age=3600"})


class RatingIn(BaseModel):
    """An end-of-chat rating sent by the widget."""

    session_id: str = Field(max_length=64)
    rating: int = Field(ge=1, le=5)
    language: str = "zh"
    customer_id: str | None = Field(default=None, max_length=128)
    customer_hash: str | None = Field(default=None, max_length=128)


@lru_cache(maxsize=4)
def _engine(url: str) -> Engine:
    return make_engine(url)


def _session_exists(settings: WebSettings, session_id: str) -> bool:
    """Whether the widget channel knows this session (it has at least one message)."""
    url = f"{settings.rasa_url.rstrip('/')}/webhooks/widget/history/{session_id}"
    try:
        response = httpx.get(url, timeout=HISTORY_TIMEOUT_S)
    except httpx.HTTPError as error:
        logger.warning("Could not reach Rasa to check a rated session: %s", error)
        return False
    if response.status_code != 200:
        return False
    messages: list[Any] = response.json().get("messages") or []
    return any(m.get("role") == "user" for m in messages)


@router.options("/widget/rating", include_in_schema=False)
def rating_preflight() -> Response:
    """CORS preflight: the widget may run on the founder's own site."""
    return Response(status_code=204, headers=CORS_HEADERS)


@router.post("/widget/rating", name="widget_rating")
def widget_rating(body: RatingIn) -> JSONResponse:
    """Stores the rating in the conversation's row of the store (``conversations.rating``).

    The session id is the capability (only the chat's own browser knows it); the session
    must exist on the Rasa server. A valid identity hash links a new row to the customer.
    """
    settings = get_settings()
    if not SESSION_ID_RE.match(body.session_id):
        return JSONResponse({"error": "unknown session"}, status_code=404, headers=CORS_HEADERS)
    if not _session_exists(settings, body.session_id):
        return JSONResponse({"error": "unknown session"}, status_code=404, headers=CORS_HEADERS)
    language = body.language if body.language in ("zh", "en") else "zh"
    with Session(_engine(settings.database_url)) as session:
        customer_pk = None
        if (
            body.customer_id
            and body.customer_hash
            and settings.identity_secret
            and hmac.compare_digest(
                identity_hash(body.customer_id, settings.identity_secret),
                body.customer_hash.strip().lower(),
            )
        ):
            customer = repo.get_customer(session, body.customer_id)
            customer_pk = customer.id if customer is not None else None
        # An existing row keeps its state (a resolved chat is not re-opened by its rating).
        conversation = session.scalars(
            select(Conversation).where(Conversation.sender_id == body.session_id)
        ).first() or repo.upsert_conversation(
            session,
            body.session_id,
            customer_id=customer_pk,
            channel=CHANNEL_WEB,
            language=language,
            at=datetime.now(UTC),
        )
        conversation.rating = body.rating
        session.commit()
    logger.info("Conversation %s rated %d", body.session_id, body.rating)
    return JSONResponse({"ok": True, "rating": body.rating}, headers=CORS_HEADERS)
