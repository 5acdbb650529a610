"""Test helpers: in-memory byte streams and a scripted fake daemon peer.

The peer encodes frames with the standard ``json`` module and its own header, so the
client's encoder is not what checks the client's decoder.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from anyio.abc import ByteReceiveStream, ByteSendStream
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from kernelbridge.client import DaemonClient, FrameDecoder


def frame(message: Any, *, header: bytes = b"Content-Length: %d\r\n\r\n") -> bytes:
    """One LSP frame, built independently of the client's encoder."""
    body = json.dumps(message, separators=(",", ":")).encode()
    return header % len(body) + body


class MemoryByteSend(ByteSendStream):
    """The writing end of an in-memory byte pipe."""

    def __init__(self, send: MemoryObjectSendStream[bytes]) -> None:
        self._send = send

    async def send(self, item: bytes) -> None:
        await self._send.send(bytes(item))

    async def aclose(self) -> None:
        self._send.close()


class MemoryByteReceive(ByteReceiveStream):
    """The reading end; hands out what was sent, cut to ``max_bytes`` per read."""

    def __init__(self, receive: MemoryObjectReceiveStream[bytes]) -> None:
        self._receive = receive
        self._buf = b""
        self._pos = 0

    async def receive(self, max_bytes: int = 65536) -> bytes:
        if self._pos >= len(self._buf):
            self._buf = await self._receive.receive()
            self._pos = 0
        chunk = self._buf[self._pos : self._pos + max_bytes]
        self._pos += len(chunk)
        return chunk

    async def aclose(self) -> None:
        self._receive.close()


def byte_pipe() -> tuple[MemoryByteSend, MemoryByteReceive]:
    send, receive = anyio.create_memory_object_stream[bytes](math.inf)
    return MemoryByteSend(send), MemoryByteReceive(receive)


class FakePeer:
    """The daemon's side of an in-process connection, driven by the test."""

    def __init__(self, receive: MemoryByteReceive, send: MemoryByteSend) -> None:
        self.receive_stream = receive
        self.send_stream = send
        self._decoder = FrameDecoder()
        self._queue: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        """The next message the client sent."""
        while not self._queue:
            self._queue.extend(self._decoder.feed(await self.receive_stream.receive()))
        return self._queue.pop(0)

    async def send(self, message: Any) -> None:
        await self.send_stream.send(frame(message))

    async def send_raw(self, data: bytes) -> None:
        await self.send_stream.send(data)

    async def respond(self, request: dict[str, Any], result: Any) -> None:
        await self.send({"jsonrpc": "2.0", "id": request["id"], "result": result})

    async def notify(self, method: str, params: Any) -> None:
        await self.send({"jsonrpc": "2.0", "method": method, "params": params})

    async def close(self) -> None:
        await self.send_stream.aclose()


@asynccontextmanager
async def connected() -> AsyncIterator[tuple[DaemonClient, FakePeer]]:
    """A client connected to a fake peer over in-memory byte pipes."""
    to_peer, peer_in = byte_pipe()
    to_client, client_in = byte_pipe()
    peer = FakePeer(peer_in, to_client)
    async with DaemonClient.connect(client_in, to_peer) as client:
        yield client, peer
