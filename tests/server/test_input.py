"""kernelbridge/input: the kernel's input_request answered by the editor."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from kernelbridge.client import DaemonClient

pytestmark = pytest.mark.anyio


async def test_input_round_trip_and_password_flag(daemon: DaemonClient, kernel: dict) -> None:
    prompts: list[dict[str, Any]] = []

    async def answer(params: dict[str, Any]) -> dict[str, Any]:
        prompts.append(params)
        return {"value": "secret" if params["password"] else "ada"}

    daemon.on_request("kernelbridge/input", answer)
    code = "import getpass\nname = input('who? ')\npw = getpass.getpass('pw: ')\nprint(name, pw)"
    async with daemon.subscribe("kernelbridge/output") as outputs:
        result = await daemon.request("kernelbridge/execute",
                                      {"kernelId": kernel["kernelId"], "code": code,
                                       "executionId": "ask"}, timeout=30)
        texts = [outputs.receive_nowait() for _ in range(outputs.pending())]
    assert result["status"] == "ok"
    assert [(p["prompt"], p["password"], p["executionId"]) for p in prompts] == [
        ("who? ", False, "ask"), ("pw: ", True, "ask")]
    assert "".join(o["content"].get("text", "") for o in texts).endswith("ada secret\n")


async def test_interrupt_while_waiting_for_input(daemon: DaemonClient, kernel: dict) -> None:
    kid = kernel["kernelId"]
    asked = anyio.Event()
    cancelled = anyio.Event()

    async def never_answer(params: dict[str, Any]) -> dict[str, Any]:
        asked.set()
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.set()
        raise AssertionError("unreachable")

    daemon.on_request("kernelbridge/input", never_answer)
    result: dict[str, Any] = {}
    async with anyio.create_task_group() as tg:
        async def execute() -> None:
            result.update(await daemon.request(
                "kernelbridge/execute", {"kernelId": kid, "code": "input('? ')"}, timeout=30))

        tg.start_soon(execute)
        with anyio.fail_after(20):
            await asked.wait()
        await daemon.request("kernelbridge/interrupt", {"kernelId": kid}, timeout=10)
    assert result["status"] == "error"
    assert result["error"]["ename"] == "KeyboardInterrupt"
    with anyio.fail_after(5):
        await cancelled.wait()  # the daemon sent $/cancelRequest for the prompt
