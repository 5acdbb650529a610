"""kernelbridge/execute end to end: outputs as notifications before the response."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
import pytest

from kernelbridge.client import DaemonClient, RpcError

pytestmark = pytest.mark.anyio


async def run(daemon: DaemonClient, params: dict[str, Any]) -> tuple[dict, list[dict]]:
    async with daemon.subscribe("kernelbridge/output") as outputs:
        result = await daemon.request("kernelbridge/execute", params, timeout=30)
        got = [outputs.receive_nowait() for _ in range(outputs.pending())]
    return result, got


async def test_stream_result_display_and_order(daemon: DaemonClient, kernel: dict) -> None:
    code = (
        "from IPython.display import display, HTML\n"
        "print('one'); import sys; print('two', file=sys.stderr)\n"
        "display(HTML('<b>hi</b>'))\n"
        "6 * 7"
    )
    result, outputs = await run(daemon, {"kernelId": kernel["kernelId"], "code": code,
                                         "executionId": "cell-1"})
    assert result["status"] == "ok"
    assert result["executionId"] == "cell-1"
    assert result["kernelId"] == kernel["kernelId"]
    assert isinstance(result["executionCount"], int)
    assert {o["executionId"] for o in outputs} == {"cell-1"}
    types = [o["type"] for o in outputs]
    assert "display_data" in types and types[-1] == "execute_result"
    text = {n: "".join(o["content"]["text"] for o in outputs
                       if o["type"] == "stream" and o["content"]["name"] == n)
            for n in ("stdout", "stderr")}
    assert text == {"stdout": "one\n", "stderr": "two\n"}
    display = next(o for o in outputs if o["type"] == "display_data")
    assert display["content"]["data"]["text/html"] == "<b>hi</b>"
    assert outputs[-1]["content"]["data"]["text/plain"] == "42"
    seqs = [o["seq"] for o in outputs]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


async def test_error_answers_status_error(daemon: DaemonClient, kernel: dict) -> None:
    result, outputs = await run(daemon, {"kernelId": kernel["kernelId"], "code": "1/0"})
    assert result["status"] == "error"
    assert result["error"]["ename"] == "ZeroDivisionError"
    assert result["error"]["traceback"]
    assert [o["type"] for o in outputs] == ["error"]
    assert outputs[0]["content"]["ename"] == "ZeroDivisionError"


async def test_status_follows_execution(daemon: DaemonClient, kernel: dict) -> None:
    async with daemon.subscribe("kernelbridge/status") as statuses:
        result = await daemon.request("kernelbridge/execute",
                                      {"kernelId": kernel["kernelId"], "code": "pass"},
                                      timeout=30)
        states = [statuses.receive_nowait() for _ in range(statuses.pending())]
    assert [(s["state"], s.get("executionId")) for s in states] == [
        ("busy", result["executionId"]), ("idle", result["executionId"])]


async def test_silent_and_store_history(daemon: DaemonClient, kernel: dict) -> None:
    kid = kernel["kernelId"]
    result, outputs = await run(daemon, {"kernelId": kid, "code": "40 + 2", "silent": True})
    assert result["status"] == "ok"
    assert not [o for o in outputs if o["type"] == "execute_result"]
    before = await daemon.request("kernelbridge/execute", {"kernelId": kid, "code": "pass"})
    await daemon.request("kernelbridge/execute",
                         {"kernelId": kid, "code": "pass", "storeHistory": False})
    after = await daemon.request("kernelbridge/execute", {"kernelId": kid, "code": "pass"})
    assert after["executionCount"] == before["executionCount"] + 1


async def test_stop_on_error_aborts_queued(daemon: DaemonClient, kernel: dict) -> None:
    kid = kernel["kernelId"]
    results: dict[str, Any] = {}

    async def one(name: str, code: str, stop: bool = True) -> None:
        results[name] = await daemon.request(
            "kernelbridge/execute", {"kernelId": kid, "code": code, "stopOnError": stop},
            timeout=30)

    async with anyio.create_task_group() as tg:
        tg.start_soon(one, "fail", "import time; time.sleep(0.3); 1/0")
        await anyio.lowlevel.checkpoint()
        tg.start_soon(one, "queued", "print('never')")
    assert results["fail"]["status"] == "error"
    assert results["queued"]["status"] == "aborted"
    await one("after", "pass")
    assert results["after"]["status"] == "ok"


async def test_duplicate_execution_id_is_refused(daemon: DaemonClient, kernel: dict) -> None:
    kid = kernel["kernelId"]
    async with anyio.create_task_group() as tg:
        tg.start_soon(daemon.request, "kernelbridge/execute",
                      {"kernelId": kid, "code": "import time; time.sleep(0.5)",
                       "executionId": "same"})
        await anyio.lowlevel.checkpoint()  # let the first request go out first
        with pytest.raises(RpcError) as info:
            await daemon.request("kernelbridge/execute",
                                 {"kernelId": kid, "code": "pass", "executionId": "same"})
    assert info.value.code == -32602


async def test_output_of_other_clients_is_forwarded(daemon: DaemonClient, kernel: dict) -> None:
    from kernelbridge.jupyter import connect_kernel

    async with daemon.subscribe("kernelbridge/output") as outputs, \
            connect_kernel(kernel["connectionFile"]) as other:
        await other.client.run("print('from elsewhere')", timeout=20)
        with anyio.fail_after(10):
            note = await outputs.receive()
    assert "executionId" not in note
    assert note["content"]["text"] == "from elsewhere\n"
    assert note["kernelId"] == kernel["kernelId"]


async def test_cells_of_an_open_document(daemon: DaemonClient) -> None:
    uri = "file:///tmp/kb-test/cells.py"
    daemon.notify("textDocument/didOpen", {"textDocument": {
        "uri": uri, "languageId": "python", "version": 1,
        "text": "import os\n# %% Load\nx = 1\n\n# %% [markdown]\n# text\n"}})
    cells = await daemon.request("kernelbridge/cells", {"uri": uri})
    assert [(c["kind"], c["title"], c["code"]) for c in cells] == [
        ("code", "", "import os"), ("code", "Load", "x = 1"), ("markdown", "", "# text")]
    assert cells[1]["range"] == {"start": {"line": 1, "character": 0},
                                 "end": {"line": 4, "character": 0}}
    assert cells[1]["codeStartLine"] == 2
    with pytest.raises(RpcError) as info:
        await daemon.request("kernelbridge/cells", {"uri": "file:///not/open.py"})
    assert info.value.code == -32602


async def test_empty_language_id_is_told_from_the_extension(daemon: DaemonClient) -> None:
    uri = "file:///tmp/kb-test/script.jl"
    daemon.notify("textDocument/didOpen", {"textDocument": {
        "uri": uri, "languageId": "", "version": 1, "text": "# %%\nx = 1\n# %%\ny = 2\n"}})
    # Julia's comment token is "#", like python's: what counts is that the document is
    # known and parsed; a kernel request for it names the language it looked for.
    assert len(await daemon.request("kernelbridge/cells", {"uri": uri})) == 2
    with pytest.raises(RpcError) as info:
        await daemon.request("kernelbridge/execute", {"uri": uri, "code": "1"})
    assert info.value.code == 1008 and "'julia'" in info.value.message
