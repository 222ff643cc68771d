"""HTTP routes of the founder's alert apps: ``/founder/hooks/telegram`` and ``/founder/hooks/wecom``.

Thin: every request is size-capped (:mod:`web.founder_hooks.door`), authenticated by the
app's signature before its body is read or parsed (:mod:`~web.founder_hooks.telegram`,
:mod:`~web.founder_hooks.wecom`), routed to an alert (:mod:`~web.founder_hooks.routing`),
answered, and then carried out (:mod:`~web.founder_hooks.deliver`). A refused request is
answered 401/403 (400 malformed, 413 too big) and leaves nothing in any store. These routes
are outside the console's login and CSRF (the platforms cannot hold a session); the web
app's per-address rate limit and security headers apply to them (:mod:`web.app`).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from web.founder_hooks import telegram, texts, wecom
from web.founder_hooks.config import HookSettings, get_hook_settings
from web.founder_hooks.deliver import carry_out, writer
from web.founder_hooks.door import REFUSALS, BodyTooLarge, Refused, read_capped
from web.founder_hooks.message import KIND_TELEGRAM, KIND_WECOM, FounderMessage
from web.founder_hooks.routing import Plan, event_key, plan
from web.security import client_address
from web.settings import get_settings

PREFIX = "/founder/hooks"
SEEN_CAPACITY = 2048
NOT_CONFIGURED = "not configured"

router = APIRouter(prefix=PREFIX, include_in_schema=False)


class SeenDeliveries:
    """Platform deliveries this process has taken (a re-delivery is answered, not redone)."""

    def __init__(self, capacity: int = SEEN_CAPACITY) -> None:
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def take(self, key: str) -> bool:
        """Marks ``key`` taken; ``False`` when it already was."""
        with self._lock:
            if key in self._keys:
                return False
            self._keys[key] = None
            if len(self._keys) > self._capacity:
                self._keys.popitem(last=False)
            return True

    def clear(self) -> None:
        """Forgets every key (tests)."""
        with self._lock:
            self._keys.clear()

    def forget(self, key: str) -> None:
        """Un-marks ``key`` (its processing failed: a retry must be processed)."""
        with self._lock:
            self._keys.pop(key, None)


SEEN = SeenDeliveries()


def _address(request: Request) -> str:
    peer = request.client.host if request.client else None
    return client_address(peer, request.headers, get_settings().trusted_proxies)


def _refused(request: Request, hook: str, refusal: Refused) -> Response:
    REFUSALS.refused(hook, refusal.reason, _address(request))
    return PlainTextResponse("refused", status_code=refusal.status)


def _plan_now(settings: HookSettings, message: FounderMessage) -> Plan:
    with writer()() as db:
        return plan(db, settings, message)


async def _accept(
    settings: HookSettings, message: FounderMessage, background: BackgroundTasks
) -> None:
    key = event_key(message)
    if not SEEN.take(key):
        return
    try:
        decided = await run_in_threadpool(_plan_now, settings, message)
    except Exception:
        SEEN.forget(key)
        raise
    background.add_task(carry_out, settings, message, decided)


@router.post("/telegram")
async def telegram_hook(request: Request, background: BackgroundTasks) -> Response:
    """A webhook delivery of the founder's Telegram alert bot."""
    settings = get_hook_settings()
    if not settings.telegram_on:
        return PlainTextResponse(NOT_CONFIGURED, status_code=404)
    try:
        telegram.verify(request.headers.get(telegram.SECRET_HEADER), settings.telegram_secret or "")
        body = await read_capped(request)
        message = await run_in_threadpool(telegram.parse, body, settings.telegram_chat_id)
    except BodyTooLarge:
        return _refused(request, KIND_TELEGRAM, Refused(413, "body too large"))
    except Refused as refusal:
        return _refused(request, KIND_TELEGRAM, refusal)
    except telegram.NotPrivate as group:
        _explain_group(settings, body, group, background)
        return Response(status_code=200)
    except telegram.Ignored:
        return Response(status_code=200)
    await _accept(settings, message, background)
    return Response(status_code=200)


def _explain_group(
    settings: HookSettings, body: bytes, group: telegram.NotPrivate, background: BackgroundTasks
) -> None:
    """Tells a group why a message meant for the bot was not passed on (once per update)."""
    if not group.addressed:
        return
    key = f"{KIND_TELEGRAM}:group:{hashlib.sha256(body).hexdigest()}"
    if SEEN.take(key):
        reply_to = None if group.message_id is None else str(group.message_id)
        background.add_task(telegram.send_ack, settings, texts.GROUP_REFUSED, reply_to)


@router.get("/wecom")
def wecom_verify(
    request: Request,
    msg_signature: str = "",
    timestamp: str = "",
    nonce: str = "",
    echostr: str = "",
) -> Response:
    """WeCom's callback URL verification: the decrypted ``echostr``, or 401/403."""
    settings = get_hook_settings()
    if not settings.wecom_on:
        return PlainTextResponse(NOT_CONFIGURED, status_code=404)
    try:
        echo = wecom.verify_url(settings, msg_signature, timestamp, nonce, echostr)
    except Refused as refusal:
        return _refused(request, KIND_WECOM, refusal)
    return PlainTextResponse(echo)


@router.post("/wecom")
async def wecom_hook(
    request: Request,
    background: BackgroundTasks,
    msg_signature: str = "",
    timestamp: str = "",
    nonce: str = "",
) -> Response:
    """An encrypted message of the founder to the WeCom alert app."""
    settings = get_hook_settings()
    if not settings.wecom_on:
        return PlainTextResponse(NOT_CONFIGURED, status_code=404)
    try:
        wecom.precheck(msg_signature, timestamp, nonce)
        body = await read_capped(request)
        message = await run_in_threadpool(
            wecom.parse, settings, body, msg_signature, timestamp, nonce
        )
    except BodyTooLarge:
        return _refused(request, KIND_WECOM, Refused(413, "body too large"))
    except Refused as refusal:
        return _refused(request, KIND_WECOM, refusal)
    except wecom.Ignored:
        return PlainTextResponse("")
    await _accept(settings, message, background)
    return PlainTextResponse("")
