"""Byte streams over the raw pipe descriptors of a spawned daemon.

anyio's process streams wrap asyncio's StreamReader/StreamWriter: every chunk read wakes
the reader task one loop iteration after the transport's callback, and every write goes
through a writer task first. For a request/response round trip those hops are most of the
client's share (bench/: daemon round trips), so the spawned client owns the descriptors:
on asyncio :class:`DaemonClient` reads them from a reader callback and writes directly
(``write_nowait``) when nothing is queued; the anyio ``receive``/``send`` methods are the
general path (other backends, backpressure).
"""

from __future__ import annotations

import contextlib
import os

import anyio
from anyio.abc import ByteReceiveStream, ByteSendStream

__all__ = ["FdReceiveStream", "FdSendStream", "daemon_pipes"]


def _nonblocking(fd: int) -> int:
    os.set_blocking(fd, False)
    return fd


def daemon_pipes() -> tuple[tuple[int, int], tuple[int, int]]:
    """``((child_stdin, our_write_end), (our_read_end, child_stdout))``: the child's ends
    are to be passed to the process and closed here after the spawn. Our ends are
    non-blocking (only our file descriptions: the daemon's ends stay blocking) and not
    inherited by other children."""
    child_in, our_out = os.pipe()
    our_in, child_out = os.pipe()
    return (child_in, _nonblocking(our_out)), (_nonblocking(our_in), child_out)


class FdReceiveStream(ByteReceiveStream):
    """The read end of a non-blocking pipe."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._closed = False

    def read_nowait(self, max_bytes: int) -> bytes | None:
        """What is there now (b"" at end of input), or None when nothing is.
        Raises OSError as os.read does."""
        try:
            return os.read(self.fd, max_bytes)
        except BlockingIOError:
            return None

    async def receive(self, max_bytes: int = 65536) -> bytes:
        while True:
            if self._closed:
                raise anyio.ClosedResourceError
            data = self.read_nowait(max_bytes)
            if data is None:
                await anyio.wait_readable(self.fd)
            elif data:
                return data
            else:
                raise anyio.EndOfStream

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(OSError):
                os.close(self.fd)


class FdSendStream(ByteSendStream):
    """The write end of a non-blocking pipe."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._closed = False

    def write_nowait(self, data: bytes | memoryview) -> int:
        """Write what fits now; returns the number of bytes written (0 if none fit).
        Raises OSError (BrokenPipeError when the daemon is gone)."""
        if self._closed:
            raise anyio.ClosedResourceError
        try:
            return os.write(self.fd, data)
        except BlockingIOError:
            return 0

    async def send(self, item: bytes) -> None:
        view = memoryview(item)
        while view:
            written = self.write_nowait(view)
            view = view[written:]
            if view:
                await anyio.wait_writable(self.fd)

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(OSError):
                os.close(self.fd)
