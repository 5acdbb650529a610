"""A request of the client waiting for its response."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import anyio

if TYPE_CHECKING:
    from ._errors import ClientError


def _expire(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


class Pending:
    """A request waiting for its response (set by the reader).

    On asyncio it waits on a bare future with a ``call_later`` deadline: anyio's Event
    and ``fail_after`` cost more than the rest of a short request's client side
    (bench/: daemon round trips). Elsewhere (trio) it uses anyio's."""

    __slots__ = ("_waiter", "error", "result")

    def __init__(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self._waiter: asyncio.Future[None] | anyio.Event = (
            loop.create_future() if loop is not None else anyio.Event())
        self.result: Any = None
        self.error: ClientError | None = None

    def set(self) -> None:
        waiter = self._waiter
        if isinstance(waiter, anyio.Event):
            waiter.set()
        elif not waiter.done():
            waiter.set_result(None)

    @property
    def answered(self) -> bool:
        waiter = self._waiter
        if isinstance(waiter, anyio.Event):
            return waiter.is_set()
        return waiter.done() and not waiter.cancelled() and waiter.exception() is None

    async def wait(self, timeout: float | None) -> None:
        """Until answered; TimeoutError after ``timeout`` seconds (None: no deadline)."""
        waiter = self._waiter
        if isinstance(waiter, anyio.Event):
            with anyio.fail_after(timeout):
                await waiter.wait()
            return
        if timeout is None:
            await waiter
            return
        handle = waiter.get_loop().call_later(timeout, _expire, waiter)
        try:
            await waiter
        finally:
            handle.cancel()
