"""What one client can make the Rasa process hold in memory, against a real ``rasa run``.

The widget never sends binary data: a socket that announces binary attachments is dropped at
once (python-socketio would otherwise keep every announced attachment until the last one
arrives, without limit), and no socket.io message may exceed 64 KB. The resident memory of the
Rasa process is measured while the attack is under way.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import pytest

pytest.importorskip("rasa")

import websockets  # noqa: E402
from websockets.typing import Origin  # noqa: E402

from bot.channels.widget_session import is_session_id  # noqa: E402
from tests.bot.door_server import SITE_ORIGIN, DoorServer, http  # noqa: E402

pytestmark = pytest.mark.rasa_env

MB = 1024 * 1024
ATTACHMENTS = 60
ATTACHMENT_BYTES = 900_000  # under engine.io's old 1 MB cap: each one was accepted and kept
MAX_GROWTH_BYTES = 30 * MB
WAIT_S = 10


class RawSocket:
    """A socket.io client over websocket (as the widget connects) that can send anything.

    It speaks engine.io 4 / socket.io 5 by hand (python-socketio's client needs a newer
    aiohttp than Rasa's for websockets): ``0`` open, ``40`` connect, ``42[...]`` events,
    ``43<id>[...]`` acks, ``2``/``3`` ping/pong; a binary frame is an attachment.
    """

    def __init__(self, server: DoorServer) -> None:
        self.server = server
        self.ws: Any = None
        self.dropped = False
        self._next_id = 0

    async def connect(self) -> None:
        url = self.server.url.replace("http://", "ws://")
        self.ws = await websockets.connect(
            f"{url}/widget/socket.io/?EIO=4&transport=websocket",
            origin=Origin(SITE_ORIGIN),
            max_size=None,
            compression=None,
        )
        assert (await self.ws.recv()).startswith("0")
        await self.ws.send("40")
        assert (await self.receive()).startswith("40")

    async def receive(self, timeout: float = WAIT_S) -> str:
        """The next socket.io packet (pings answered); ``""`` once the server dropped us."""
        while True:
            try:
                frame = await asyncio.wait_for(self.ws.recv(), timeout)
            except websockets.ConnectionClosed:
                self.dropped = True
                return ""
            if frame == "2":
                await self.ws.send("3")
                continue
            if frame == "1" or frame.startswith("41"):
                self.dropped = True
                return ""
            return str(frame)

    async def wait_dropped(self) -> bool:
        """Reads until the server closes the socket (or nothing comes for a while)."""
        while not self.dropped:
            try:
                await self.receive()
            except asyncio.TimeoutError:
                return False
        return True

    async def emit(self, event: str, data: Any) -> None:
        await self.ws.send("42" + json.dumps([event, data]))

    async def call(self, event: str, data: Any) -> Any:
        """Emits with an acknowledgement and returns it (other events are skipped)."""
        self._next_id += 1
        ack_id = str(self._next_id)
        await self.ws.send(f"42{ack_id}" + json.dumps([event, data]))
        while True:
            packet = await self.receive(60)
            assert packet, "dropped while waiting for an ack"
            if packet.startswith("43" + ack_id + "["):
                return json.loads(packet[2 + len(ack_id) :])[0]

    async def session(self) -> str:
        """Asks for a fresh session; returns its id."""
        await self.emit("session_request", {"session_id": None, "session_token": None})
        while True:
            packet = await self.receive()
            assert packet, "dropped while waiting for a session"
            if packet.startswith("42"):
                name, data = json.loads(packet[2:])[:2]
                if name == "session_confirm":
                    return str(data["session_id"])

    async def close(self) -> None:
        await self.ws.close()


def run(coroutine: Any) -> Any:
    """Runs a coroutine to completion (no pytest-asyncio in the Rasa environment)."""
    return asyncio.run(coroutine)


async def still_answers(server: DoorServer) -> None:
    """A new widget connection gets a session and an answer."""
    customer = RawSocket(server)
    await customer.connect()
    session = await customer.session()
    assert is_session_id(session)
    ack = await customer.call(
        "user_uttered", {"session_id": session, "message": "你好", "client_id": "m1"}
    )
    assert ack["ok"] is True, ack
    await customer.close()


def test_a_binary_event_drops_the_socket_and_the_server_stays_up(door_server: DoorServer) -> None:
    async def scenario() -> None:
        attacker = RawSocket(door_server)
        await attacker.connect()
        session = await attacker.session()
        # What emit("user_uttered", {"session_id", "message": b"..."}) sends: a binary event
        # announcing one attachment, then the attachment as a binary frame.
        placeholder = {"_placeholder": True, "num": 0}
        body = json.dumps(["user_uttered", {"session_id": session, "message": placeholder}])
        await attacker.ws.send("451-" + body)
        await attacker.ws.send(b"\x00" * 10)
        assert await attacker.wait_dropped()
        await still_answers(door_server)

    run(scenario())


def test_announced_attachments_are_not_kept_in_memory(door_server: DoorServer) -> None:
    async def scenario() -> None:
        attacker = RawSocket(door_server)
        await attacker.connect()
        await attacker.session()
        before = door_server.rss_bytes()
        header = f'45{ATTACHMENTS + 1}-["user_uttered",{{"_placeholder":true,"num":0}}]'
        try:
            await attacker.ws.send(header)
            for _ in range(ATTACHMENTS):
                await attacker.ws.send(os.urandom(ATTACHMENT_BYTES))
        except websockets.ConnectionClosed:
            pass  # dropped before all of them were sent
        await asyncio.sleep(1.0)
        growth = door_server.rss_bytes() - before
        assert growth < MAX_GROWTH_BYTES, f"Rasa grew by {growth / MB:.0f} MB"
        assert await attacker.wait_dropped()
        await still_answers(door_server)

    run(scenario())


def test_a_message_over_64_kb_drops_the_socket(door_server: DoorServer) -> None:
    async def scenario() -> None:
        client = RawSocket(door_server)
        await client.connect()
        session = await client.session()
        small = await client.call(
            "user_uttered", {"session_id": session, "message": "y" * 30_000, "client_id": "b1"}
        )
        assert small["error"] == "too_long"  # under the cap: the door answers politely
        await client.emit(
            "user_uttered", {"session_id": session, "message": "y" * 70_000, "client_id": "b2"}
        )
        assert await client.wait_dropped()
        await still_answers(door_server)

    run(scenario())


# -- REST: bodies are refused before they are read -------------------------------------------
BIG_BODY_BYTES = 20_000_000
BIG_BODIES = 5
CHUNK_BYTES = 1_000_000


async def open_post(server: DoorServer, length: int) -> tuple[Any, Any]:
    """Opens a REST POST announcing ``length`` body bytes; returns the connection's streams."""
    host, port = server.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"POST /webhooks/rest/webhook HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n".encode()
    )
    await writer.drain()
    return reader, writer


async def status_of(reader: Any) -> int:
    line = await asyncio.wait_for(reader.readline(), WAIT_S)
    return int(line.split()[1])


def test_a_huge_rest_body_is_refused_before_it_is_sent(door_server: DoorServer) -> None:
    async def scenario() -> None:
        reader, writer = await open_post(door_server, BIG_BODY_BYTES)
        assert await status_of(reader) == 413  # answered on the headers alone
        answer = (await asyncio.wait_for(reader.read(), WAIT_S)).decode()
        body = json.loads(answer.split("\r\n\r\n", 1)[1])
        assert body["error"] == "too_large" and " / " in body["message"]
        writer.close()

    run(scenario())


def test_huge_rest_bodies_are_not_kept_in_memory(door_server: DoorServer) -> None:
    async def upload() -> tuple[Any, Any]:
        reader, writer = await open_post(door_server, BIG_BODY_BYTES)
        try:  # all but the last chunk: the server waits for the rest
            for _ in range(BIG_BODY_BYTES // CHUNK_BYTES - 1):
                writer.write(os.urandom(CHUNK_BYTES))
                await writer.drain()
        except (ConnectionError, OSError):
            pass  # refused and closed by the server
        return reader, writer

    async def scenario() -> None:
        before = door_server.rss_bytes()
        uploads = await asyncio.wait_for(asyncio.gather(*(upload() for _ in range(BIG_BODIES))), 60)
        await asyncio.sleep(0.5)
        growth = door_server.rss_bytes() - before
        assert growth < MAX_GROWTH_BYTES, f"Rasa grew by {growth / MB:.0f} MB"
        for reader, writer in uploads:  # each one refused: a 413, or closed mid-upload
            try:
                assert await status_of(reader) == 413
            except ConnectionError:
                pass
            writer.close()

    run(scenario())
    reply = http(
        f"{door_server.url}/webhooks/rest/webhook", {"sender": "rest-after-big", "message": "你好"}
    )
    assert reply.status == 200 and reply.body
