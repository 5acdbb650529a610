"""What every layer asks of the event loop, in one place (no layer may import another's
internals for it: the server must not import zmq through kernelbridge.jupyter)."""

from __future__ import annotations

import asyncio

import anyio


def asyncio_loop() -> asyncio.AbstractEventLoop | None:
    """The running asyncio loop, or None under another anyio backend (trio): the callers'
    reader-callback fast paths exist on asyncio only."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _expire(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


class Signal:
    """A one-shot event with a deadline on each wait: ``set`` wakes every ``wait`` (and
    later ones return at once); ``wait(timeout)`` raises TimeoutError after ``timeout``
    seconds (None: no deadline).

    On asyncio each wait is a bare future with a ``call_later`` deadline: anyio's Event
    and ``fail_after`` cost tens of microseconds per wait, a good part of a short
    request's time in the daemon and the client (bench/: round trips). Under other
    backends it is anyio's Event and ``fail_after``. A cancelled wait cancels only its
    own future, never the signal."""

    __slots__ = ("_event", "_futures", "_set")

    def __init__(self) -> None:
        self._set = False
        self._futures: list[asyncio.Future[None]] = []
        self._event: anyio.Event | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        if self._set:
            return
        self._set = True
        futures, self._futures = self._futures, []
        for future in futures:
            if not future.done():
                future.set_result(None)
        if self._event is not None:
            self._event.set()

    async def wait(self, timeout: float | None = None) -> None:
        if self._set:
            return
        loop = asyncio_loop()
        if loop is None:
            if self._event is None:
                self._event = anyio.Event()
            with anyio.fail_after(timeout):
                await self._event.wait()
            return
        future = loop.create_future()
        self._futures.append(future)
        handle = None if timeout is None else loop.call_later(timeout, _expire, future)
        try:
            await future
        finally:
            if handle is not None:
                handle.cancel()
            if not self._set:
                self._futures.remove(future)
