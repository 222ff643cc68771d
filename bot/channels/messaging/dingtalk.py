r"""DingTalk (钉钉): an enterprise internal robot in HTTP callback mode (``/webhooks/dingtalk/webhook``).

DingTalk POSTs each message sent to the robot (one to one, or ``@`` it in a group) to the
robot's message receiving address:

* headers ``timestamp`` (ms) and ``sign`` = base64(HMAC-SHA256(key = ``DINGTALK_APP_SECRET``,
  ``timestamp + "\n" + DINGTALK_APP_SECRET``)); a missing header is 401, a wrong sign 403
  (constant time), a timestamp more than :data:`MAX_SKEW_MS` (10 minutes) from now 401;
* the sign covers only the timestamp, never the body: whoever saw one valid (timestamp, sign)
  pair could post any body with it while the timestamp is accepted. So each sign is *single
  use* (:meth:`DingTalkInput.admit`): it is claimed in the delivery ledger as the pseudo
  delivery ``sig:<sign>`` together with the ``msgId`` it came with; the same sign with the
  same ``msgId`` (a redelivery) goes on to the ledger's duplicate check, the same sign with
  another ``msgId`` is 401 and nothing is stored. DingTalk documents a one-hour window; we
  accept 10 minutes because DingTalk signs each callback when it sends it;
* ``msgtype: text`` messages (``text.content``) are answered; the base de-duplicates on
  ``msgId``;
* group chats are anonymous conversations of one person in one group (user id
  ``<staff id>@<conversationId>``).

Replies always go through the robot API with an access token (``POST /v1.0/oauth2/accessToken``,
appKey/appSecret, cached until shortly before ``expireIn``): ``/v1.0/robot/oToMessages/batchSend``
to the person's staff id (robotCode ``DINGTALK_ROBOT_CODE``), ``/v1.0/robot/groupMessages/send``
to a group's ``openConversationId``. The callback's ``sessionWebhook`` is never used: it is a
URL taken from a body the sign does not cover, so a forged body could name a session of
another organisation and receive a customer's answers. The reply address is made of the same
ids as the conversation id, so a forged body can at most make the bot answer a person in
their own chat.

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

import sqlalchemy as sa
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.exc import IntegrityError

from bot.channels.messaging.base import Inbound, MessagingInput, OutMessage, PlatformError
from bot.channels.messaging.http import AccessTokenCache, Answer, failure, post_json
from bot.channels.messaging.ledger import Ledger
from bot.channels.messaging.platform import with_image
from bot.channels.messaging.store import DELIVERIES, ChannelStore

logger = logging.getLogger(__name__)

CHANNEL_NAME = "dingtalk"
ENV_APP_KEY = "DINGTALK_APP_KEY"
ENV_APP_SECRET = "DINGTALK_APP_SECRET"
ENV_ROBOT_CODE = "DINGTALK_ROBOT_CODE"
ENV_API_URL = "DINGTALK_API_URL"
DEFAULT_API_URL = "https://api.dingtalk.com"

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
#: DingTalk documents an hour; DingTalk signs each callback when it sends it, so 10 minutes
#: is plenty for clock skew and shortens the time a captured sign could be tried.
MAX_SKEW_MS = 10 * 60 * 1000
#: The ledger's pseudo delivery id of a sign: ``sig:<sign>`` (a msgId may not look like it).
SIGN_KEY_PREFIX = "sig:"
#: The state of a sign's row (never ``processing``: the ledger never re-takes it).
SIGN_STATE = "done"
#: Hex digits of SHA-256(msgId) kept with a sign (the ledger's ``owner`` column holds 32).
MSG_TAG_CHARS = 32
#: An access token is kept at least this long (and its lifetime if DingTalk gives none).
MIN_TOKEN_LIFETIME_S = 60
DEFAULT_TOKEN_LIFETIME_S = 7200
MAX_ID_CHARS = 128
#: Error codes of the robot API meaning the access token is invalid or expired.
TOKEN_INVALID_CODES = frozenset(
    {"InvalidAuthentication", "Forbidden.AccessDenied.AccessTokenInvalid"}
)

_ID_RE = re.compile(r"^[\x21-\x7e]{1,128}$")


def sign(timestamp: str, app_secret: str) -> str:
    r"""DingTalk's callback sign: base64(HMAC-SHA256(secret, ``timestamp + "\n" + secret``))."""
    key = app_secret.encode("utf-8")
    digest = hmac.new(key, f"{timestamp}\n{app_secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _printable_id(value: Any) -> str | None:
    return value if isinstance(value, str) and _ID_RE.match(value) else None


def claim_sign_now(store: ChannelStore, given_sign: str, msg_id: str, now: float) -> bool:
    """Claims a callback's sign for its msgId (blocking); False if another msgId used it.

    The row ``(dingtalk, sig:<sign>)`` of ``channel_deliveries`` keeps SHA-256(msgId) (first
    :data:`MSG_TAG_CHARS` hex digits) in ``owner``; it is pruned with the ledger's rows.

    Args:
        store: The channel store (the ledger's).
        given_sign: The callback's (verified) ``sign`` header.
        msg_id: The callback's ``msgId``.
        now: The current Unix time.

    Returns:
        True for the first use of the sign or a redelivery of the same msgId with it.
    """
    key = SIGN_KEY_PREFIX + given_sign
    tag = hashlib.sha256(msg_id.encode("utf-8", "surrogatepass")).hexdigest()[:MSG_TAG_CHARS]
    where = sa.and_(DELIVERIES.c.channel == CHANNEL_NAME, DELIVERIES.c.delivery_id == key)
    try:
        store.transact(
            lambda c: c.execute(
                DELIVERIES.insert().values(
                    channel=CHANNEL_NAME,
                    delivery_id=key,
                    state=SIGN_STATE,
                    claimed_at=now,
                    owner=tag,
                )
            )
        )
        return True
    except IntegrityError:
        pass
    owner = store.transact(lambda c: c.execute(sa.select(DELIVERIES.c.owner).where(where)).scalar())
    return owner == tag


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
        if msg_id.startswith(SIGN_KEY_PREFIX):
            return _refusal(400, "bad_message")  # it would collide with a sign's ledger row
        text = body.get("text")
        content = text.get("content") if isinstance(text, dict) else None
        if body.get("msgtype") != "text" or not isinstance(content, str) or not content.strip():
            return []
        staff_id = _printable_id(body.get("senderStaffId"))
        person = staff_id or _printable_id(body.get("senderId"))
        conversation = _printable_id(body.get("conversationId"))
        group = body.get("conversationType") == CONVERSATION_GROUP
        if person is None or (group and conversation is None):
            return []
        if not group and staff_id is None:
            # batchSend needs a staff id: a person outside the organisation cannot be answered.
            logger.info("dingtalk: a one-to-one message without senderStaffId; ignored")
            return []
        address: dict[str, Any] = {
            "staff_id": staff_id or "",
            "conversation_id": conversation or "",
            "conversation_type": "group" if group else "single",
        }
        return [
            Inbound(
                delivery_id=msg_id,
                user_id=f"{person}@{conversation}" if group else person,
                text=content.strip(),
                address=address,
            )
        ]

    async def admit(
        self, request: Request, inbounds: list[Inbound], ledger: Ledger
    ) -> HTTPResponse | None:
        """Makes the callback's sign single use (see the module docstring): None, or 401.

        Raises:
            SQLAlchemyError: The ledger's database failed (the base answers 500).
        """
        try:  # parse() accepted it: a JSON object with a msgId
            msg_id = json.loads(request.body or b"").get("msgId")
        except (ValueError, UnicodeDecodeError, RecursionError, AttributeError):
            msg_id = None
        given = request.headers.get(HEADER_SIGN, "")
        if not isinstance(msg_id, str) or not given:
            return None
        fresh = await ledger.store.call(claim_sign_now, ledger.store, given, msg_id, time.time())
        if fresh:
            return None
        return _refusal(401, "sign_reused")

    def acknowledge(self, request: Request, passive: OutMessage | None) -> HTTPResponse:
        """200 with ``{}`` (replies go through the robot API)."""
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
        """One robot API call: ``batchSend`` to the staff id, or to the group.

        Raises:
            PlatformError: DingTalk refused (``retryable`` for 429/5xx, throttling, flow
                control, an expired token and network errors).
        """
        await self._send_by_api(address, with_image(message.text, message.image))

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
