"""Kernel requests end to end: kernelspecs, start, connect, kernels, interrupt, restart,
shutdown, and a kernel killed under a waiting request."""

from __future__ import annotations

import os
import signal
import time

import anyio
import pytest

from kernelbridge.client import DaemonClient, RpcError
from kernelbridge.jupyter import start_kernel

from .conftest import gone, pid_alive

pytestmark = pytest.mark.anyio


async def test_kernelspecs_lists_python3(daemon: DaemonClient) -> None:
    specs = await daemon.request("kernelbridge/kernelspecs")
    python = next(s for s in specs if s["name"] == "python3")
    assert python["language"] == "python"
    assert python["interruptMode"] in ("signal", "message")
    assert python["displayName"]


async def test_start_reports_progress_and_kernel(daemon: DaemonClient) -> None:
    async with daemon.subscribe("$/progress") as progress, \
            daemon.subscribe("kernelbridge/status") as status:
        kernel = await daemon.request("kernelbridge/start",
                                      {"kernelspec": "python3", "workDoneToken": "tok"},
                                      timeout=60)
        kinds = [progress.receive_nowait()["value"]["kind"] for _ in range(progress.pending())]
        states = [status.receive_nowait()["state"] for _ in range(status.pending())]
    assert kinds == ["begin", "end"]
    assert states == ["starting", "idle"]
    assert kernel["language"] == "python" and kernel["owned"] is True
    assert kernel["language_info"]["name"] == "python"
    assert os.stat(kernel["connectionFile"]).st_mode & 0o777 == 0o600
    listed = await daemon.request("kernelbridge/kernels")
    assert [k["kernelId"] for k in listed] == [kernel["kernelId"]]
    assert listed[0]["state"] == "idle"


async def test_unknown_kernelspec_and_kernel(daemon: DaemonClient) -> None:
    with pytest.raises(RpcError) as info:
        await daemon.request("kernelbridge/start", {"kernelspec": "no-such-kernel"})
    assert info.value.code == 1006
    with pytest.raises(RpcError) as info:
        await daemon.request("kernelbridge/execute", {"kernelId": "nope", "code": "1"})
    assert info.value.code == 1001
    with pytest.raises(RpcError) as info:
        await daemon.request("kernelbridge/start", {"cwd": "/no/such/dir"})
    assert info.value.code == -32602


async def test_interrupt_busy_loop(daemon: DaemonClient, kernel: dict) -> None:
    kid = kernel["kernelId"]
    async with daemon.subscribe("kernelbridge/output") as outputs, \
            anyio.create_task_group() as tg:
        result: dict = {}

        async def loop() -> None:
            result.update(await daemon.request(
                "kernelbridge/execute",
                # stopOnError false: see tests/jupyter/test_kernel.py, the same test.
                {"kernelId": kid, "code": "print('go', flush=True)\nwhile True: pass",
                 "stopOnError": False},
                timeout=30))

        tg.start_soon(loop)
        with anyio.fail_after(20):
            await outputs.receive()  # the loop is running
        await daemon.request("kernelbridge/interrupt", {"kernelId": kid}, timeout=10)
    assert result["status"] == "error"
    assert result["error"]["ename"] == "KeyboardInterrupt"
    after = await daemon.request("kernelbridge/execute", {"kernelId": kid, "code": "1"})
    assert after["status"] == "ok"


async def test_restart_loses_state(daemon: DaemonClient, kernel: dict) -> None:
    kid = kernel["kernelId"]
    await daemon.request("kernelbridge/execute", {"kernelId": kid, "code": "x = 1"})
    async with daemon.subscribe("kernelbridge/status") as status:
        restarted = await daemon.request("kernelbridge/restart", {"kernelId": kid}, timeout=60)
        states = [status.receive_nowait()["state"] for _ in range(status.pending())]
    assert states == ["restarting", "idle"]
    assert restarted["kernelId"] == kid and restarted["pid"] != kernel["pid"]
    result = await daemon.request("kernelbridge/execute", {"kernelId": kid, "code": "x"})
    assert result["status"] == "error" and result["error"]["ename"] == "NameError"


async def test_kill_9_fails_waiting_request_within_a_second(daemon: DaemonClient,
                                                            kernel: dict) -> None:
    kid = kernel["kernelId"]
    async with daemon.subscribe("kernelbridge/status") as status, \
            daemon.subscribe("kernelbridge/output") as outputs, \
            anyio.create_task_group() as tg:
        error: list[RpcError] = []

        async def wait_forever() -> None:
            try:
                await daemon.request("kernelbridge/execute", {
                    "kernelId": kid, "code": "print('ready', flush=True)\nimport time\n"
                    "time.sleep(600)"}, timeout=30)
            except RpcError as exc:
                error.append(exc)

        tg.start_soon(wait_forever)
        with anyio.fail_after(20):
            await outputs.receive()
        killed = time.monotonic()
        os.kill(kernel["pid"], signal.SIGKILL)
        with anyio.fail_after(5):
            while True:
                note = await status.receive()
                if note["state"] == "dead":
                    break
    elapsed = time.monotonic() - killed
    assert note["exitCode"] == -signal.SIGKILL
    assert "exited with code" in note["reason"]
    assert error and error[0].code == 1002
    assert elapsed < 1.5, f"death reported after {elapsed:.2f} s"
    with pytest.raises(RpcError) as info:
        await daemon.request("kernelbridge/execute", {"kernelId": kid, "code": "1"})
    assert info.value.code == 1002
    # A dead kernel can be restarted.
    await daemon.request("kernelbridge/restart", {"kernelId": kid}, timeout=60)
    ok = await daemon.request("kernelbridge/execute", {"kernelId": kid, "code": "1"})
    assert ok["status"] == "ok"


async def test_shutdown_stops_owned_kernel(daemon: DaemonClient, kernel: dict) -> None:
    async with daemon.subscribe("kernelbridge/status") as status:
        await daemon.request("kernelbridge/shutdown", {"kernelId": kernel["kernelId"]},
                             timeout=30)
        (note,) = status.drain()
    assert (note["state"], note["reason"]) == ("dead", "shut down")
    # The response comes once the process is gone and its files removed.
    assert gone(kernel["connectionFile"])
    assert not pid_alive(kernel["pid"])
    assert await daemon.request("kernelbridge/kernels") == []


async def test_connected_kernel_is_disconnected_not_killed(daemon: DaemonClient) -> None:
    async with start_kernel("python3") as outside:
        kernel = await daemon.request(
            "kernelbridge/connect", {"connectionFile": str(outside.connection_file)}, timeout=60)
        assert kernel["owned"] is False
        result = await daemon.request("kernelbridge/execute",
                                      {"kernelId": kernel["kernelId"], "code": "y = 2"})
        assert result["status"] == "ok"
        with pytest.raises(RpcError) as info:
            await daemon.request("kernelbridge/restart", {"kernelId": kernel["kernelId"]})
        assert info.value.code == 1007
        await daemon.request("kernelbridge/shutdown", {"kernelId": kernel["kernelId"]})
        assert pid_alive(outside.pid)
        assert (await outside.client.run("print(y)", timeout=10)).stream_text() == "2\n"


async def test_connect_to_missing_file_is_invalid_params(daemon: DaemonClient) -> None:
    with pytest.raises(RpcError) as info:
        await daemon.request("kernelbridge/connect", {"connectionFile": "/no/such.json"})
    assert info.value.code == -32602


async def test_bind_chooses_the_kernel_of_a_document(daemon: DaemonClient) -> None:
    first = await daemon.request("kernelbridge/start", {"kernelspec": "python3"}, timeout=60)
    second = await daemon.request("kernelbridge/start", {"kernelspec": "python3"}, timeout=60)
    uri = "file:///tmp/kb-test/bound.py"
    daemon.notify("textDocument/didOpen", {"textDocument": {
        "uri": uri, "languageId": "python", "version": 1, "text": "x = 1\n"}})
    # Unbound, a document goes to the most recent kernel of its language.
    ran = await daemon.request("kernelbridge/execute", {"uri": uri, "code": "1"})
    assert ran["kernelId"] == second["kernelId"]
    bound = await daemon.request("kernelbridge/bind",
                                 {"uri": uri, "kernelId": first["kernelId"]})
    assert bound["kernelId"] == first["kernelId"] and uri in bound["documents"]
    cell = await daemon.request("kernelbridge/executeCell",
                                {"uri": uri, "position": {"line": 0, "character": 0}})
    assert cell["kernelId"] == first["kernelId"]
    with pytest.raises(RpcError) as info:
        await daemon.request("kernelbridge/bind", {"uri": uri, "kernelId": "nope"})
    assert info.value.code == 1001


async def test_interrupt_restart_shutdown_by_document(daemon: DaemonClient) -> None:
    """An editor can name the kernel by the document it runs code of: the daemon resolves
    it as for execute, without starting one."""
    first = await daemon.request("kernelbridge/start", {"kernelspec": "python3"}, timeout=60)
    await daemon.request("kernelbridge/start", {"kernelspec": "python3"}, timeout=60)
    uri = "file:///tmp/kb-test/by-uri.py"
    daemon.notify("textDocument/didOpen", {"textDocument": {
        "uri": uri, "languageId": "python", "version": 1, "text": "x = 1\n"}})
    await daemon.request("kernelbridge/bind", {"uri": uri, "kernelId": first["kernelId"]})
    await daemon.request("kernelbridge/interrupt", {"uri": uri}, timeout=10)
    restarted = await daemon.request("kernelbridge/restart", {"uri": uri}, timeout=60)
    assert restarted["kernelId"] == first["kernelId"] and restarted["pid"] != first["pid"]
    await daemon.request("kernelbridge/shutdown", {"uri": uri}, timeout=30)
    kernels = await daemon.request("kernelbridge/kernels")
    assert first["kernelId"] not in [k["kernelId"] for k in kernels] and len(kernels) == 1

    with pytest.raises(RpcError) as info:
        await daemon.request("kernelbridge/interrupt", {})
    assert info.value.code == -32602 and "params.kernelId or params.uri" in info.value.message
    other = "file:///tmp/kb-test/unbound.jl"
    daemon.notify("textDocument/didOpen", {"textDocument": {
        "uri": other, "languageId": "julia", "version": 1, "text": "1\n"}})
    with pytest.raises(RpcError) as info:
        await daemon.request("kernelbridge/restart", {"uri": other})
    assert info.value.code == 1008  # no kernel for the document, and none is started
