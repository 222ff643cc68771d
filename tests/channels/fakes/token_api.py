"""What the fake Feishu and DingTalk Open Platforms share, for the channel tests.

Both apps fetch an access token with their id and secret, then send messages with it; the
fakes remember the tokens they issued (a token they did not issue gets the platform's
invalid-token answer) and the messages they accepted, by target (a user, a group, a message
replied to). :class:`FakeTokenAPI` holds that bookkeeping; the platform modules add their
documented endpoints, answers and deliveries.

Not a platform: no ``make_fake`` here.
"""

from __future__ import annotations

import itertools
from typing import Any

from tests.channels.fakes.base import Call, FakePlatform


class FakeTokenAPI(FakePlatform):
    """Issued access tokens and accepted messages (see the module docstring).

    Attributes:
        tokens: The tokens issued and still valid.
        accepted: Messages accepted: ``{"target": ..., "call": Call, ...}``, oldest first.
    """

    def __init__(self) -> None:
        """A fake with no token issued and nothing accepted."""
        super().__init__()
        self.tokens: list[str] = []
        self.accepted: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    def issue(self, token: str) -> str:
        """Makes ``token`` valid; returns it."""
        with self._lock:
            self.tokens.append(token)
        return token

    def token_valid(self, token: str | None) -> bool:
        """Whether ``token`` was issued and has not expired."""
        with self._lock:
            return token in self.tokens

    def next_id(self) -> int:
        """1, 2, 3...: for the ids of accepted messages."""
        return next(self._ids)

    def accept(self, targets: list[str], call: Call, **extra: Any) -> None:
        """Records ``call`` as accepted for each of ``targets``."""
        with self._lock:
            self.accepted.extend({"target": t, "call": call, **extra} for t in targets)

    def expire_tokens(self) -> None:
        """Every token issued so far stops working (until a new one is fetched)."""
        with self._lock:
            self.tokens.clear()

    def reset(self) -> None:
        """Forgets calls, failures and accepted messages (tokens stay valid)."""
        super().reset()
        with self._lock:
            self.accepted.clear()

    def delivered(self, *targets: str) -> list[Call]:
        """Accepted message calls to any of ``targets``, oldest first."""
        with self._lock:
            return [item["call"] for item in self.accepted if item["target"] in targets]
