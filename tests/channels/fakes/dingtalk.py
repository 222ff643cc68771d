"""A fake DingTalk Open Platform (``https://api.dingtalk.com``) and session webhook, on loopback.

It answers ``POST /v1.0/oauth2/accessToken`` (``{"accessToken", "expireIn"}``; 400
``invalidClientIdOrSecret`` for wrong credentials), the robot's one-to-one
``/v1.0/robot/oToMessages/batchSend`` (``robotCode``, ``userIds``, ``msgKey: sampleText``,
``msgParam``; ``invalidStaffIdList`` for an unknown user) and group
``/v1.0/robot/groupMessages/send`` (``openConversationId`` of a group the robot is in) with
the header ``x-acs-dingtalk-access-token`` (401 ``InvalidAuthentication`` for a token it did
not issue), and the session webhook ``/robot/sendBySession?session=...`` (which the bot must
never call: it is recorded so tests can say so), and builds robot callbacks (HTTP mode) with
the ``timestamp`` and ``sign`` headers: base64(HMAC-SHA256(app secret, ``timestamp + "\\n" +
app secret``)), computed here with the standard library, independently of the bot. Like
DingTalk, each callback is signed when it is sent: no two get the same timestamp.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from typing import Any

import httpx

from tests.channels.fakes.base import Call, Reply
from tests.channels.fakes.token_api import FakeTokenAPI

SESSION_PATH = "/robot/sendBySession"
SESSION_LIFETIME_MS = 90 * 60 * 1000


def callback_sign(timestamp: str, app_secret: str) -> str:
    """The ``sign`` header of a robot callback."""
    digest = hmac.new(
        app_secret.encode(), f"{timestamp}\n{app_secret}".encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode()


class FakeDingTalk(FakeTokenAPI):
    """The robot API calls the channel makes, the session webhook, and the callback side.

    The targets of :attr:`accepted` messages are staff ids (one to one) or conversation ids
    (groups).
    """

    name = "dingtalk"

    def __init__(self) -> None:
        """A fake app with random credentials."""
        super().__init__()
        self.app_key = "ding" + secrets.token_hex(8)
        self.app_secret = secrets.token_urlsafe(32)
        self.robot_code = self.app_key
        #: Session webhook tokens issued, and whose conversation each belongs to.
        self.sessions: dict[str, str] = {}
        self.staff: set[str] = set()
        #: Open conversation ids of the groups the robot is in.
        self.groups: set[str] = set()
        self._last_ms = 0
        self._stamp_lock = threading.Lock()
        self.add_route("POST", r"/v1\.0/oauth2/accessToken", self._token)
        self.add_route("POST", r"/v1\.0/robot/oToMessages/batchSend", self._batch_send)
        self.add_route("POST", r"/v1\.0/robot/groupMessages/send", self._group_send)
        self.add_route("POST", SESSION_PATH, self._session_send)

    def env(self) -> dict[str, str]:
        """The channel's variables, the API URL pointing at this fake."""
        return {
            "DINGTALK_APP_KEY": self.app_key,
            "DINGTALK_APP_SECRET": self.app_secret,
            "DINGTALK_ROBOT_CODE": self.robot_code,
            "DINGTALK_API_URL": self.url,
        }

    # -- the API -------------------------------------------------------------------------
    def _token(self, call: Call) -> Reply:
        body = call.json if isinstance(call.json, dict) else {}
        if body.get("appKey") != self.app_key or body.get("appSecret") != self.app_secret:
            return Reply(400, {"code": "invalidClientIdOrSecret", "message": "无效的appKey"})
        return Reply(json={"accessToken": self.issue(secrets.token_hex(16)), "expireIn": 7200})

    def _authorized(self, call: Call) -> Reply | None:
        if not self.token_valid(call.headers.get("x-acs-dingtalk-access-token")):
            return Reply(401, {"code": "InvalidAuthentication", "message": "不合法的access_token"})
        body = call.json if isinstance(call.json, dict) else {}
        if body.get("robotCode") != self.robot_code or body.get("msgKey") != "sampleText":
            return Reply(400, {"code": "invalidParameter", "message": "robotCode or msgKey"})
        try:
            param = json.loads(body.get("msgParam") or "")
        except ValueError:
            param = None
        if not isinstance(param, dict) or not param.get("content"):
            return Reply(400, {"code": "invalidParameter", "message": "msgParam"})
        return None

    def _batch_send(self, call: Call) -> Reply:
        refused = self._authorized(call)
        if refused is not None:
            return refused
        users = (call.json or {}).get("userIds") or []
        invalid = [user for user in users if user not in self.staff]
        self.accept([user for user in users if user in self.staff], call)
        return Reply(
            json={
                "processQueryKey": f"pqk{self.next_id()}",
                "invalidStaffIdList": invalid,
                "flowControlledStaffIdList": [],
            }
        )

    def _group_send(self, call: Call) -> Reply:
        refused = self._authorized(call)
        if refused is not None:
            return refused
        group = (call.json or {}).get("openConversationId", "")
        if group not in self.groups:
            return Reply(400, {"code": "invalidParameter", "message": "openConversationId"})
        self.accept([group], call)
        return Reply(json={"processQueryKey": f"pqk{self.next_id()}"})

    def _session_send(self, call: Call) -> Reply:
        session = call.query.get("session", [""])[0]
        if session not in self.sessions:
            return Reply(json={"errcode": 300001, "errmsg": "session 不存在"})
        body = call.json if isinstance(call.json, dict) else {}
        text = body.get("text")
        if body.get("msgtype") != "text" or not isinstance(text, dict) or not text.get("content"):
            return Reply(json={"errcode": 40035, "errmsg": "缺少参数 json"})
        self.accept([self.sessions[session]], call)
        return Reply(json={"errcode": 0, "errmsg": "ok"})

    # -- what the bot sent ---------------------------------------------------------------
    def sends(self) -> list[Call]:
        """Every message call (session webhook or robot API), oldest first, refused too."""
        return [
            call
            for call in self.calls
            if call.path == SESSION_PATH or call.path.startswith("/v1.0/robot/")
        ]

    @staticmethod
    def text_of(call: Call) -> str:
        """The text of a message call, whichever way it went."""
        body = call.json if isinstance(call.json, dict) else {}
        if call.path == SESSION_PATH:
            return str((body.get("text") or {}).get("content", ""))
        return str(json.loads(body.get("msgParam") or "{}").get("content", ""))

    # -- deliveries ----------------------------------------------------------------------
    def message(
        self,
        text: str,
        staff_id: str,
        *,
        msg_id: str | None = None,
        group: bool = False,
        session_webhook: str | None = None,
        expires_ms: int | None = None,
        msgtype: str = "text",
    ) -> dict[str, Any]:
        """A robot callback body: a text message to the robot, with a fresh session webhook."""
        session = secrets.token_hex(12)
        conversation = "cid" + base64.b64encode(staff_id.encode()).decode()
        self.sessions[session] = conversation if group else staff_id
        self.staff.add(staff_id)
        if group:
            self.groups.add(conversation)
        now_ms = int(time.time() * 1000)
        return {
            "conversationId": conversation,
            "chatbotCorpId": "dingcorp",
            "chatbotUserId": "$:LWCP_v1:$bot",
            "msgId": msg_id or "msg" + secrets.token_hex(12),
            "senderNick": "测试",
            "isAdmin": False,
            "senderStaffId": staff_id,
            "sessionWebhookExpiredTime": expires_ms or now_ms + SESSION_LIFETIME_MS,
            "createAt": now_ms,
            "senderCorpId": "dingcorp",
            "conversationType": "2" if group else "1",
            "senderId": "$:LWCP_v1:$" + staff_id,
            "sessionWebhook": session_webhook or f"{self.url}{SESSION_PATH}?session={session}",
            "text": {"content": text},
            "robotCode": self.robot_code,
            "msgtype": msgtype,
        }

    def signed_headers(
        self, *, timestamp: str | None = None, secret: str | None = None
    ) -> dict[str, str]:
        """The ``timestamp`` (ms, never the same twice) and ``sign`` headers of a callback."""
        if timestamp is None:
            with self._stamp_lock:
                self._last_ms = max(int(time.time() * 1000), self._last_ms + 1)
                timestamp = str(self._last_ms)
        return {
            "Content-Type": "application/json; charset=utf-8",
            "timestamp": timestamp,
            "sign": callback_sign(timestamp, secret or self.app_secret),
        }

    def deliver_message(self, rasa_url: str, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
        """POSTs a callback as DingTalk does (signed now)."""
        raw = json.dumps(body).encode()  # ASCII escapes: a lone surrogate travels too
        return self.deliver(rasa_url, raw, headers=self.signed_headers(), **kwargs)


def make_fake() -> FakeDingTalk:
    """The fake for ``channel_stack``."""
    return FakeDingTalk()
