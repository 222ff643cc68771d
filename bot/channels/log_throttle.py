"""At most one log line per key and minute for the doors' refusals.

A client that keeps sending after it was refused would otherwise write one log line per
request: a flood would fill the disk and drown every other line. :class:`LogThrottle` lets
one line per key (a client address, a sender) through per window and counts the others; the
next line that gets through says how many were left out. Memory is bounded like the rate
tables: at most :data:`MAX_LOGGED_KEYS` keys, least recently logged ones forgotten first (a
forgotten key simply logs its next line). Standard library only (the Rasa environment).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable

#: Most keys whose last logged line is remembered.
MAX_LOGGED_KEYS = 10_000
LOG_WINDOW_SECONDS = 60.0


class LogThrottle:
    """Logs at most one line per key per window and counts the lines left out."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        window: float = LOG_WINDOW_SECONDS,
        max_keys: int = MAX_LOGGED_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Creates an empty throttle.

        Args:
            logger: Where the lines go.
            window: Seconds between two lines of one key.
            max_keys: Most keys remembered.
            clock: A monotonic clock in seconds.
        """
        self._logger = logger
        self.window = window
        self.max_keys = max_keys
        self._clock = clock
        # key -> (when its last line was logged, lines left out since)
        self._keys: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def __len__(self) -> int:
        """How many keys are remembered."""
        return len(self._keys)

    def warning(self, key: str, message: str, *args: object) -> bool:
        """Logs ``message % args`` as a warning unless ``key`` logged one within the window.

        Args:
            key: What the line is about (a client address, a sender id).
            message: The ``%``-format message.
            *args: Its arguments.

        Returns:
            Whether the line was logged.
        """
        now = self._clock()
        last = self._keys.get(key)
        if last is not None and now - last[0] < self.window:
            self._keys[key] = (last[0], last[1] + 1)
            return False
        left_out = last[1] if last is not None else 0
        self._keys[key] = (now, 0)
        self._keys.move_to_end(key)
        while len(self._keys) > self.max_keys:
            self._keys.popitem(last=False)
        if left_out:
            self._logger.warning(
                message + " (%d more like this since the last one, not logged)", *args, left_out
            )
        else:
            self._logger.warning(message, *args)
        return True
