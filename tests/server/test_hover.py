"""textDocument/hover: the kernel's inspect_request, as Markdown without ANSI escapes."""

from __future__ import annotations

import pytest

from kernelbridge.client import DaemonClient

from .test_completion import URI, open_doc

pytestmark = pytest.mark.anyio


async def hover(daemon: DaemonClient, line: int, character: int) -> dict | None:
    return await daemon.request("textDocument/hover", {
        "textDocument": {"uri": URI}, "position": {"line": line, "character": character}},
        timeout=30)


async def test_hover_shows_docstring_as_markdown(daemon: DaemonClient, kernel: dict) -> None:
    await daemon.request("kernelbridge/execute", {
        "kernelId": kernel["kernelId"],
        "code": "def greet(name):\n    'Say hello to NAME.'\n    return name"})
    open_doc(daemon, "greet('x')")
    result = await hover(daemon, 0, 2)
    assert result is not None
    assert result["contents"]["kind"] == "markdown"
    value = result["contents"]["value"]
    assert "Say hello to NAME." in value
    assert "\x1b[" not in value


async def test_hover_on_nothing_is_null(daemon: DaemonClient, kernel: dict) -> None:
    open_doc(daemon, "undefined_name_xyz")
    assert await hover(daemon, 0, 3) is None


async def test_hover_and_completion_do_not_wait_for_a_busy_execution(
        daemon: DaemonClient, kernel: dict) -> None:
    # The shell channel is busy with the sleep, so the kernel answers inspect only after
    # it; the point is that the daemon keeps answering other requests meanwhile.
    import anyio

    kid = kernel["kernelId"]
    open_doc(daemon, "greet")
    async with anyio.create_task_group() as tg:
        tg.start_soon(daemon.request, "kernelbridge/execute",
                      {"kernelId": kid, "code": "import time; time.sleep(1)"})
        tg.start_soon(hover, daemon, 0, 2)
        with anyio.fail_after(0.9):
            assert [k["kernelId"] for k in await daemon.request("kernelbridge/kernels")] == [kid]
