r"""DingTalk (钉钉): an enterprise internal robot in HTTP callback mode (``/webhooks/dingtalk/webhook``).

DingTalk POSTs each message sent to the robot (one to one, or ``@`` it in a group) to the
robot's message receiving address:

* headers ``timestamp`` (ms) and ``sign`` = base64(HMAC-SHA256(key = ``DINGTALK_APP_SECRET``,
  ``timestamp + "\n" + DINGTALK_APP_SECRET``)); a missing header is 401, a wrong sign 403
  (constant time), a timestamp more than an hour from now (the documented window) 401;
* ``msgtype: text`` messages (``text.content``) are answered; the base de-duplicates on
  ``msgId``;
* group chats are anonymous conversations of one person in one group (user id
  ``<staff id>@<conversationId>``).

Replies go through the delivery's ``sessionWebhook`` while it is valid
(``sessionWebhookExpiredTime``, ms, minus a minute), otherwise (founder take-over, late
answers) through the robot API with an access token (``POST /v1.0/oauth2/accessToken``,
appKey/appSecret, cached until shortly before ``expireIn``): ``/v1.0/robot/oToMessages/batchSend``
to the person (robotCode ``DINGTALK_ROBOT_CODE``), ``/v1.0/robot/groupMessages/send`` to a group.
A session webhook is a URL that arrives in the delivery: it is used only when it is HTTPS on
``oapi.dingtalk.com`` or on ``DINGTALK_API_URL``'s own scheme, host and port, without user
info, under ``/robot/``; anything else is dropped (it would let whoever controls a delivery make
this server call any address), and redirects are never followed.

Buttons become numbered options (``1. title``; the customer answers ``1``): a DingTalk
actionCard's buttons open URLs and interactive cards need templates registered in the
developer console, while numbered lines work in every client, in text. DingTalk documents no
character limit for a robot's text; the custom robot's reported cap is 20,000 bytes, so
:data:`MAX_MESSAGE_CHARS` (2,000) stays far below it (and is readable on a phone).

Not the DingTalk SDK (``dingtalk-stream``, ``alibabacloud-dingtalk``): blocking or stream-mode
only, with their own pins in Rasa's environment. Rasa environment only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import time
from typing import Any, ClassVar
from urllib.parse import urlsplit

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.messaging.base import Inbound, MessagingInput, OutMessage, PlatformError
from bot.channels.messaging.http import AccessTokenCache, Answer, failure, post_json
from bot.channels.messaging.platform import with_image

logger = logging.getLogger(__name__)

CHANNEL_NAME = "dingtalk"
ENV_APP_KEY = "DINGTALK_APP_KEY"
ENV_APP_SECRET = "DINGTALK_APP_SECRET"
ENV_ROBOT_CODE = "DINGTALK_ROBOT_CODE"
ENV_API_URL = "DINGTALK_API_URL"
DEFAULT_API_URL = "https://api.dingtalk.com"
#: The host of DingTalk's session webhooks (``https://oapi.dingtalk.com/robot/sendBySession``).
SESSION_WEBHOOK_HOST = "oapi.dingtalk.com"
SESSION_WEBHOOK_PATH_PREFIX = "/robot/"

HEADER_TIMESTAMP = "timestamp"
HEADER_SIGN = "sign"
HEADER_ACCESS_TOKEN = "x-acs-dingtalk-access-token"
TOKEN_PATH = "/v1.0/oauth2/accessToken"
ONE_TO_ONE_PATH = "/v1.0/robot/oToMessages/batchSend"
GROUP_PATH = "/v1.0/robot/groupMessages/send"
MSG_KEY_TEXT = "sampleText"
CONVERSATION_GROUP = "2"

MAX_MESSAGE_CHARS = 2000
ACK_SECONDS = 2.0
#: Documented: a timestamp more than an hour from the server's clock is an illegal request.
MAX_SKEW_MS = 3600 * 1000
#: A session webhook is not used in its last minute.
SESSION_MARGIN_MS = 60 * 1000
#: An access token is kept at least this long (and its lifetime if DingTalk gives none).
MIN_TOKEN_LIFETIME_S = 60
DEFAULT_TOKEN_LIFETIME_S = 7200
MAX_ID_CHARS = 128
MAX_WEBHOOK_CHARS = 2048
#: Error codes of the robot API meaning the access token is invalid or expired.
TOKEN_INVALID_CODES = frozenset(
    {"InvalidAuthentication", "Forbidden.AccessDenied.AccessTokenInvalid"}
)
#: Session webhook errcodes of a rate limit.
RATE_LIMIT_ERRCODES = frozenset({130101, 660026, 90018})

_ID_RE = re.compile(r"^[\x21-\x7e]{1,128}$")


def sign(timestamp: str, app_secret: str) -> str:
    r"""DingTalk's callback sign: base64(HMAC-SHA256(secret, ``timestamp + "\n" + secret``))."""
    key = app_secret.encode("utf-8")
    digest = hmac.new(key, f"{timestamp}\n{app_secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _printable_id(value: Any) -> str | None:
    return value if isinstance(value, str) and _ID_RE.match(value) else None


def _origin(url: str) -> tuple[str, str, int | None] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname or parts.username is not None or parts.password is not None:
        return None
    default = {"https": 443, "http": 80}.get(parts.scheme)
    if default is None:
        return None
    return parts.scheme, parts.hostname.lower(), port or default


def session_webhook_allowed(url: Any, api_url: str) -> bool:
    """Whether a delivery's ``sessionWebhook`` may be called (the SSRF guard).

    Allowed: ``https://oapi.dingtalk.com[:443]/robot/...``, or the same scheme, host and port
    as ``api_url`` (``DINGTALK_API_URL``; a fake in tests) under ``/robot/``; never with user
    info, other characters than printable ASCII, or over :data:`MAX_WEBHOOK_CHARS`.
    """
    if not isinstance(url, str) or not 0 < len(url) <= MAX_WEBHOOK_CHARS:
        return False
    if not url.isascii() or any(ch <= " " or ch == "\x7f" or ch == "\\" for ch in url):
        return False
    origin = _origin(url)
    if origin is None or not urlsplit(url).path.startswith(SESSION_WEBHOOK_PATH_PREFIX):
        return False
    return origin in (("https", SESSION_WEBHOOK_HOST, 443), _origin(api_url))


def _refusal(status: int, error: str) -> HTTPResponse:
    return response.json({"error": error}, status=status)


class DingTalkInput(MessagingInput):
    """The DingTalk enterprise robot (HTTP callback mode) channel."""

    ENV: ClassVar[tuple[str, ...]] = (ENV_APP_KEY, ENV_APP_SECRET, ENV_ROBOT_CODE)
    ARGUMENTS = ("app_key", "app_secret", "robot_code", "api_url")
    DEFAULTS = {"api_url": DEFAULT_API_URL}
    MAX_CHARS: ClassVar[int] = MAX_MESSAGE_CHARS
    ACK_WITHIN_S: ClassVar[float] = ACK_SECONDS
    NUMBERED_BUTTONS: ClassVar[bool] = True

    @classmethod
    def name(cls) -> str:
        """``dingtalk``: the message receiving address is ``/webhooks/dingtalk/webhook``."""
        return CHANNEL_NAME

    def __init__(
        self, app_key: str, app_secret: str, robot_code: str, api_url: str = DEFAULT_API_URL
    ) -> None:
        """Creates the channel.

        Args:
            app_key: The app's AppKey (Client ID).
            app_secret: The app's AppSecret (Client Secret): signs callbacks, gets tokens.
            robot_code: The robot's RobotCode (usually the AppKey).
            api_url: ``https://api.dingtalk.com`` (a fake in tests).
        """
        super().__init__()
        self.app_key = app_key
        self.app_secret = app_secret
        self.robot_code = robot_code
        self.api_url = api_url.rstrip("/")
        self.tokens = AccessTokenCache(self._fetch_token, min_lifetime_s=MIN_TOKEN_LIFETIME_S)

    # -- inbound -------------------------------------------------------------------------

    def verify(self, request: Request) -> HTTPResponse | None:
        """The ``timestamp``/``sign`` headers (401 missing or stale, 403 wrong)."""
        timestamp = request.headers.get(HEADER_TIMESTAMP, "")
        given = request.headers.get(HEADER_SIGN, "")
        if not timestamp or not given or not self.app_secret:
            return _refusal(401, "unauthorized")
        if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 15:
            return _refusal(401, "unauthorized")
        if abs(time.time() * 1000 - int(timestamp)) > MAX_SKEW_MS:
            return _refusal(401, "stale")
        expected = sign(timestamp, self.app_secret)
        if not hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("ascii")):
            return _refusal(403, "forbidden")
        return None

    def parse(self, request: Request) -> list[Inbound] | HTTPResponse:
        """The customer's text message (nothing for other message types)."""
        try:
            body = json.loads(request.body or b"")
        except (ValueError, UnicodeDecodeError, RecursionError):
            return _refusal(400, "bad_json")
        if not isinstance(body, dict):
            return _refusal(400, "bad_json")
        msg_id = body.get("msgId")
        if not isinstance(msg_id, str) or not 0 < len(msg_id) <= MAX_ID_CHARS:
            return _refusal(400, "bad_message")
        text = body.get("text")
        content = text.get("content") if isinstance(text, dict) else None
        if body.get("msgtype") != "text" or not isinstance(content, str) or not content.strip():
            return []
        staff_id = _printable_id(body.get("senderStaffId"))
        person = staff_id or _printable_id(body.get("senderId"))
        conversation = _printable_id(body.get("conversationId"))
        if person is None:
            return []
        group = body.get("conversationType") == CONVERSATION_GROUP
        if group and conversation is None:
            return []
        address: dict[str, Any] = {
            "staff_id": staff_id or "",
            "conversation_id": conversation or "",
            "conversation_type": "group" if group else "single",
        }
        webhook = body.get("sessionWebhook")
        expires = body.get("sessionWebhookExpiredTime")
        if webhook is not None and not session_webhook_allowed(webhook, self.api_url):
            logger.warning("dingtalk: a delivery's sessionWebhook is not DingTalk's; ignored")
        elif (
            isinstance(webhook, str) and isinstance(expires, int) and not isinstance(expires, bool)
        ):
            address["session_webhook"] = webhook
            address["session_webhook_expires_ms"] = expires
        return [
            Inbound(
                delivery_id=msg_id,
                user_id=f"{person}@{conversation}" if group else person,
                text=content.strip(),
                address=address,
            )
        ]

    def acknowledge(self, request: Request, passive: OutMessage | None) -> HTTPResponse:
        """200 with ``{}`` (replies go through the session webhook or the robot API)."""
        return response.json({})

    # -- outbound ------------------------------------------------------------------------

    async def _fetch_token(self) -> tuple[str, float]:
        """A fresh robot API access token and its lifetime (s).

        Raises:
            PlatformError: DingTalk refused (``retryable`` unless the app key/secret are wrong).
        """
        answer = await post_json(
            self.api_url + TOKEN_PATH,
            {"appKey": self.app_key, "appSecret": self.app_secret},
            what="dingtalk accessToken",
        )
        token = answer.data.get("accessToken")
        if answer.status == 200 and isinstance(token, str) and token:
            expire = answer.data.get("expireIn")
            lifetime = expire if isinstance(expire, int) and expire > 0 else None
            return token, float(lifetime or DEFAULT_TOKEN_LIFETIME_S)
        raise _api_error("accessToken", answer)

    async def send(self, address: dict[str, Any], message: OutMessage) -> None:
        """One call: the session webhook while valid, else the robot API.

        Raises:
            PlatformError: DingTalk refused (``retryable`` for 429/5xx, rate limits, an expired
                token and network errors).
        """
        text = with_image(message.text, message.image)
        webhook = address.get("session_webhook")
        expires = address.get("session_webhook_expires_ms")
        now_ms = time.time() * 1000
        if (
            session_webhook_allowed(webhook, self.api_url)
            and isinstance(expires, int)
            and now_ms < expires - SESSION_MARGIN_MS
        ):
            await self._send_by_session(str(webhook), text)
            return
        await self._send_by_api(address, text)

    async def _send_by_session(self, webhook: str, text: str) -> None:
        answer = await post_json(
            webhook,
            {"msgtype": "text", "text": {"content": text}},
            what="dingtalk sessionWebhook",
        )
        errcode = answer.data.get("errcode")
        if answer.status == 200 and errcode == 0:
            return
        raise failure(
            "dingtalk sessionWebhook",
            answer,
            f"errcode {errcode}",
            retryable=errcode in RATE_LIMIT_ERRCODES,
        )

    async def _send_by_api(self, address: dict[str, Any], text: str) -> None:
        param = json.dumps({"content": text}, ensure_ascii=False)
        body: dict[str, Any] = {
            "robotCode": self.robot_code,
            "msgKey": MSG_KEY_TEXT,
            "msgParam": param,
        }
        conversation = _printable_id(address.get("conversation_id"))
        staff_id = _printable_id(address.get("staff_id"))
        if address.get("conversation_type") == "group" and conversation:
            path, body["openConversationId"] = GROUP_PATH, conversation
        elif staff_id:
            path, body["userIds"] = ONE_TO_ONE_PATH, [staff_id]
        else:
            raise PlatformError("dingtalk: no staff id to send to", retryable=False)
        token = await self.tokens.get()
        answer = await post_json(
            self.api_url + path,
            body,
            what="dingtalk robot",
            headers={HEADER_ACCESS_TOKEN: token},
        )
        data = answer.data
        if answer.status == 200:
            if staff_id and staff_id in (data.get("flowControlledStaffIdList") or []):
                raise PlatformError("dingtalk batchSend: flow controlled", retryable=True)
            if staff_id and staff_id in (data.get("invalidStaffIdList") or []):
                raise PlatformError("dingtalk batchSend: invalid staff id", retryable=False)
            return
        if data.get("code") in TOKEN_INVALID_CODES or answer.status == 401:
            self.tokens.invalidate(token)
        raise _api_error(path.rsplit("/", 1)[-1], answer)


def _api_error(what: str, answer: Answer) -> PlatformError:
    """The :class:`PlatformError` of a failed robot API call (never the token or the text)."""
    code = str(answer.data.get("code", ""))[:80]
    retryable = code in TOKEN_INVALID_CODES or "Throttling" in code
    return failure(f"dingtalk {what}", answer, code, retryable=retryable)
