"""The floor: a minimal Jupyter client on raw pyzmq, hmac and orjson.

A shell DEALER (identity = session) and an iopub SUB, plain non-blocking zmq sockets read
from the event loop with ``anyio.wait_readable`` on their (edge-triggered) fds. Every
message it reads is checked (HMAC-sha256, constant-time compare) and its four JSON frames
decoded; nothing else: no message objects, no routing, no replay memory, no timeouts of its
own (the benchmark puts a deadline around it). It knows nothing of kernelbridge.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import anyio
import orjson
import zmq

DELIMITER = b"<IDS|MSG>"
EMPTY = b"{}"
_MORE = int(zmq.SNDMORE | zmq.NOBLOCK)
_LAST = int(zmq.NOBLOCK)

Decoded = tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]


class BadMessage(Exception):
    """A message without delimiter, with too few frames or a wrong signature."""


def new_mac(key: bytes) -> hmac.HMAC:
    """A keyed HMAC-sha256, copied per message (cheaper than keying a new one)."""
    return hmac.new(key, digestmod=hashlib.sha256)


def decode(mac: hmac.HMAC, frames: list[bytes]) -> Decoded:
    """``(header, parent_header, metadata, content)`` of a signed message: the HMAC check
    and four orjson decodes, nothing else. Raises BadMessage."""
    try:
        i = frames.index(DELIMITER)
    except ValueError:
        raise BadMessage("no delimiter") from None
    if len(frames) < i + 6:
        raise BadMessage("truncated")
    h = mac.copy()
    h.update(frames[i + 2])
    h.update(frames[i + 3])
    h.update(frames[i + 4])
    h.update(frames[i + 5])
    if not hmac.compare_digest(h.hexdigest().encode(), frames[i + 1]):
        raise BadMessage("bad signature")
    loads = orjson.loads
    return loads(frames[i + 2]), loads(frames[i + 3]), loads(frames[i + 4]), loads(frames[i + 5])


def recv_nowait(sock: zmq.Socket) -> list[bytes]:
    """The next message on ``sock``, or zmq.Again. Frame by frame: pyzmq's recv_multipart
    asks getsockopt(RCVMORE) after each frame, which costs more than the frame itself; a
    Frame knows whether more follow."""
    frame = sock.recv(zmq.NOBLOCK, copy=False)
    frames = [frame.bytes]
    while frame.more:
        frame = sock.recv(zmq.NOBLOCK, copy=False)
        frames.append(frame.bytes)
    return frames


async def recv(sock: zmq.Socket, fd: int | None = None) -> list[bytes]:
    """The next message on ``sock`` (whose ``zmq.FD`` is ``fd``). The fd is
    edge-triggered: look at EVENTS (which re-arms it) before every wait."""
    while True:
        try:
            return recv_nowait(sock)
        except zmq.Again:
            pass
        if not sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            await anyio.wait_readable(sock.getsockopt(zmq.FD) if fd is None else fd)


class RawClient:
    """A shell + iopub client of the kernel described by ``connection`` (the fields of a
    connection file). Requests are sequential: one caller at a time."""

    def __init__(self, connection: Mapping[str, Any], context: zmq.Context | None = None) -> None:
        if connection.get("signature_scheme", "hmac-sha256") != "hmac-sha256":
            raise ValueError("the raw client signs with hmac-sha256 only")
        self.session = uuid.uuid4().hex
        self._mac = new_mac(str(connection["key"]).encode())
        ip, transport = connection["ip"], connection.get("transport", "tcp")

        def url(channel: str) -> str:
            port = connection[f"{channel}_port"]
            return f"ipc://{ip}-{port}" if transport == "ipc" else f"tcp://{ip}:{port}"

        ctx = context or zmq.Context.instance()
        self.shell = ctx.socket(zmq.DEALER)
        self.shell.linger = 0
        self.shell.identity = self.session.encode()
        self.shell.connect(url("shell"))
        self.iopub = ctx.socket(zmq.SUB)
        self.iopub.linger = 0
        self.iopub.rcvhwm = 0
        self.iopub.setsockopt(zmq.SUBSCRIBE, b"")
        self.iopub.connect(url("iopub"))
        self._shell_fd = self.shell.getsockopt(zmq.FD)
        self._iopub_fd = self.iopub.getsockopt(zmq.FD)

    def close(self) -> None:
        self.shell.close(linger=0)
        self.iopub.close(linger=0)

    def send(self, msg_type: str, content: Mapping[str, Any]) -> str:
        """Sign and send a shell request; returns its msg_id."""
        msg_id = uuid.uuid4().hex
        header = orjson.dumps({
            "msg_id": msg_id, "session": self.session, "username": "raw",
            "date": datetime.now(UTC).isoformat(), "msg_type": msg_type, "version": "5.3",
        })
        content_b = orjson.dumps(content)
        h = self._mac.copy()
        h.update(header)
        h.update(EMPTY)
        h.update(EMPTY)
        h.update(content_b)
        # Frame by frame with int flags: send_multipart ORs IntFlag enums in Python for each
        # frame, which costs more than sending it.
        send = self.shell.send
        for frame in (DELIMITER, h.hexdigest().encode(), header, EMPTY, EMPTY):
            send(frame, _MORE)
        send(content_b, _LAST)
        return msg_id

    async def reply(self, msg_id: str) -> Decoded:
        """The shell reply to ``msg_id`` (replies to anything else are skipped)."""
        while True:
            msg = decode(self._mac, await recv(self.shell, self._shell_fd))
            if msg[1].get("msg_id") == msg_id:
                return msg

    async def idle(self, msg_id: str) -> None:
        """Read iopub until the ``status: idle`` whose parent is ``msg_id``."""
        while True:
            header, parent, _, content = decode(self._mac, await recv(self.iopub, self._iopub_fd))
            if (
                parent.get("msg_id") == msg_id
                and header["msg_type"] == "status"
                and content.get("execution_state") == "idle"
            ):
                return

    def discard_iopub(self) -> int:
        """Drop what iopub has queued (other clients' traffic); returns how many."""
        n = 0
        while True:
            try:
                self.iopub.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return n
            n += 1

    async def request(self, msg_type: str, content: Mapping[str, Any]) -> dict[str, Any]:
        """Send a shell request and return its reply's content."""
        return (await self.reply(self.send(msg_type, content)))[3]

    async def execute(self, code: str) -> dict[str, Any]:
        """Execute ``code``; returns once both the reply and the idle status are in."""
        msg_id = self.send(
            "execute_request",
            {"code": code, "silent": False, "store_history": True, "user_expressions": {},
             "allow_stdin": False, "stop_on_error": True},
        )
        # iopub first: its messages are decoded as they come, while the kernel works (the
        # reply is sent before the idle status, and waits in its queue).
        await self.idle(msg_id)
        return (await self.reply(msg_id))[3]

    async def wait_ready(self) -> None:
        """kernel_info until an iopub message comes in (the SUB is then subscribed)."""
        while True:
            msg_id = self.send("kernel_info_request", {})
            await self.reply(msg_id)
            with anyio.move_on_after(0.05):
                await recv(self.iopub, self._iopub_fd)
                self.discard_iopub()
                return
