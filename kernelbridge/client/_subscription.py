"""Subscriptions: the notifications of one method as an async iterator.

Separate from the connection because its contract is the subtle part for users: when it
is armed (on entering the block, synchronously), how it buffers (without bound) and how it
ends (cleanly on close, with the connection's error when the connection is lost).

The buffer is a deque plus a wake-up event rather than an anyio memory stream: a memory
stream's ``receive`` yields to the event loop on every item, which caps a consumer at a
few tens of thousands of notifications per second; here a consumer takes buffered items
without a loop round trip (with a checkpoint every :data:`CHECKPOINT_EVERY` items, so it
stays cancellable and fair).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Self

import anyio
import anyio.lowlevel

from ._errors import ClientError, RequestTimeout

__all__ = ["CHECKPOINT_EVERY", "Subscription"]

CHECKPOINT_EVERY = 64


class Subscription:
    """The notifications of one method, in arrival order, as an async iterator of their
    ``params``. Created by :meth:`DaemonClient.subscribe`.

    Registered as soon as the ``async with`` is entered (no await in between), so a
    request sent inside the block cannot produce a notification the subscription misses.
    The buffer is unbounded, so the reader never blocks on a slow consumer (which would
    also hold back responses): consume it, or leave the block. Iteration ends when the
    block or the client is closed normally, and raises :class:`DaemonExited` /
    :class:`ProtocolError` (after the buffered notifications) when the connection is lost.
    """

    def __init__(
        self,
        method: str,
        register: Callable[[Subscription], None],
        unregister: Callable[[Subscription], None],
    ) -> None:
        self.method = method
        self._register = register
        self._unregister = unregister
        self._buffer: deque[Any] = deque()
        self._wakeup: anyio.Event | None = None  # set by _push while a consumer waits
        self._ended = False
        self._error: ClientError | None = None
        self._taken = 0

    async def __aenter__(self) -> Self:
        self._register(self)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._unregister(self)
        self._end(None)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Any:
        buffer = self._buffer
        if buffer:
            self._taken += 1
            if self._taken % CHECKPOINT_EVERY == 0:
                await anyio.lowlevel.checkpoint()
                if not buffer:  # consumed meanwhile by another task
                    return await self.__anext__()
            return buffer.popleft()
        while not buffer:
            if self._ended:
                if self._error is not None:
                    raise self._error.clone()
                raise StopAsyncIteration
            self._wakeup = wakeup = anyio.Event()
            await wakeup.wait()
        return buffer.popleft()

    async def receive(self, *, timeout: float | None = None) -> Any:
        """The next notification's params. Raises :class:`RequestTimeout` after
        ``timeout`` seconds, ``StopAsyncIteration`` if the subscription ended normally,
        the connection's error if it was lost."""
        try:
            with anyio.fail_after(timeout):
                return await self.__anext__()
        except TimeoutError:
            raise RequestTimeout(
                f"no {self.method!r} notification within {timeout} s"
            ) from None

    def receive_nowait(self) -> Any:
        """The next buffered notification's params; ``anyio.WouldBlock`` if none."""
        if not self._buffer:
            raise anyio.WouldBlock
        return self._buffer.popleft()

    def drain(self) -> list[Any]:
        """Take every buffered notification's params at once (the fastest way to consume
        a burst; never waits)."""
        items = list(self._buffer)
        self._buffer.clear()
        return items

    def pending(self) -> int:
        """How many notifications are buffered."""
        return len(self._buffer)

    @property
    def ended(self) -> bool:
        """True once nothing more will be added (the buffer may still hold some)."""
        return self._ended

    def _push(self, params: Any) -> None:
        if self._ended:
            return
        self._buffer.append(params)
        wakeup = self._wakeup
        if wakeup is not None:
            self._wakeup = None
            wakeup.set()

    def _end(self, error: ClientError | None) -> None:
        if self._ended:
            return
        self._ended = True
        self._error = error
        if self._wakeup is not None:
            self._wakeup.set()
            self._wakeup = None
