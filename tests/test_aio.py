"""kernelbridge._aio.Signal: the one-shot event behind every request's wait."""

from __future__ import annotations

import anyio
import pytest

from kernelbridge._aio import Signal

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(10)]


async def test_set_wakes_every_waiter_and_later_waits_return_at_once() -> None:
    signal = Signal()
    woken: list[int] = []

    async def waiter(n: int) -> None:
        await signal.wait(5)
        woken.append(n)

    async with anyio.create_task_group() as tg:
        for n in range(3):
            tg.start_soon(waiter, n)
        await anyio.wait_all_tasks_blocked()
        assert woken == []
        signal.set()
    assert sorted(woken) == [0, 1, 2]
    assert signal.is_set()
    await signal.wait(0)  # already set: no deadline can expire


async def test_a_wait_times_out_alone() -> None:
    signal = Signal()
    results: dict[str, str] = {}
    short_done = anyio.Event()

    async def waiter(name: str, timeout: float | None) -> None:
        try:
            await signal.wait(timeout)
            results[name] = "woken"
        except TimeoutError:
            results[name] = "timeout"
        if name == "short":
            short_done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter, "short", 0.05)
        tg.start_soon(waiter, "none", None)
        with anyio.fail_after(5):
            await short_done.wait()
        signal.set()
    assert results == {"short": "timeout", "none": "woken"}


async def test_a_cancelled_wait_leaves_the_signal_usable() -> None:
    signal = Signal()
    with anyio.move_on_after(0.05) as scope:
        await signal.wait()
    assert scope.cancelled_caught
    assert not signal.is_set()
    async with anyio.create_task_group() as tg:
        tg.start_soon(signal.wait, 5)
        await anyio.wait_all_tasks_blocked()
        signal.set()
