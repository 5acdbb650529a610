"""The daemon never leaves an orphan kernel: exit, end of input, SIGTERM, SIGINT."""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable

import anyio
import pytest
from anyio.abc import Process

from kernelbridge.client import DaemonClient

from .conftest import DAEMON, daemon_env, gone, pid_alive
from .test_jsonrpc import Raw

pytestmark = pytest.mark.anyio


async def start_kernel(client: Raw) -> dict:
    await client.send({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                       "params": {"capabilities": {}}})
    await client.response()
    await client.send({"jsonrpc": "2.0", "id": 2, "method": "kernelbridge/start",
                       "params": {"kernelspec": "python3"}})
    with anyio.fail_after(60):
        answer = await client.response()
    return answer["result"]


async def by_exit(client: Raw, process: Process) -> None:
    await client.send({"jsonrpc": "2.0", "id": 3, "method": "shutdown"})
    await client.response()
    await client.send({"jsonrpc": "2.0", "method": "exit"})


async def by_eof(client: Raw, process: Process) -> None:
    assert process.stdin is not None
    await process.stdin.aclose()


async def by_sigterm(client: Raw, process: Process) -> None:
    process.send_signal(signal.SIGTERM)


async def by_sigint(client: Raw, process: Process) -> None:
    process.send_signal(signal.SIGINT)


@pytest.mark.parametrize(("stop", "code"), [
    (by_exit, 0), (by_eof, 0), (by_sigterm, 128 + signal.SIGTERM),
    (by_sigint, 128 + signal.SIGINT),
], ids=["exit", "eof", "sigterm", "sigint"])
async def test_no_orphan_kernel(stop: Callable[[Raw, Process], Awaitable[None]],
                                code: int) -> None:
    async with await anyio.open_process(DAEMON, env=daemon_env()) as process:
        client = Raw(process)
        kernel = await start_kernel(client)
        assert pid_alive(kernel["pid"])
        await stop(client, process)
        with anyio.fail_after(20):
            assert await process.wait() == code
    # The daemon waited for its kernel: it is gone, and so is its connection file.
    assert not pid_alive(kernel["pid"])
    assert gone(kernel["connectionFile"])


async def test_exit_without_shutdown_exits_1() -> None:
    async with DaemonClient.spawn(DAEMON, env=daemon_env()) as daemon:
        daemon.notify("exit")
    assert daemon.returncode == 1


async def test_kernels_do_not_write_to_the_json_rpc_stream(daemon: DaemonClient,
                                                           kernel: dict) -> None:
    # A kernel writing to its own fd 1/2 must not reach the daemon's stdout.
    code = "import os\nos.write(1, b'stray stdout\\n')\nos.write(2, b'stray stderr\\n')"
    result = await daemon.request("kernelbridge/execute",
                                  {"kernelId": kernel["kernelId"], "code": code})
    assert result["status"] == "ok"
    assert await daemon.request("kernelbridge/kernels")  # the stream is still intact
