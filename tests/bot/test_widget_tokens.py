"""Session tokens of connected widgets are renewed, against a real ``rasa run``.

The rotation rules themselves are tested without a server (``test_widget_session.py``): here,
a connected socket gets a new ``session_confirm`` every ``CHAT_SESSION_TOKEN_RESUME_S / 3``
seconds, so that a widget reconnecting after a Rasa restart holds a token young enough to be
trusted without the lost rotation memory.
"""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("rasa")

from tests.bot.door_server import TOKEN_GRACE_S, TOKEN_RESUME_S, DoorServer  # noqa: E402
from tests.bot.test_widget_channel import Client, history, run  # noqa: E402

pytestmark = pytest.mark.rasa_env

REFRESH_S = TOKEN_RESUME_S / 3


def issued_ms(token: str) -> int:
    return int(token.split(".")[1])


def test_a_connected_widget_gets_fresh_tokens(door_server: DoorServer) -> None:
    async def scenario() -> tuple[str, str, str]:
        client = Client(door_server)
        session = await client.start()
        await client.say("hello", "r1")
        first = client.token
        assert first
        deadline = asyncio.get_running_loop().time() + REFRESH_S + 5
        while client.token == first and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.2)
        renewed = client.token
        assert renewed and renewed != first and issued_ms(renewed) > issued_ms(first)
        confirms = client.named("session_confirm")
        assert [c["session_id"] for c in confirms] == [session, session]
        assert len(client.named("history")) == 1  # a renewal is not a new session
        await client.close()
        return session, first, renewed

    session, first, renewed = run(scenario())
    assert history(door_server, session, renewed).status == 200
    # The renewed token replaced the first one: after the grace period it opens nothing.
    run(asyncio.sleep(TOKEN_GRACE_S + 1))
    assert history(door_server, session, first).status == 401
    assert history(door_server, session, renewed).status == 200
