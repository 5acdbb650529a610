"""zmq sockets to one kernel, read from the event loop without zmq.asyncio.

Every socket is a plain (non-blocking) zmq socket. A reader task per socket waits on the
socket's fd with ``anyio.wait_readable`` and then drains every queued message in one batch,
handing each to a synchronous callback: no future per message, no thread hop, and IOPub
floods are processed in batches. The zmq fd is edge-triggered: after a send on a socket we
drain it at once, because the send may have consumed the wake-up of a message that arrived
meanwhile (see DESIGN.md, "Traps").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel
import zmq

from kernelbridge._aio import asyncio_loop

from ._errors import ClientClosed, KernelUnavailable

if TYPE_CHECKING:
    from ._connection import ConnectionInfo

FrameHandler = Callable[[list[bytes]], None]
log = logging.getLogger("kernelbridge.jupyter")
# Raw option and flag values: zmq.EVENTS and zmq.POLLIN are enums, and an enum "&" costs
# more than the getsockopt itself.
_EVENTS = int(zmq.EVENTS)
_POLLIN = int(zmq.POLLIN)


def _curve_client(sock: zmq.Socket, info: ConnectionInfo) -> None:
    if info.curve_publickey:
        public, secret = zmq.curve_keypair()
        sock.curve_secretkey = secret
        sock.curve_publickey = public
        sock.curve_serverkey = info.curve_publickey.encode()



class SocketReader:
    """Drains one socket into ``handler``; ``run`` is the task that waits for input."""

    __slots__ = ("_fd", "handler", "max_batch", "socket")

    def __init__(self, socket: zmq.Socket, handler: FrameHandler, max_batch: int = 1024) -> None:
        self.socket = socket
        self.handler = handler
        self.max_batch = max_batch
        self._fd = socket.getsockopt(zmq.FD)

    def drain(self) -> bool:
        """Hand every queued message to the handler. Returns False when it stopped early
        (``max_batch`` reached) so that the loop can serve others before going on."""
        sock = self.socket
        recv = sock.recv
        handler = self.handler
        for _ in range(self.max_batch):
            try:
                # Not recv_multipart: it calls getsockopt(RCVMORE) after every frame, which
                # builds a Python enum each time and costs more than the frames themselves
                # (bench/: +35% iopub messages per CPU second). A Frame knows if more follow.
                frame = recv(zmq.NOBLOCK, copy=False)
                frames = [frame.bytes]
                while frame.more:
                    frame = recv(zmq.NOBLOCK, copy=False)
                    frames.append(frame.bytes)
                # Let libzmq's buffer go before the handler runs: with a 40 MB message it
                # is one of four copies alive at once (bench/: peak 4x -> 3x the message).
                del frame
            except zmq.Again:
                return True
            except zmq.ZMQError:  # socket closed under us: the reader is being stopped
                return True
            try:
                handler(frames)
            except Exception:
                # A bug in a listener must not stop the reader (or lose the batch).
                log.exception("error while handling a message from the kernel")
        return False

    async def run(self) -> None:
        if asyncio_loop() is not None:
            await self._run_asyncio()
            return
        sock = self.socket
        while True:
            if not self.drain():
                await anyio.lowlevel.checkpoint()  # a flood: let other tasks run between batches
                continue
            # Reading EVENTS resets the edge; wait only if nothing is pending now.
            if sock.get(_EVENTS) & _POLLIN:
                continue
            await anyio.wait_readable(self._fd)


    async def _run_asyncio(self) -> None:
        """On asyncio, a reader callback registered once drains the socket the moment
        it becomes readable: no task wake-up and no epoll registration per message
        (``wait_readable`` adds and removes the fd every time), which is most of the cost
        of a small message here (bench/: three wake-ups per kernel_info round trip)."""
        loop = asyncio.get_running_loop()
        loop.add_reader(self._fd, self._on_readable, loop)
        try:
            self._on_readable(loop)  # what arrived before we watched
            await anyio.sleep_forever()
        finally:
            loop.remove_reader(self._fd)

    def _on_readable(self, loop: asyncio.AbstractEventLoop) -> None:
        sock = self.socket
        try:
            while True:
                if not self.drain():
                    # A flood: let the loop serve others, then go on.
                    loop.call_soon(self._on_readable, loop)
                    return
                # Reading EVENTS resets the fd's edge; go again if more came meanwhile.
                if not sock.get(_EVENTS) & _POLLIN:
                    return
        except zmq.ZMQError:  # closed under us: the reader is being stopped
            return


class KernelChannels:
    """The shell, control, stdin (DEALER) and iopub (SUB) sockets to one kernel.

    shell and stdin share one routing identity, as the spec requires for input requests
    to reach us. ``handlers`` maps channel names to frame handlers; ``run`` reads all four
    sockets until cancelled.
    """

    def __init__(
        self,
        info: ConnectionInfo,
        handlers: dict[str, FrameHandler],
        *,
        identity: bytes,
        iopub_rcvhwm: int = 0,
        context: zmq.Context | None = None,
    ) -> None:
        self.info = info
        self.context = context or zmq.Context.instance()
        self.sockets: dict[str, zmq.Socket] = {}
        self.readers: dict[str, SocketReader] = {}
        try:
            for channel in ("shell", "control", "stdin", "iopub"):
                sock = self.context.socket(zmq.SUB if channel == "iopub" else zmq.DEALER)
                sock.linger = 0
                _curve_client(sock, info)
                if channel == "iopub":
                    # The default HWM (1000) silently drops output during floods.
                    sock.rcvhwm = iopub_rcvhwm
                    sock.setsockopt(zmq.SUBSCRIBE, b"")
                elif channel in ("shell", "stdin"):
                    sock.identity = identity
                sock.connect(info.url(channel))
                self.sockets[channel] = sock
                self.readers[channel] = SocketReader(sock, handlers[channel])
        except zmq.ZMQError as exc:
            self.close()
            raise KernelUnavailable(f"cannot connect to the kernel: {exc}") from None

    def send(self, channel: str, frames: list[bytes]) -> None:
        """Queue ``frames`` on ``channel`` without blocking, then drain the socket (a send
        can swallow the edge of a message that arrived meanwhile)."""
        sock = self.sockets.get(channel)
        if sock is None:
            raise ClientClosed("the client is closed")
        try:
            sock.send_multipart(frames, zmq.NOBLOCK)
        except zmq.Again:
            raise KernelUnavailable(
                f"the {channel} queue to the kernel is full: the kernel is not reading"
            ) from None
        except zmq.ZMQError as exc:
            raise KernelUnavailable(f"cannot send on {channel}: {exc}") from None
        if sock.get(_EVENTS) & _POLLIN:
            self.readers[channel].drain()

    async def run(self) -> None:
        async with anyio.create_task_group() as tg:
            for reader in self.readers.values():
                tg.start_soon(reader.run)

    def close(self) -> None:
        """Close every socket. Cancel ``run`` first: its readers wait on the fds."""
        for sock in self.sockets.values():
            sock.close(linger=0)
        self.sockets.clear()


class Heartbeat:
    """Pings the kernel's heartbeat (a REQ socket) and reports whether it answers.

    Nothing is reported until the first answer (a starting kernel is not a dead one).
    After that, a ping unanswered for ``timeout`` seconds reports the kernel lost
    (``on_change(False)``); answers coming back report it again (``on_change(True)``). A
    REQ socket cannot send twice in a row, so an unanswered one is replaced.
    """

    def __init__(
        self,
        info: ConnectionInfo,
        on_change: Callable[[bool], None],
        *,
        interval: float = 0.2,
        timeout: float = 0.8,
        context: zmq.Context | None = None,
    ) -> None:
        self.info = info
        self.on_change = on_change
        self.interval = interval
        self.timeout = timeout
        self.context = context or zmq.Context.instance()
        self.beating: bool | None = None  # None: no answer yet since start or reset()
        self.paused = False  # report nothing (a restart is replacing the kernel)
        self.last_pong = math.nan
        self._socket: zmq.Socket | None = None

    def reset(self) -> None:
        """Forget the kernel's state: report nothing until it answers again (restarts)."""
        self.beating = None
        self.paused = False

    def answered_elsewhere(self) -> None:
        """The kernel has just answered on another channel (it is ready): count it as
        beating, so that a death before the first pong is reported too."""
        if self.beating is None and not self.paused:
            self.beating = True

    def pause(self) -> None:
        """Report nothing until ``reset``: the old process may answer a last ping and then
        die, which is not a death while a restart replaces it."""
        self.beating = None
        self.paused = True

    def _new_socket(self) -> zmq.Socket:
        if self._socket is not None:
            self._socket.close(linger=0)
        sock = self.context.socket(zmq.REQ)
        sock.linger = 0
        _curve_client(sock, self.info)
        sock.connect(self.info.url("hb"))
        self._socket = sock
        return sock

    async def _pong(self, sock: zmq.Socket) -> bool:
        with anyio.move_on_after(self.timeout):
            while not sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                await anyio.wait_readable(sock.getsockopt(zmq.FD))
        # Look once more after the deadline: if our own loop was stalled, the pong may
        # be sitting there, and the kernel is fine.
        try:
            sock.recv(zmq.NOBLOCK)
        except zmq.Again:
            return False
        return True

    async def run(self) -> None:
        sock = self._new_socket()
        try:
            while True:
                sent = time.monotonic()
                sock.send(b"ping")
                answered = await self._pong(sock)
                if self.paused:
                    if not answered:
                        sock = self._new_socket()
                    else:
                        await anyio.sleep(self.interval)
                    continue
                if answered:
                    self.last_pong = time.monotonic()
                    if self.beating is not True:
                        if self.beating is False:
                            self.on_change(True)
                        self.beating = True
                    await anyio.sleep(max(0.0, self.interval - (self.last_pong - sent)))
                else:
                    if self.beating is True:
                        self.beating = False
                        self.on_change(False)
                    sock = self._new_socket()
        finally:
            with contextlib.suppress(Exception):
                if self._socket is not None:
                    self._socket.close(linger=0)
            self._socket = None
