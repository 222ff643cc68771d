"""Taking a conversation over from the bot and handing it back, through Rasa.

When the widget channel (``bot/channels/widget.py``) is installed, its founder routes are
used: ``POST /webhooks/widget/founder/<sender_id>/{pause,resume,message,typing}`` with
``Authorization: Bearer <jwt>`` (:mod:`web.rasa_auth`). They append the events to the tracker *and*
push them to the customer's widget over socket.io. Otherwise Rasa's own HTTP API is used
(``POST /conversations/<sender_id>/tracker/events``): the bot pauses and resumes, and the
founder's message is recorded in the tracker. Either way the message is the same tracker event,
a bot event with ``metadata.author = "founder"``: the REST door returns it to a REST customer
with their next message or ``GET /webhooks/rest/pending`` (``bot/channels/rest_pending.py``,
``docs/channels-rest.md``). Both are called with the same short-lived JWT in the
``Authorization`` header, never with a token in the URL.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from analytics.core.settings import REPO_ROOT
from web.rasa_auth import rasa_headers

logger = logging.getLogger(__name__)

WIDGET_CHANNEL_FILE = REPO_ROOT / "bot" / "channels" / "widget.py"
WIDGET_PREFIX = "/webhooks/widget/founder"
TIMEOUT_S = 15.0
#: Kept as they are in the sender id's path segment (RFC 3986 allows them there): Rasa's
#: router (Sanic) does not unquote path parameters, and messaging conversations are
#: ``<channel>:<user id>`` (``telegram:123``), which the founder routes' check accepts only
#: unquoted.
PATH_SAFE = ":@"


class TakeoverError(RuntimeError):
    """Rasa refused or could not be reached (the message says which)."""


@dataclass(frozen=True)
class RasaBridge:
    """Talks to the running Rasa server on the founder's behalf.

    Attributes:
        rasa_url: Rasa's base URL (``RASA_URL``).
        jwt_secret: ``RASA_JWT_SECRET``; each call carries a fresh JWT signed with it.
        widget_file: The widget channel's source; its presence selects the widget routes.
    """

    rasa_url: str
    jwt_secret: str | None
    widget_file: Path = WIDGET_CHANNEL_FILE

    @property
    def via_widget(self) -> bool:
        """Whether the widget channel's founder routes are used."""
        return self.widget_file.exists()

    def _post(self, path: str, payload: Any) -> httpx.Response:
        url = self.rasa_url.rstrip("/") + path
        try:
            response = httpx.post(
                url, json=payload, headers=rasa_headers(self.jwt_secret), timeout=TIMEOUT_S
            )
        except httpx.HTTPError as error:
            raise TakeoverError(f"Rasa is not reachable at {self.rasa_url}: {error}") from error
        if response.status_code >= 400:
            raise TakeoverError(f"Rasa answered {response.status_code}: {response.text[:300]}")
        return response

    def _widget(self, sender_id: str, what: str, payload: Any) -> httpx.Response:
        return self._post(f"{WIDGET_PREFIX}/{quote(sender_id, safe=PATH_SAFE)}/{what}", payload)

    def _events(self, sender_id: str, events: list[dict[str, Any]]) -> None:
        path = f"/conversations/{quote(sender_id, safe=PATH_SAFE)}/tracker/events"
        self._post(path, events)

    def pause(self, sender_id: str) -> None:
        """Pauses the bot in this conversation."""
        if self.via_widget:
            self._widget(sender_id, "pause", {})
        else:
            self._events(sender_id, [{"event": "pause"}])

    def resume(self, sender_id: str) -> None:
        """Lets the bot answer again."""
        if self.via_widget:
            self._widget(sender_id, "resume", {})
        else:
            self._events(sender_id, [{"event": "resume"}])

    def say(self, sender_id: str, text: str) -> dict[str, Any]:
        """Sends the founder's message to the customer.

        Returns:
            Rasa's answer: ``{"ok": true, "timestamp": ..., "channel": ..., "delivered": ...}``
            from the founder route, where ``delivered`` is ``true`` (the messaging platform
            took it), ``false`` (the platform refused it: it is in the conversation, the
            customer did not get it) or ``null`` (still being retried); without
            ``delivered`` the conversation is not on a messaging app (widget, REST: the
            message is recorded and reaches the customer there). Callers that only need
            "Rasa took it" may ignore it.

        Raises:
            TakeoverError: Rasa refused the message or could not be reached.
        """
        if self.via_widget:
            response = self._widget(sender_id, "message", {"text": text})
            try:
                answer = response.json()
            except ValueError:
                answer = None
            return answer if isinstance(answer, dict) else {"ok": True}
        self._events(
            sender_id,
            [{"event": "bot", "text": text, "metadata": {"author": "founder"}}],
        )
        return {"ok": True}
