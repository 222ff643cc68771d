"""Small helpers of the platform modules: a credential, an image link in a text.

* :func:`setting`: a channel's credential from its ``bot/credentials.yml`` entry, else from
  the environment (the rendered credentials keep ``${VAR}``, Rasa fills them in; a direct
  ``from_credentials({})`` in tests or a shell reads the environment).
* :func:`with_image`: the text with the image's URL on a line of its own (platforms show a
  preview under the link); with a limit, only when it fits.

Rasa environment only.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

from bot.channels.messaging.split import utf16_length

logger = logging.getLogger(__name__)


def setting(credentials: Mapping[str, Any] | None, key: str, env: str) -> str:
    """``credentials[key]`` when set, else the environment variable ``env`` (stripped)."""
    value = (credentials or {}).get(key)
    if value is None or str(value).strip() == "":
        value = os.environ.get(env, "")
    return str(value).strip()


def with_image(
    text: str,
    image: str | None,
    limit: int | None = None,
    length: Callable[[str], int] = utf16_length,
) -> str:
    """The text and the image's URL on a line of its own (if that fits in ``limit``).

    Args:
        text: The message's text (may be empty).
        image: The image's URL, if any.
        limit: The platform's longest text; ``None``: no check. When the URL does not fit
            (a reply already split to the limit), the text goes alone and a warning is logged.
        length: How the platform measures text against ``limit``.

    Returns:
        The text to send.
    """
    if not image:
        return text
    joined = f"{text}\n{image}" if text else image
    if limit is None or length(joined) <= limit:
        return joined
    logger.warning("An image URL did not fit in the message and was left out")
    return text
