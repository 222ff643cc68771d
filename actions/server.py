"""The action server's HTTP app: rasa-sdk's, with its doors closed.

Only Rasa calls the action server, so compared with rasa-sdk's defaults:

- it binds ``ACTION_SERVER_HOST`` (``127.0.0.1`` by default, see
  :mod:`actions.settings`);
- when ``ACTION_SERVER_TOKEN`` is set, every request but ``GET /health`` must carry
  it as the ``token`` query parameter (what Rasa sends for the action endpoint's
  ``token`` in ``endpoints.yml``), compared in constant time over bytes
  (:func:`analytics.core.identity.secrets_equal`); else 401;
- no CORS at all (no browser has any business here);
- hostile bodies get a short JSON error, never a traceback: bad JSON or a body that
  is not an action call 400, a body over ``ACTION_SERVER_MAX_BODY_BYTES`` (also after
  ``deflate``) 413; a failure inside answers 500 without echoing the request;
- no access log, and ``token=...`` is masked in any log line (:class:`TokenFilter`),
  so the token never lands in a log file.
"""

from __future__ import annotations

import json
import logging
import re
import zlib
from typing import Any

from rasa_sdk.endpoint import create_app_for_serve
from rasa_sdk.executor import ActionExecutor
from sanic import Sanic
from sanic.exceptions import SanicException
from sanic.request import Request
from sanic.response import HTTPResponse
from sanic.response import json as json_response

from actions.settings import ActionSettings
from analytics.core.identity import secrets_equal

logger = logging.getLogger(__name__)

HEALTH_PATH = "/health"
WEBHOOK_PATH = "/webhook"
TOKEN_PARAM = "token"
DEFLATE = "deflate"
IDENTITY_ENCODING = "identity"
CONTENT_ENCODING = "Content-Encoding"
OPEN_METHODS = frozenset({"GET", "HEAD"})
KEEP_ALIVE_SECONDS = 120
# Before the request middleware: the token check answers first.
GUARD_PRIORITY = 100
EXCEPTION_SIGNAL = "http.lifecycle.exception"
FAILURE_ATTRIBUTE = "failure"
TOKEN_IN_TEXT = re.compile(r"(token=)[^&\s\"']*", re.IGNORECASE)
MASK = r"\1***"

ERROR_UNAUTHORIZED = "unauthorized"
ERROR_TOO_LARGE = "too_large"
ERROR_BAD_JSON = "bad_json"
ERROR_BAD_CALL = "bad_action_call"
ERROR_ENCODING = "unsupported_encoding"
ERROR_INTERNAL = "internal_error"


class TokenFilter(logging.Filter):
    """Masks ``token=<value>`` in log records (messages, arguments, Sanic's extras)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrites the record in place; never drops it."""
        message = record.getMessage()
        if TOKEN_IN_TEXT.search(message):
            record.msg = TOKEN_IN_TEXT.sub(MASK, message)
            record.args = None
        request = getattr(record, "request", None)
        if isinstance(request, str):
            record.request = TOKEN_IN_TEXT.sub(MASK, request)
        return True


def install_token_filter(root: logging.Logger | None = None) -> None:
    """Adds :class:`TokenFilter` to every handler of the root logger.

    Args:
        root: The logger whose handlers to guard (the root logger by default).
    """
    for handler in (root or logging.getLogger()).handlers:
        if not any(isinstance(f, TokenFilter) for f in handler.filters):
            handler.addFilter(TokenFilter())


def error(code: str, status: int, message: str) -> HTTPResponse:
    """A short JSON error body ``{"error": code, "message": message}``."""
    return json_response({"error": code, "message": message}, status=status)


def _request_token(request: Request) -> str | None:
    try:
        values = request.args.getlist(TOKEN_PARAM)
    except (UnicodeDecodeError, ValueError):
        return None
    return values[0] if len(values) == 1 else None


def inflate(body: bytes, limit: int) -> bytes | None:
    """Decompresses a ``deflate`` body, refusing to grow past ``limit`` bytes.

    Args:
        body: The compressed body.
        limit: The largest decompressed size allowed.

    Returns:
        The decompressed bytes, or None when they would exceed ``limit``.

    Raises:
        zlib.error: For data that is not zlib-compressed.
    """
    decompressor = zlib.decompressobj()
    data = decompressor.decompress(body, limit + 1)
    if len(data) > limit or decompressor.unconsumed_tail:
        return None
    return data + decompressor.flush()


def action_call_problem(call: Any) -> str | None:
    """What makes a parsed body unusable as a rasa-sdk action call, or None."""
    if not isinstance(call, dict):
        return "the body is not a JSON object"
    if not isinstance(call.get("next_action"), str) or not call["next_action"]:
        return "next_action must be a non-empty string"
    tracker = call.get("tracker")
    if not isinstance(tracker, dict) or not isinstance(tracker.get("sender_id"), str):
        return "tracker must be an object with a sender_id"
    expected_types: dict[str, type | tuple[type, ...]] = {
        "slots": dict,
        "latest_message": dict,
        "events": list,
        "active_loop": dict,
    }
    for key, kind in expected_types.items():
        if tracker.get(key) is not None and not isinstance(tracker[key], kind):
            return f"tracker.{key} has the wrong type"
    if call.get("domain") is not None and not isinstance(call["domain"], dict):
        return "domain must be an object"
    return None


def create_action_app(executor: ActionExecutor, settings: ActionSettings, endpoints: str) -> Sanic:
    """rasa-sdk's app with the token check, the body checks and no CORS.

    Args:
        executor: The executor with the shop's actions registered.
        settings: The action server's settings (token, body limit).
        endpoints: rasa-sdk's endpoints file (tracing settings only).

    Returns:
        The Sanic app, ready to be served.
    """
    app = create_app_for_serve(
        executor, cors_origins=None, endpoints=endpoints, keep_alive_timeout=KEEP_ALIVE_SECONDS
    )
    app.config.ACCESS_LOG = False
    app.config.REQUEST_MAX_SIZE = settings.max_body_bytes
    token = settings.token
    limit = settings.max_body_bytes

    async def note_failure(request: Request, exception: Exception) -> None:
        # Sanic runs request middleware again on its error path (e.g. a body over
        # the size limit): the guard must then leave the answer to on_error.
        setattr(request.ctx, FAILURE_ATTRIBUTE, exception)

    async def guard(request: Request) -> HTTPResponse | None:
        if request.path == HEALTH_PATH and request.method in OPEN_METHODS:
            return None
        if token is not None and not secrets_equal(_request_token(request), token):
            return error(ERROR_UNAUTHORIZED, 401, "a valid token is required")
        if getattr(request.ctx, FAILURE_ATTRIBUTE, None) is not None:
            return None
        if request.method == "POST" and request.path == WEBHOOK_PATH:
            return check_body(request, limit)
        return None

    async def on_error(request: Request, exception: Exception) -> HTTPResponse:
        if isinstance(exception, SanicException):
            status = int(exception.status_code or 500)
            code = ERROR_TOO_LARGE if status == 413 else f"http_{status}"
            return error(code, status, str(exception.message or "request refused"))
        logger.error("Action server failure on %s %s", request.method, request.path, exc_info=True)
        return error(ERROR_INTERNAL, 500, "the action failed")

    app.add_signal(note_failure, EXCEPTION_SIGNAL)
    app.register_middleware(guard, "request", priority=GUARD_PRIORITY)
    # rasa-sdk's own handler echoes the request body back; answer without it.
    app.error_handler.cached_handlers[(Exception, None)] = on_error
    return app


def check_body(request: Request, limit: int) -> HTTPResponse | None:
    """Refuses a webhook body that is too big or not an action call.

    Args:
        request: A ``POST /webhook`` request (its body already read).
        limit: The largest (decompressed) body allowed.

    Returns:
        An error response, or None to let rasa-sdk run the action.
    """
    body = request.body or b""
    encoding = (request.headers.get(CONTENT_ENCODING) or IDENTITY_ENCODING).strip().lower()
    if encoding == DEFLATE:
        try:
            inflated = inflate(body, limit)
        except zlib.error:
            return error(ERROR_BAD_JSON, 400, "the body is not valid deflate data")
        if inflated is None:
            return error(ERROR_TOO_LARGE, 413, "the body is too large")
        body = inflated
    elif encoding != IDENTITY_ENCODING:
        return error(ERROR_ENCODING, 415, "only identity and deflate bodies are accepted")
    try:
        call = json.loads(body)
    except (ValueError, RecursionError):  # bad JSON, bad UTF-8, absurd nesting
        return error(ERROR_BAD_JSON, 400, "the body is not valid JSON")
    problem = action_call_problem(call)
    if problem is not None:
        return error(ERROR_BAD_CALL, 400, problem)
    if encoding == IDENTITY_ENCODING:
        request.parsed_json = call  # rasa-sdk reads request.json: parse once
    return None
