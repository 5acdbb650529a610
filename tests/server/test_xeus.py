"""The daemon is not ipykernel-specific: a session with xeus-python (a C++ kernel)."""

from __future__ import annotations

import pytest

from kernelbridge.client import DaemonClient
from kernelbridge.jupyter import find_kernelspecs

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.xeus,
    pytest.mark.skipif("xpython" not in {s.name for s in find_kernelspecs()},
                       reason="xeus-python not installed"),
]


async def test_xeus_python_session(daemon: DaemonClient) -> None:
    kernel = await daemon.request("kernelbridge/start", {"kernelspec": "xpython"}, timeout=60)
    assert kernel["implementation"] == "xeus-python"
    kid = kernel["kernelId"]
    async with daemon.subscribe("kernelbridge/output") as outputs:
        result = await daemon.request("kernelbridge/execute",
                                      {"kernelId": kid, "code": "print('xeus'); 6 * 7"})
        got = outputs.drain()
    assert result["status"] == "ok"
    # xeus-python sends print's text and its newline as two stream messages.
    assert "".join(o["content"]["text"] for o in got if o["type"] == "stream") == "xeus\n"
    assert got[-1]["type"] == "execute_result"
    assert got[-1]["content"]["data"]["text/plain"] == "42"
    failed = await daemon.request("kernelbridge/execute", {"kernelId": kid, "code": "1/0"})
    # xeus-python names the exception by its repr.
    assert failed["status"] == "error" and "ZeroDivisionError" in failed["error"]["ename"]
    reply = await daemon.request("kernelbridge/complete",
                                 {"kernelId": kid, "code": "import os; os.pa", "cursorPos": 16})
    assert any("path" in m for m in reply["matches"])
    await daemon.request("kernelbridge/shutdown", {"kernelId": kid}, timeout=30)
