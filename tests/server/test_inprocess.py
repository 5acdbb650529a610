"""The server in-process over a socket pair: handlers, framing and the writer without a
subprocess, so failures show the server's own traceback. One real kernel."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import anyio
import pytest
from anyio.abc import SocketStream

from kernelbridge.client import DaemonClient, RpcError
from kernelbridge.server import KernelBridgeServer

pytestmark = pytest.mark.anyio


@pytest.fixture
async def served() -> AsyncIterator[tuple[KernelBridgeServer, DaemonClient]]:
    ours, theirs = socket.socketpair()
    server = KernelBridgeServer()
    exit_code: list[int] = []
    async with anyio.create_task_group() as tg:
        async def serve() -> None:
            exit_code.append(await server.serve(theirs.fileno(), theirs.fileno(),
                                                handle_signals=False))

        tg.start_soon(serve)
        stream = await SocketStream.from_socket(ours)
        async with DaemonClient.connect(stream, stream) as client:
            await client.initialize(timeout=30)
            yield server, client
            await client.shutdown(timeout=30)
        with anyio.fail_after(15):
            while not exit_code:  # the client's exit closed the socket: EOF
                await server.protocol.stopped.wait()
                await anyio.lowlevel.checkpoint()
    theirs.close()
    assert exit_code == [0]


async def test_execute_in_process(served: tuple[KernelBridgeServer, DaemonClient]) -> None:
    server, client = served
    kernel = await client.request("kernelbridge/start", {"kernelspec": "python3"}, timeout=60)
    async with client.subscribe("kernelbridge/output") as outputs:
        result = await client.request("kernelbridge/execute",
                                      {"kernelId": kernel["kernelId"], "code": "print(1 + 1)"})
        note = outputs.receive_nowait()
    assert result["status"] == "ok"
    assert note["content"] == {"name": "stdout", "text": "2\n"} and note["seq"] == 1
    assert server.protocol.outbox.seq == {kernel["kernelId"]: 1}
    assert list(server.bridge.sessions) == [kernel["kernelId"]]


async def test_handler_errors_map_to_codes(served: tuple[KernelBridgeServer, DaemonClient]
                                           ) -> None:
    _, client = served
    with pytest.raises(RpcError) as info:
        await client.request("kernelbridge/interrupt", {"kernelId": "missing"})
    assert info.value.code == 1001
    assert info.value.data == {"type": "UnknownKernel"}
    with pytest.raises(RpcError) as info:
        await client.request("kernelbridge/execute", {"code": "1"})
    assert info.value.code == -32602 and "kernelId or params.uri" in info.value.message


async def test_cancel_request_stops_the_wait(served: tuple[KernelBridgeServer, DaemonClient]
                                             ) -> None:
    server, client = served
    kernel = await client.request("kernelbridge/start", {"kernelspec": "python3"}, timeout=60)
    kid = kernel["kernelId"]
    with anyio.move_on_after(0.5):  # cancelling the await sends $/cancelRequest
        await client.request("kernelbridge/execute",
                             {"kernelId": kid, "code": "import time; time.sleep(2)"})
    # The daemon keeps serving; the kernel finishes the sleep, then runs the next one.
    result = await client.request("kernelbridge/execute", {"kernelId": kid, "code": "7"},
                                  timeout=30)
    assert result["status"] == "ok"
    assert not server.protocol._request_futures
