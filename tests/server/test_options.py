"""initializationOptions: fully defaulted, bad values reported and replaced by defaults."""

from __future__ import annotations

import anyio
import pytest

from kernelbridge.server import KernelsOptions, ServerOptions, read_options

from .conftest import DAEMON, daemon_env
from .test_jsonrpc import Raw

pytestmark = pytest.mark.anyio


def test_defaults() -> None:
    options, problems = read_options(None)
    assert options == ServerOptions() and problems == []
    assert options.kernels.auto_start is True


def test_valid_options_are_read() -> None:
    options, problems = read_options({
        "kernels": {"autoStart": False, "defaultKernelspecs": {"python": "xpython"},
                    "transport": "ipc", "shutdownWait": 1},
        "requestTimeout": 2.5,
    })
    assert problems == []
    assert options.kernels == KernelsOptions(auto_start=False,
                                             default_kernelspecs={"python": "xpython"},
                                             transport="ipc", shutdown_wait=1.0)
    assert options.request_timeout == 2.5


@pytest.mark.parametrize(("data", "needle"), [
    ({"kernels": {"autoStart": "yes"}}, "kernels.autoStart must be a boolean"),
    ({"kernels": {"transport": "udp"}}, "kernels.transport must be one of"),
    ({"kernels": {"defaultKernelspecs": {"python": 3}}}, "defaultKernelspecs.python"),
    ({"requestTimeout": -1}, "requestTimeout must be a non-negative number"),
    ({"kernels": []}, "kernels must be an object"),
    ({"colour": "blue"}, "unknown option 'colour'"),
    ([1, 2], "initializationOptions must be an object"),
])
def test_bad_values_are_reported_and_defaulted(data: object, needle: str) -> None:
    options, problems = read_options(data)
    assert any(needle in p for p in problems), problems
    assert options == ServerOptions()


async def test_bad_options_show_a_message_and_the_daemon_serves() -> None:
    async with await anyio.open_process(DAEMON, env=daemon_env()) as process:
        raw = Raw(process)
        await raw.send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "capabilities": {}, "initializationOptions": {"kernels": {"autoStart": 1}}}})
        warning = await raw.receive()
        assert warning["method"] == "window/showMessage"
        assert warning["params"]["type"] == 2
        assert "kernels.autoStart must be a boolean" in warning["params"]["message"]
        assert "result" in await raw.response()
        await raw.send({"jsonrpc": "2.0", "id": 2, "method": "kernelbridge/kernels"})
        assert (await raw.response())["result"] == []
        process.kill()
