"""A request of the client waiting for its response."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kernelbridge._aio import Signal

if TYPE_CHECKING:
    from ._errors import ClientError


class Pending:
    """A request waiting for its response: the reader stores ``result`` or ``error``,
    then calls ``set``. The wait is a :class:`Signal` (a bare future on asyncio)."""

    __slots__ = ("_signal", "error", "result")

    def __init__(self) -> None:
        self._signal = Signal()
        self.result: Any = None
        self.error: ClientError | None = None

    def set(self) -> None:
        self._signal.set()

    @property
    def answered(self) -> bool:
        """A response came (or the connection's error was stored): not a timeout."""
        return self._signal.is_set()

    async def wait(self, timeout: float | None) -> None:
        """Until answered; TimeoutError after ``timeout`` seconds (None: no deadline)."""
        await self._signal.wait(timeout)
