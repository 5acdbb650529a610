"""The daemon as a child process: start, stderr capture, exit status, stop.

Kept apart from the JSON-RPC connection so the connection can run over any byte streams
(an in-process peer in tests, a socket) and only spawned clients pay for process handling.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Mapping, Sequence
from typing import IO, Any

import anyio
from anyio.abc import Process

from ._errors import ClientError
from ._fdstream import FdReceiveStream, FdSendStream, daemon_pipes

__all__ = ["DaemonProcess", "StderrTail"]

#: How long a daemon that ignored ``exit`` (and then SIGTERM) gets before the next step.
TERMINATE_GRACE = 2.0
#: How long closing waits for the rest of stderr after the process ended.
STDERR_GRACE = 1.0


class StderrTail:
    """The last ``limit`` bytes a process wrote to stderr.

    The pipe must be drained continuously: a daemon that logs more than the pipe buffer
    (64 KiB on Linux) while nobody reads would block on its next write and stop answering.
    Keeping only the tail bounds memory however chatty the daemon is.
    """

    __slots__ = ("_buf", "limit")

    def __init__(self, limit: int = 64 * 1024) -> None:
        self.limit = limit
        self._buf = bytearray()

    def add(self, chunk: bytes) -> None:
        self._buf += chunk
        if len(self._buf) > 2 * self.limit:  # trim rarely, not on every chunk
            del self._buf[: -self.limit]

    def text(self, max_chars: int | None = None) -> str:
        """The tail decoded (undecodable bytes replaced), optionally cut to its end."""
        text = bytes(self._buf[-self.limit :]).decode("utf-8", "replace")
        if max_chars is not None and len(text) > max_chars:
            text = "..." + text[-max_chars:]
        return text


class DaemonProcess:
    """A started daemon: its process, the JSON-RPC pipes (:attr:`receive` from its stdout,
    :attr:`send` to its stdin), the stderr tail, and events for "exited" and "stderr fully
    read", which the connection waits on (briefly) to put the exit code and the last
    stderr lines into :class:`DaemonExited`."""

    def __init__(self, process: Process, receive: FdReceiveStream, send: FdSendStream, *,
                 capture_stderr: bool) -> None:
        self.process = process
        self.receive = receive
        self.send = send
        self.stderr = StderrTail()
        self.exited = anyio.Event()
        self.stderr_done = anyio.Event()
        self._stderr_waited = False
        if not capture_stderr:
            self.stderr_done.set()

    @classmethod
    async def start(
        cls,
        command: Sequence[str],
        *,
        env: Mapping[str, str] | None,
        cwd: str | None,
        stderr: int | IO[Any] | None,
    ) -> DaemonProcess:
        """Start ``command`` with pipes for stdin/stdout (the JSON-RPC channel), and stderr
        captured unless the caller routes it elsewhere."""
        capture = stderr is None
        (child_in, our_out), (our_in, child_out) = daemon_pipes()
        try:
            process = await anyio.open_process(
                list(command),
                stdin=child_in,
                stdout=child_out,
                stderr=subprocess.PIPE if capture else stderr,
                env=env,
                cwd=cwd,
            )
        except OSError as exc:
            for fd in (our_in, our_out):
                os.close(fd)
            raise ClientError(f"cannot start the daemon {list(command)!r}: {exc}") from exc
        finally:
            for fd in (child_in, child_out):
                os.close(fd)
        return cls(process, FdReceiveStream(our_in), FdSendStream(our_out),
                   capture_stderr=capture)

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    async def drain_stderr(self) -> None:
        """Background task: read stderr into the tail until EOF."""
        try:
            if self.process.stderr is not None and not self.stderr_done.is_set():
                with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError,
                                         anyio.ClosedResourceError, OSError):
                    async for chunk in self.process.stderr:
                        self.stderr.add(chunk)
        finally:
            self.stderr_done.set()

    async def watch(self) -> None:
        """Background task: wait for the process to end and signal it."""
        try:
            await self.process.wait()
        finally:
            self.exited.set()

    async def stop(self, timeout: float) -> None:
        """Make sure the process is gone: wait up to ``timeout`` for it to exit on its own
        (after ``exit`` it should), then SIGTERM (lets a daemon shut its kernels down),
        then SIGKILL. Must run shielded: it is the cleanup path."""
        process = self.process
        if process.returncode is None:
            with anyio.move_on_after(timeout):
                await process.wait()
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            with anyio.move_on_after(min(timeout, TERMINATE_GRACE)):
                await process.wait()
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
        self.exited.set()

    async def wait_stderr_end(self) -> None:
        """Wait until stderr was read to its end, so the tail is complete (bounded: a
        grandchild that inherited stderr may keep it open)."""
        if not self._stderr_waited:
            self._stderr_waited = True
            with anyio.move_on_after(STDERR_GRACE):
                await self.stderr_done.wait()

    async def aclose(self) -> None:
        """Close the pipes (their transports too, or asyncio complains when it collects
        them after the loop closed), after :meth:`wait_stderr_end`. Call after
        :meth:`stop`: it waits for the process."""
        await self.wait_stderr_end()
        await self.send.aclose()
        await self.receive.aclose()
        with contextlib.suppress(OSError, anyio.BrokenResourceError):
            await self.process.aclose()
