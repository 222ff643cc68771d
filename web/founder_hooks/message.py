"""The founder's message as every hook hands it on, whatever app it came from."""

from __future__ import annotations

from dataclasses import dataclass

KIND_TELEGRAM = "telegram"
KIND_WECOM = "wecom"


@dataclass(frozen=True)
class FounderMessage:
    """One authentic message of the founder from an alert app.

    Attributes:
        kind: The app (``telegram`` or ``wecom``): also the alert delivery's channel.
        delivery_id: The platform's id of the message (Telegram ``update_id``, WeCom
            ``MsgId``): a re-delivery of the same id is sent to the customer once.
        text: The text, cleaned (:func:`web.founder_hooks.door.clean_reply`); may be empty
            (a photo, a sticker...).
        reply_to: The platform id of the message the founder replied to (Telegram), if any.
        message_id: The platform id of the founder's own message (the acknowledgement
            replies to it), if any.
        reply_ref: The alert ref (``A17``) that *anchors* the text of the message replied
            to: an acknowledgement's lead (``已发送给客户（#A17）``) or a leading ``#A17`` (an
            alert's top line, the founder's own ``#A17 ...``); never a ref elsewhere in it.
    """

    kind: str
    delivery_id: str
    text: str
    reply_to: str | None = None
    message_id: str | None = None
    reply_ref: str | None = None
