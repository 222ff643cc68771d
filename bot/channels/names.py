"""Names shared by the doors and the messaging channels (one definition each).

The messaging channels (``bot/channels/messaging/``) name their conversations
``<channel>:<platform user id>``; a REST client may not use a sender id of that form, or it
could write into (and read the founder's replies of) a messaging customer's conversation.
"""

from __future__ import annotations

#: Every messaging channel's name (its URL is ``/webhooks/<name>/webhook``).
MESSAGING_CHANNELS = ("telegram", "slack", "facebook", "wecom", "wechat", "feishu", "dingtalk")
#: Message metadata only a messaging channel sets: where the platform's replies go.
META_CHANNEL_ADDRESS = "channel_address"


def is_messaging_sender(sender: str) -> bool:
    """Whether ``sender`` has the form of a messaging channel's conversation id.

    Args:
        sender: A sender id.

    Returns:
        True for ``<channel>:...`` with any messaging channel's name, in any case.
    """
    head, colon, _ = sender.partition(":")
    return bool(colon) and head.strip().lower() in MESSAGING_CHANNELS
