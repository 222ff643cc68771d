"""Account linking on the messaging channels: which shop customer a platform user is.

A platform user (a Telegram chat, a WeChat open id...) is anonymous until they send the link
code their shop gave them (docs/channels/linking.md)::

    /start <code>   /link <code>   link <code>   绑定 <code>   綁定 <code>

The code is verified (:func:`bot.channels.identity.verify_link_code`, signed with
``IDENTITY_SECRET`` or ``DEMO_IDENTITY_SECRET``), used once (its SHA-256 goes into
``channel_link_codes``) and the binding ``(channel, user_id) -> customer_id`` is stored in
``channel_bindings`` (linking again, to the same or another customer, replaces it). A binding
made with a demo code is marked ``demo`` and counts only while ``DEMO_IDENTITY_SECRET`` is
set: once the shop leaves demo mode its demo bindings name nobody. Only private chats link:
in a group chat (Feishu, DingTalk: user id ``<person>@<chat>``, the reply address's
``chat_type``/``conversation_type`` ``group``) the answers would reach everyone in the group,
so a link command there is answered with :data:`REPLY_PRIVATE_ONLY` and a group conversation
never has a customer::

    /unlink   unlink   解绑   解綁

removes it. The messaging base asks :meth:`Bindings.handle_command` first for every message;
a command is answered here with one of the bilingual constants below (they never show any
customer data) and never reaches Rasa. :meth:`Bindings.customer_of` is the only source of a
message's ``verified_customer_id`` on these channels.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from bot.channels.identity import (
    ENV_DEMO_SECRET,
    ENV_SECRET,
    LINK_CODE_MAX_CHARS,
    MAX_TTL_SECONDS,
    verify_link_code,
)
from bot.channels.messaging.store import BINDINGS, LINK_CODES, ChannelStore

logger = logging.getLogger(__name__)

KIND_LINKED = "linked"
KIND_UNLINKED = "unlinked"
KIND_INVALID = "invalid"
KIND_USED = "used"
KIND_GROUP = "group"

REPLY_LINKED = (
    "已绑定你的账户：现在可以直接问我订单、会员和账户的问题了。发送「解绑」可随时解除。"
    " / Linked: this chat is now connected to your account, so you can ask about your orders"
    ' and membership. Send "unlink" any time to undo.'
)
REPLY_INVALID = (
    "这个绑定码无效或已过期，请在网店的账户页面重新获取。"
    " / This link code is invalid or has expired: please get a new one from your account"
    " page in the shop."
)
REPLY_USED = (
    "这个绑定码已经用过了，请在网店的账户页面重新获取。"
    " / This link code has already been used: please get a new one from your account page"
    " in the shop."
)
REPLY_MISSING_CODE = (
    '请发送「绑定 」加上网店给你的绑定码。 / Please send "link " followed by the code your'
    " shop account page shows."
)
REPLY_UNLINKED = (
    "已解除绑定：这个聊天不再关联你的账户。 / Unlinked: this chat is no longer connected to"
    " your account."
)
REPLY_NOT_LINKED = "这个聊天没有绑定账户。 / This chat is not linked to an account."
REPLY_PRIVATE_ONLY = (
    "为保护你的隐私，请在和我的私聊中发送绑定码，不要在群聊里绑定。"
    " / To keep your account private, please send the link code in a private chat with me,"
    " not in a group."
)
REPLY_TOO_MANY = (
    "尝试次数太多，请过几分钟再试。 / Too many attempts: please try again in a few minutes."
)

#: Channels whose group conversations have the user id ``<person>@<chat id>``
#: (bot/channels/messaging/feishu.py, dingtalk.py; their private user ids have no ``@``).
GROUP_USER_ID_CHANNELS = frozenset({"feishu", "dingtalk"})
#: Keys of a reply address that say ``group`` for a group chat (Feishu, DingTalk).
GROUP_ADDRESS_KEYS = ("chat_type", "conversation_type")
GROUP = "group"

#: Link attempts one platform user may make per window (guessing a code is hopeless anyway:
#: this keeps a flood from costing database reads and replies).
MAX_LINK_ATTEMPTS = 10
LINK_ATTEMPT_WINDOW_S = 600.0
#: Users whose attempts are remembered (oldest windows dropped first beyond this).
MAX_TRACKED_USERS = 10_000

#: Longest message looked at as a command (anything longer goes to the bot as it is).
MAX_COMMAND_CHARS = 160
MAX_USER_ID_CHARS = 256
MAX_CUSTOMER_ID_CHARS = 128
_CODE = rf"[A-Za-z0-9_-]{{17,{LINK_CODE_MAX_CHARS}}}"
#: ``/start <anything>`` and ``/link <anything>`` (Telegram may add ``@botname``).
_SLASH_LINK_RE = re.compile(r"/(?:start|link)(?:@[A-Za-z0-9_]{1,64})?\s+(?P<code>.+)", re.I | re.S)
#: ``/link`` alone (asks for the code); ``/start`` alone is Telegram's hello and goes to the bot.
_SLASH_LINK_BARE_RE = re.compile(r"/link(?:@[A-Za-z0-9_]{1,64})?", re.I)
#: ``link <code>``, ``绑定 <code>``: a plain word counts only before something code-shaped.
_WORD_LINK_RE = re.compile(rf"(?:link|绑定|綁定)[\s:：]*(?P<code>{_CODE})", re.I)
_UNLINK_RE = re.compile(r"(?:/unlink(?:@[A-Za-z0-9_]{1,64})?|unlink|解绑|解綁)[.!。！]?", re.I)


@dataclass(frozen=True)
class LinkOutcome:
    """What a link or unlink command did.

    Attributes:
        kind: ``linked``, ``unlinked``, ``invalid``, ``used`` or ``group`` (a link command
            in a group chat: refused).
        customer_id: The customer now linked (``linked``) or just unlinked, else ``None``.
        reply: The bilingual ``"<zh> / <en>"`` text sent back to the customer.
    """

    kind: str
    customer_id: str | None
    reply: str


def is_group_chat(channel: str, user_id: str, address: Mapping[str, Any] | None = None) -> bool:
    """Whether a message comes from a group chat (where answers reach the whole group).

    Args:
        channel: The channel's name.
        user_id: The platform's id of the person writing (``<person>@<chat>`` in a Feishu or
            DingTalk group).
        address: The delivery's reply address (``chat_type``/``conversation_type``
            ``group``, or ``group: True``), if known.

    Returns:
        True for a group chat; False for a private one.
    """
    if channel in GROUP_USER_ID_CHANNELS and isinstance(user_id, str) and "@" in user_id:
        return True
    if isinstance(address, Mapping):
        if address.get(GROUP) is True:
            return True
        return any(address.get(key) == GROUP for key in GROUP_ADDRESS_KEYS)
    return False


def code_hash(code: str) -> str:
    """The SHA-256 (hex) under which a used code is remembered (never the code itself)."""
    return hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()


def parse_command(text: object) -> tuple[str, str | None] | None:
    """Whether a message is a link/unlink command.

    Args:
        text: The message text (anything).

    Returns:
        ``("link", code)``, ``("link", None)`` for ``/link`` without a code, ``("unlink",
        None)``, or ``None`` for an ordinary message.
    """
    if not isinstance(text, str) or len(text) > MAX_COMMAND_CHARS:
        return None
    stripped = text.strip()
    for pattern in (_SLASH_LINK_RE, _WORD_LINK_RE):
        found = pattern.fullmatch(stripped)
        if found:
            return "link", found.group("code").strip()
    if _SLASH_LINK_BARE_RE.fullmatch(stripped):
        return "link", None
    if _UNLINK_RE.fullmatch(stripped):
        return "unlink", None
    return None


def _bind(
    connection: Connection,
    channel: str,
    user_id: str,
    customer_id: str,
    digest: str,
    now: float,
    demo: bool,
) -> bool:
    """Uses the code and binds the user; False if the code was used before (nothing written).

    Raises:
        IntegrityError: When another request used the same code at the same moment.
    """
    used = connection.execute(
        sa.select(LINK_CODES.c.used_at).where(LINK_CODES.c.code_hash == digest)
    ).first()
    if used is not None:
        return False
    connection.execute(LINK_CODES.insert().values(code_hash=digest, used_at=now))
    connection.execute(
        BINDINGS.delete().where(BINDINGS.c.channel == channel, BINDINGS.c.user_id == user_id)
    )
    connection.execute(
        BINDINGS.insert().values(
            channel=channel, user_id=user_id, customer_id=customer_id, linked_at=now, demo=demo
        )
    )
    # A code is refused anyway once expired: older rows are no longer needed.
    connection.execute(LINK_CODES.delete().where(LINK_CODES.c.used_at < now - MAX_TTL_SECONDS))
    return True


def _binding(connection: Connection, channel: str, user_id: str) -> tuple[str, bool] | None:
    """``(customer_id, demo)`` of a binding, or None."""
    row = connection.execute(
        sa.select(BINDINGS.c.customer_id, BINDINGS.c.demo).where(
            BINDINGS.c.channel == channel, BINDINGS.c.user_id == user_id
        )
    ).first()
    return None if row is None else (str(row[0]), bool(row[1]))


def _unbind(connection: Connection, channel: str, user_id: str) -> str | None:
    found = _binding(connection, channel, user_id)
    previous = None if found is None else found[0]
    if previous is not None:
        connection.execute(
            BINDINGS.delete().where(BINDINGS.c.channel == channel, BINDINGS.c.user_id == user_id)
        )
    return previous


def _usable_ids(channel: object, user_id: object) -> bool:
    return (
        isinstance(channel, str)
        and isinstance(user_id, str)
        and 0 < len(channel) <= 32
        and 0 < len(user_id) <= MAX_USER_ID_CHARS
    )


class Bindings:
    """Links platform users to shop customers (tables ``channel_bindings``, ``channel_link_codes``).

    Args:
        store: The channel tables (:class:`bot.channels.messaging.store.ChannelStore`).
        secrets: The shop's link-code secrets (default: ``IDENTITY_SECRET`` from the
            environment, read at each command).
        demo_secrets: The demo shop's (default: ``DEMO_IDENTITY_SECRET`` from the
            environment when ``secrets`` is not given, else none). Bindings they made count
            only while there is one.
    """

    def __init__(
        self,
        store: ChannelStore,
        secrets: Iterable[str] | None = None,
        demo_secrets: Iterable[str] | None = None,
    ) -> None:
        """Keeps the store (and fixed secrets, for tests)."""
        self.store = store
        self._secrets = None if secrets is None else tuple(secrets)
        if demo_secrets is None:
            self._demo: tuple[str, ...] | None = None if secrets is None else ()
        else:
            self._demo = tuple(demo_secrets)
        self._attempts: dict[tuple[str, str], tuple[float, int]] = {}

    def _allow_attempt(self, channel: str, user_id: str, now: float) -> bool:
        """Counts a link attempt; False beyond :data:`MAX_LINK_ATTEMPTS` per window."""
        key = (channel, user_id)
        started, count = self._attempts.get(key, (now, 0))
        if now - started >= LINK_ATTEMPT_WINDOW_S or now < started:
            started, count = now, 0
        self._attempts.pop(key, None)  # re-insert: dict order = least recently used first
        self._attempts[key] = (started, count + 1)
        while len(self._attempts) > MAX_TRACKED_USERS:
            del self._attempts[next(iter(self._attempts))]
        return count < MAX_LINK_ATTEMPTS

    def secrets(self) -> tuple[str, ...]:
        """The shop's secrets link codes are verified with (``IDENTITY_SECRET``)."""
        if self._secrets is not None:
            return self._secrets
        return tuple(filter(None, (os.environ.get(ENV_SECRET, ""),)))

    def demo_secrets(self) -> tuple[str, ...]:
        """The demo shop's (``DEMO_IDENTITY_SECRET``); empty: demo bindings count for nothing."""
        if self._demo is not None:
            return self._demo
        return tuple(filter(None, (os.environ.get(ENV_DEMO_SECRET, ""),)))

    async def customer_of(self, channel: str, user_id: str, *, group: bool = False) -> str | None:
        """The customer a platform user linked to, or ``None`` (anonymous).

        Args:
            channel: The channel's name (``telegram``...).
            user_id: The platform's id of the person writing.
            group: Whether the message comes from a group chat (never linked).

        Returns:
            The customer's external id, or ``None`` (also in a group chat, and for a demo
            binding once ``DEMO_IDENTITY_SECRET`` is gone).
        """
        if not _usable_ids(channel, user_id) or group or is_group_chat(channel, user_id):
            return None
        found = await self.store.run(_binding, channel, user_id)
        if found is None:
            return None
        customer, demo = found
        if demo and not self.demo_secrets():
            return None
        if customer and len(customer) <= MAX_CUSTOMER_ID_CHARS:
            return customer
        return None

    async def handle_command(
        self,
        channel: str,
        user_id: str,
        text: str,
        *,
        now: float | None = None,
        group: bool = False,
    ) -> LinkOutcome | None:
        """Handles a link or unlink command; ordinary messages are left alone.

        Args:
            channel: The channel's name.
            user_id: The platform's id of the person writing.
            text: The message text.
            now: The current Unix time (defaults to the clock).
            group: Whether the message comes from a group chat (a link is refused there;
                an unlink still removes a binding).

        Returns:
            What happened, with the reply to send; ``None`` when the text is not a command.
        """
        command = parse_command(text)
        if command is None:
            return None
        verb, code = command
        if not _usable_ids(channel, user_id):
            return LinkOutcome(KIND_INVALID, None, REPLY_INVALID)
        if verb == "unlink":
            previous = await self.store.run(_unbind, channel, user_id)
            logger.info("Unlinked a %s user (was linked: %s)", channel, previous is not None)
            reply = REPLY_UNLINKED if previous is not None else REPLY_NOT_LINKED
            return LinkOutcome(KIND_UNLINKED, previous, reply)
        if group or is_group_chat(channel, user_id):
            logger.info("Refused a link command in a %s group chat", channel)
            return LinkOutcome(KIND_GROUP, None, REPLY_PRIVATE_ONLY)
        if code is None:
            return LinkOutcome(KIND_INVALID, None, REPLY_MISSING_CODE)
        current = time.time() if now is None else now
        if not self._allow_attempt(channel, user_id, current):
            logger.info("Too many link attempts from one %s user", channel)
            return LinkOutcome(KIND_INVALID, None, REPLY_TOO_MANY)
        customer_id, demo = verify_link_code(code, self.secrets(), current), False
        if customer_id is None and self.demo_secrets():
            customer_id, demo = verify_link_code(code, self.demo_secrets(), current), True
        if customer_id is None:
            logger.info("Refused an invalid or expired link code on %s", channel)
            return LinkOutcome(KIND_INVALID, None, REPLY_INVALID)
        digest = code_hash(code)
        try:
            bound = await self.store.run(
                _bind, channel, user_id, customer_id, digest, current, demo
            )
        except IntegrityError:  # the same code, used by another request at the same moment
            bound = False
        if not bound:
            if await self.customer_of(channel, user_id) == customer_id:
                return LinkOutcome(KIND_LINKED, customer_id, REPLY_LINKED)  # sent twice
            logger.info("Refused a used link code on %s", channel)
            return LinkOutcome(KIND_USED, None, REPLY_USED)
        logger.info("Linked a %s user to a customer (demo code: %s)", channel, demo)
        return LinkOutcome(KIND_LINKED, customer_id, REPLY_LINKED)
