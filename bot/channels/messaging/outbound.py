"""Sending the bot's replies to a platform: rendering, splitting and retries.

:func:`render` turns one reply into the platform messages it takes: buttons become numbered
lines (``1. title``) on platforms without buttons, the text is split to the platform's limit
(:mod:`bot.channels.messaging.split`), and buttons and image ride on the last part.
:func:`send_with_retries` makes one platform call up to :data:`ATTEMPTS` times: a retryable
failure (a :class:`PlatformError` with ``retryable=True``, or any other exception such as a
network error) waits an exponential back-off (:data:`BASE_DELAY_S`, doubled each time, plus up
to as much again of random jitter), or the platform's ``retry_after`` when it gave one; a
non-retryable one stops at once. Every failure is logged with the channel and the sender id,
never with the text (a customer's data) nor the raw error of a network library (its URL may
hold a token).
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from bot.channels.messaging.split import Length, split_text, utf16_length

logger = logging.getLogger(__name__)

ATTEMPTS = 4
BASE_DELAY_S = 0.5
#: The longest wait a platform's ``retry_after`` gets; beyond it the send is given up.
MAX_RETRY_AFTER_S = 30.0
URL_RE = re.compile(r"^https?://\S+$", re.IGNORECASE)


@dataclass(frozen=True)
class OutMessage:
    """One reply to send.

    Attributes:
        text: The text (may be empty for an image only).
        buttons: ``(title, payload)`` pairs.
        image: An http(s) image URL.
    """

    text: str
    buttons: tuple[tuple[str, str], ...] = ()
    image: str | None = None


class PlatformError(Exception):
    """A platform API call failed.

    Attributes:
        retryable: Whether trying again may help (5xx, 429, network), not for 4xx
            auth/invalid requests.
        retry_after: The seconds the platform asked to wait, if it said.
    """

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        """Creates the error.

        Args:
            message: What failed (never a token nor the customer's text).
            retryable: Whether trying again may help.
            retry_after: The seconds the platform asked to wait.
        """
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


def backoff_delay(
    attempt: int, base: float = BASE_DELAY_S, rng: Callable[[], float] = random.random
) -> float:
    """The wait after failed attempt ``attempt`` (1-based): ``base * 2**(attempt-1) * (1 + jitter)``."""
    step = base * 2 ** (attempt - 1)
    return step + step * rng()


def _describe(error: BaseException) -> str:
    if isinstance(error, PlatformError):
        return str(error)[:300]
    return type(error).__name__  # a library's message may carry the URL (and its token)


async def send_with_retries(
    send_once: Callable[[], Awaitable[None]],
    *,
    channel: str,
    sender_id: str,
    attempts: int = ATTEMPTS,
    base_delay: float = BASE_DELAY_S,
    max_retry_after: float = MAX_RETRY_AFTER_S,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> bool:
    """Calls ``send_once`` until it succeeds, at most ``attempts`` times.

    Args:
        send_once: One platform API call.
        channel: The channel's name (for the log).
        sender_id: The conversation (for the log).
        attempts: Most calls.
        base_delay: The first back-off in seconds.
        max_retry_after: Longest ``retry_after`` honoured (longer: give up).
        sleep: How to wait (tests may pass a recording one).

    Returns:
        Whether a call succeeded.
    """
    for attempt in range(1, attempts + 1):
        try:
            await send_once()
            return True
        except asyncio.CancelledError:
            raise
        except Exception as error:
            retryable = not isinstance(error, PlatformError) or error.retryable
            last = attempt >= attempts or not retryable
            logger.warning(
                "%s: sending to %s failed (attempt %d of %d%s): %s",
                channel,
                sender_id,
                attempt,
                attempts,
                ", giving up" if last else "",
                _describe(error),
            )
            if last:
                return False
            delay = backoff_delay(attempt, base_delay)
            retry_after = error.retry_after if isinstance(error, PlatformError) else None
            if retry_after is not None:
                if retry_after > max_retry_after:
                    logger.warning(
                        "%s: the platform asks to wait %.0f s before sending to %s; given up",
                        channel,
                        retry_after,
                        sender_id,
                    )
                    return False
                delay = max(retry_after, 0.0) + base_delay * random.random()
            await sleep(delay)
    return False


def numbered_lines(buttons: Iterable[tuple[str, str]]) -> str:
    """Buttons as numbered lines: ``1. Track my order``."""
    return "\n".join(f"{index}. {title}" for index, (title, _) in enumerate(buttons, start=1))


def render(
    message: OutMessage,
    *,
    max_chars: int,
    numbered: bool,
    length: Length = utf16_length,
) -> list[OutMessage]:
    """The platform messages one reply takes (each text within ``max_chars``).

    Args:
        message: The reply.
        max_chars: The platform's longest text.
        numbered: Whether buttons become numbered lines of the text.
        length: How the platform measures text.

    Returns:
        The parts; buttons (unless numbered) and the image are on the last one.
    """
    text = message.text
    buttons = message.buttons
    if numbered and buttons:
        lines = numbered_lines(buttons)
        text = f"{text}\n\n{lines}" if text else lines
        buttons = ()
    parts = split_text(text, max_chars, length)
    out = [OutMessage(part) for part in parts]
    out[-1] = replace(out[-1], buttons=buttons, image=message.image)
    return out


def _button(item: Any) -> tuple[str, str] | None:
    if not isinstance(item, Mapping):
        return None
    title, payload = item.get("title"), item.get("payload")
    if isinstance(title, str) and isinstance(payload, str) and title and payload:
        return title, payload
    return None


def out_messages(collected: Iterable[Mapping[str, Any]]) -> list[OutMessage]:
    """The replies Rasa's ``CollectingOutputChannel`` gathered, as :class:`OutMessage`.

    Text, buttons and an http(s) image (``image`` or an image ``attachment``) are kept;
    anything else (custom payloads) is left out.
    """
    replies = []
    for item in collected:
        text = item.get("text") if isinstance(item.get("text"), str) else ""
        buttons = tuple(b for b in map(_button, item.get("buttons") or []) if b is not None)
        image = item.get("image")
        attachment = item.get("attachment")
        if not (isinstance(image, str) and URL_RE.match(image)) and isinstance(attachment, Mapping):
            payload = attachment.get("payload")
            image = payload.get("src") if isinstance(payload, Mapping) else None
        image = image if isinstance(image, str) and URL_RE.match(image) else None
        if text or image:
            replies.append(OutMessage(text or "", buttons, image))
    return replies
