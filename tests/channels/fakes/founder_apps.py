"""The founder's alert apps, faked: a Telegram alert bot and a WeCom alert app.

They are the customer-channel fakes (:class:`~tests.channels.fakes.telegram.FakeTelegram`,
:class:`~tests.channels.fakes.wecom.FakeWeCom`: the same documented API, signatures and
encryption) configured as the founder's alert apps: :meth:`env` gives the ``*_ALERT_*``
variables (plus the shared API URL and corp id) for the web app and the alert dispatcher,
and their webhook side posts to the web app's ``/founder/hooks/<kind>``. This module has no
``make_fake``: the channel stack does not start them (their API URL variables would clash
with the customer channels' fakes); a test starts them and gives their variables to the
main-environment processes only.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from tests.channels.fakes.base import Call, Reply
from tests.channels.fakes.telegram import FakeTelegram
from tests.channels.fakes.wecom import AES_KEY, AGENT_ID, CORP_ID, SECRET, TOKEN, FakeWeCom

FOUNDER_CHAT_ID = 424242
FOUNDER_WECOM_USER = "founder.li"
HOOKS_PREFIX = "/founder/hooks"


class FounderTelegram(FakeTelegram):
    """The Bot API of the founder's alert bot, and its webhook to ``/founder/hooks/telegram``."""

    name = "founder_telegram"

    def __init__(self) -> None:
        """A fake alert bot that also remembers the message id of each text it accepted."""
        super().__init__()
        self.delivered: list[tuple[str, int]] = []
        self.add_route("POST", r"/bot[^/]+/sendMessage", self._remember)

    def _remember(self, call: Call) -> Reply:
        reply = self._send_message(call)
        result = reply.json.get("result") if isinstance(reply.json, dict) else None
        if isinstance(result, dict):
            with self._id_lock:
                self.delivered.append((str(result["text"]), int(result["message_id"])))
        return reply

    def message_id_of(self, needle: str) -> int | None:
        """The message id Telegram gave the first accepted text containing ``needle``."""
        with self._id_lock:
            return next((mid for text, mid in self.delivered if needle in text), None)

    def env(self) -> dict[str, str]:
        """``TELEGRAM_ALERT_*`` and ``TELEGRAM_API_URL`` pointing at this fake."""
        return {
            "TELEGRAM_ALERT_BOT_TOKEN": self.token,
            "TELEGRAM_ALERT_CHAT_ID": str(FOUNDER_CHAT_ID),
            "TELEGRAM_ALERT_WEBHOOK_SECRET": self.secret,
            "TELEGRAM_API_URL": self.url,
        }

    def webhook_url(self, rasa_url: str) -> str:
        """The web app's hook (the argument is the web app's URL)."""
        return f"{rasa_url.rstrip('/')}{HOOKS_PREFIX}/telegram"

    def founder_texts(self) -> list[str]:
        """Every text the web app or the dispatcher sent to the founder's chat."""
        return self.sent_texts(FOUNDER_CHAT_ID)

    def reply_update(
        self,
        text: str | None,
        *,
        reply_to: int | None = None,
        quoted: str = "…",
        chat_id: int = FOUNDER_CHAT_ID,
        update_id: int | None = None,
        date: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The update Telegram delivers when the founder writes (as a reply to a message).

        ``quoted`` is the text of the message replied to (Telegram sends it along).
        """
        message: dict[str, Any] = {
            "message_id": self.next_id(),
            "from": {"id": chat_id, "is_bot": False, "first_name": "Founder"},
            "chat": {"id": chat_id, "type": "private", "first_name": "Founder"},
            "date": int(time.time()) if date is None else date,
        }
        if text is not None:
            message["text"] = text
        if reply_to is not None:
            message["reply_to_message"] = {
                "message_id": reply_to,
                "from": {"id": 1, "is_bot": True, "first_name": "Alerts"},
                "chat": {"id": chat_id, "type": "private"},
                "date": int(time.time()),
                "text": quoted,
            }
        message.update(extra or {})
        return {
            "update_id": update_id if update_id is not None else self.next_id(),
            "message": message,
        }


class FounderWeCom(FakeWeCom):
    """The founder's WeCom alert app: its API and its callbacks to ``/founder/hooks/wecom``."""

    name = "founder_wecom"

    def env(self) -> dict[str, str]:
        """``WECOM_ALERT_*``, ``WECOM_CORP_ID`` and ``WECOM_API_URL`` pointing at this fake."""
        return {
            "WECOM_CORP_ID": CORP_ID,
            "WECOM_ALERT_AGENT_ID": AGENT_ID,
            "WECOM_ALERT_SECRET": SECRET,
            "WECOM_ALERT_TOKEN": TOKEN,
            "WECOM_ALERT_AES_KEY": AES_KEY,
            "WECOM_ALERT_USER_ID": FOUNDER_WECOM_USER,
            "WECOM_API_URL": self.url,
        }

    def webhook_url(self, rasa_url: str) -> str:
        """The web app's hook (the argument is the web app's URL)."""
        return f"{rasa_url.rstrip('/')}{HOOKS_PREFIX}/wecom"

    def founder_texts(self) -> list[str]:
        """Every text sent to the founder through the alert app."""
        return self.sent_texts(FOUNDER_WECOM_USER)


def new_msg_id() -> str:
    """A fresh WeCom ``MsgId`` (a 64-bit number)."""
    return str(secrets.randbelow(2**63))
